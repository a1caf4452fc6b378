"""Command line of `python -m eval`.

    python -m eval --workdir runs/simvq [--json] [--step N]
        evaluate a trained checkpoint with its system's evaluators
    python -m eval claims --system simvq | --all [--json | --markdown]
        [--update docs/claims.json]
        re-measure papers' claims at toy scale; --update replaces those
        systems' records in the ledger and keeps the others
    python -m eval readme
        regenerate README.md's systems table (registry + docs/claims.json)
    python -m eval systems [--system NAME]
        check every system's record: each reference resolves, each config's
        :smoke variant loads
    python -m eval bench kernels [--smoke] [--json out.json]
        MaxSim and nearest-codeword kernels beside XLA and PyTorch
    python -m eval bench decoding [--smoke] [--json out.json]
        prefix-attention and vocabulary-reduction kernels, likewise
    python -m eval bench scan [--smoke] [--json out.json]
        the selective scan's implementations and mambapy's
    python -m eval decoding --system NAME [--workdir W]
        a decoding system's speed and faithfulness (see its --help)
    python -m eval parallelbench
        diffusion-LM samplers: accuracy against tokens per step
    python -m eval retrieval --dataset limit_small [--system ...]
        rankers compared on a retrieval dataset (see its --help)
    python -m eval context --system arc_encoder|icv --workdir W
        held-out NLL with the context as text, nothing, its last tokens
        or the system's vectors (see its --help)

With --json, stdout is exactly one JSON value. Claim checks exit 0 even when
a claim fails (the record says so) and non-zero only when a check could not
run.
"""

import argparse
import dataclasses
import json
import pathlib
import sys


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m eval", description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", help="a training workdir to evaluate")
  p.add_argument("--step", type=int, default=None,
                 help="checkpoint step (default: latest)")
  p.add_argument("--json", action="store_true", help="print JSON only")
  sub = p.add_subparsers(dest="command")
  c = sub.add_parser("claims", help="run claim checks")
  which = c.add_mutually_exclusive_group(required=True)
  which.add_argument("--system", action="append",
                     help="system name (repeatable)")
  which.add_argument("--all", action="store_true")
  fmt = c.add_mutually_exclusive_group()
  fmt.add_argument("--json", action="store_true", dest="claims_json")
  fmt.add_argument("--markdown", action="store_true")
  c.add_argument("--update", metavar="LEDGER", type=pathlib.Path,
                 help="replace these systems' records in a ledger file "
                      "(docs/claims.json), keeping the others")
  sub.add_parser("readme", help="regenerate README.md's systems table")
  # These take their own flags; `main` hands them the rest of the line.
  sub.add_parser("retrieval", help="compare rankers (see its --help)")
  sub.add_parser("bench", help="benchmarks: bench kernels|decoding|scan --help")
  sub.add_parser("decoding", help="decoding speed (see its --help)")
  sub.add_parser("parallelbench", help="diffusion samplers (see its --help)")
  sub.add_parser("systems", help="check the records (see its --help)")
  sub.add_parser("context", help="context as vectors (see its --help)")
  return p


def _evaluate_workdir(args) -> int:
  from etils import epath

  from train import loop
  from train.metrics import atomic_write_text
  from zoo import cache
  from zoo.errors import CheckpointCorrupt

  workdir = epath.Path(args.workdir)
  cache.check_writable(workdir)  # before the work: eval.json goes there
  try:
    run, state, step = loop.load(workdir, args.step)
  except CheckpointCorrupt as e:
    raise CheckpointCorrupt(f"{e}; --step N evaluates an older checkpoint "
                            "(the step folders under checkpoints/)") from None
  metrics = {"system": run.cfg.system, "step": step,
             **run.evaluate(state, workdir)}
  atomic_write_text(workdir / "eval.json", json.dumps(metrics, indent=2))
  if args.json:
    print(json.dumps(metrics))
  else:
    for key, value in metrics.items():
      print(f"{key:>24}  {value}")
  return 0


def _claims(args) -> int:
  from eval import claims

  known = claims.systems_with_claims()
  names = known if args.all else args.system
  unknown = [n for n in names if n not in known]
  if unknown:
    print(f"error: no claim check for {', '.join(map(repr, unknown))}; "
          f"systems with one: {', '.join(known)}", file=sys.stderr)
    return 2
  if args.update and not args.update.parent.is_dir():
    print(f"error: --update {args.update}: no directory "
          f"{args.update.parent}", file=sys.stderr)
    return 2
  records, failures = [], []
  for name in names:
    try:
      records.extend(claims.run(name))
    except Exception as e:  # report every check that could not run
      failures.append(f"{name}: {type(e).__name__}: {e}")
  if args.update:  # the systems that ran; a failed check keeps its records
    claims.save(args.update,
                claims.merge(claims.load(args.update), records))
  if args.claims_json:
    print(json.dumps([dataclasses.asdict(r) for r in records]))
  elif args.markdown:
    print(claims.markdown(records))
  else:
    for r in records:
      verdict = "pass" if r.passed else "FAIL"
      print(f"[{verdict}] {r.system}: {r.claim}: {r.metric} = {r.value:.4g} "
            f"(threshold {r.threshold:.4g}, baseline {r.baseline}) "
            f"{r.seconds:.0f}s")
  for failure in failures:
    print(f"error: claim check could not run: {failure}", file=sys.stderr)
  return 1 if failures else 0


def main(argv: list[str]) -> int:
  if argv[:1] == ["retrieval"]:
    from eval.retrieval import main as retrieval_main

    return retrieval_main.main(argv[1:])
  if argv[:1] == ["context"]:
    from eval import context

    return context.main(argv[1:])
  if argv[:1] == ["decoding"]:
    from eval.decoding import main as decoding_main

    return decoding_main.main(argv[1:])
  if argv[:1] == ["systems"]:
    from eval import systems

    return systems.main(argv[1:])
  if argv[:1] == ["parallelbench"]:
    from eval.parallelbench import main as parallelbench_main

    return parallelbench_main.main(argv[1:])
  if argv[:2] == ["bench", "kernels"]:
    from eval.bench import kernels

    return kernels.main(argv[2:])
  if argv[:2] == ["bench", "decoding"]:
    from eval.bench import decoding_kernels

    return decoding_kernels.main(argv[2:])
  if argv[:2] == ["bench", "scan"]:
    from eval.bench import scan

    return scan.main(argv[2:])
  args = _parser().parse_args(argv)
  from zoo import cache
  from zoo.errors import ZooError

  cache.enable_compilation_cache()
  try:
    if args.command == "claims":
      return _claims(args)
    if args.command in ("retrieval", "bench", "decoding", "parallelbench",
                        "systems", "context"):
      _parser().error(f"{args.command}: see `python -m eval {args.command}"
                      f"{' kernels' if args.command == 'bench' else ''} "
                      "--help`")
    if args.command == "readme":
      from eval import readme

      return readme.main()
    if not args.workdir:
      _parser().error("give --workdir W, or a command (claims)")
    return _evaluate_workdir(args)
  except ZooError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
