"""Command line of `python -m train`.

    python -m train                                  # the default job
    python -m train --list                           # the registered systems
    python -m train --config train/configs/simvq.py:smoke --workdir runs/x \
        --set optim.learning_rate=3e-4 --set mesh.data=4

Progress goes to stderr; the last line on stdout is one JSON object with the
final metrics. Errors in the input print one line and exit with status 2,
before anything is written. The same command again resumes the run, or for
a finished run prints the same summary and writes nothing (README.md, "When
things go wrong": locks, config changes, corrupt checkpoints).
"""

import argparse
import json
import sys

DEFAULT_CONFIG = "train/configs/simvq.py"


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--config", default=DEFAULT_CONFIG,
                 help="config file, optionally FILE:arg (default: %(default)s)")
  p.add_argument("--workdir", default=None,
                 help="where checkpoints, metrics and plots go "
                      "(default: runs/<system>)")
  p.add_argument("--set", dest="overrides", action="append", default=[],
                 metavar="KEY=VALUE", help="override a config field")
  p.add_argument("--list", action="store_true",
                 help="print the registered systems and exit")
  p.add_argument("--distributed", action="store_true",
                 help="call jax.distributed.initialize() (multi-host runs)")
  p.add_argument("--coordinator_address", default=None,
                 help="with --distributed: host:port of process 0")
  p.add_argument("--num_processes", type=int, default=None)
  p.add_argument("--process_id", type=int, default=None)
  return p


def systems_table() -> str:
  from zoo import registry

  rows = [("system", "family", "paper", "default config", "claim check")]
  for s in registry.systems():
    config = registry.config_file(s.configs[0]) if s.configs else "-"
    rows.append((s.name, s.family, s.paper, config,
                 "yes" if s.claim else "-"))
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                   for r in rows)


def main(argv: list[str]) -> int:
  args = _parser().parse_args(argv)
  if args.list:
    print(systems_table())
    return 0

  import jax

  from zoo import cache
  from zoo.errors import ZooError

  cache.enable_compilation_cache()
  if args.distributed:
    # CPU processes need a collectives backend; accelerators ignore this.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=args.coordinator_address,
        num_processes=args.num_processes, process_id=args.process_id)
  try:
    from train import config as config_lib
    from train import loop

    cfg = config_lib.load_config(args.config, args.overrides)
    workdir = args.workdir or f"runs/{cfg.system}"
    print(f"training {cfg.system} in {workdir} on {jax.device_count()} "
          f"{jax.default_backend()} device(s)", file=sys.stderr)
    summary = loop.run(cfg, workdir)
  except ZooError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if jax.process_index() == 0:
    print(json.dumps(summary))
  return 0
