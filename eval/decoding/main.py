"""`python -m eval decoding`: speed and faithfulness of a decoding system.

    python -m eval decoding --system token_recycling [--workdir W]
        [--model text] [--prompts 20] [--prompt-length 64]
        [--new-tokens 128] [--json]

Loads the target LM (a `decoder_lm` workdir, or the named cached model),
takes held-out prompts and runs the system's report (its record's
`report`, `eval.decoding.<system>:report`). The
target's held-out loss and greedy repeated-4-gram rate are printed beside
the numbers: acceptance rates measured on a target that loops are not
evidence of speed.
"""

import argparse
import json
import sys

import jax

from zoo import registry


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m eval decoding",
                              description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--system", required=True, help="a decoding system")
  p.add_argument("--workdir", help="a decoder_lm training workdir")
  p.add_argument("--model", default="text",
                 help="cached model name when no --workdir (default text)")
  p.add_argument("--prompts", type=int, default=20)
  p.add_argument("--prompt-length", type=int, default=64)
  p.add_argument("--new-tokens", type=int, default=128)
  p.add_argument("--json", action="store_true", help="print JSON only")
  return p


def with_speedups(report: dict) -> dict:
  """`report` plus, for every `<method>_tokens_per_second` beside greedy's,
  `<method>_speedup_vs_greedy`: wall clock, the same prompts, one run."""
  greedy = report.get("greedy_tokens_per_second")
  if not greedy:
    return report
  speedups = {
      key.removesuffix("tokens_per_second") + "speedup_vs_greedy":
          value / greedy
      for key, value in report.items()
      if key.endswith("_tokens_per_second")
      and key != "greedy_tokens_per_second"}
  return {**report, **speedups}


def main(argv: list[str]) -> int:
  args = _parser().parse_args(argv)
  try:
    system = registry.get(args.system)
  except KeyError as e:
    print(f"error: {e.args[0]}", file=sys.stderr)
    return 2
  if system.family != "decoding":
    print(f"error: {args.system!r} is a {system.family} system, not a "
          f"decoding one", file=sys.stderr)
    return 2
  if not system.report:
    print(f"error: {args.system!r} has no decoding report", file=sys.stderr)
    return 2
  report = registry.resolve(system.report)
  from train.store import lm as lm_store  # noqa: PLC0415

  target = lm_store.load_target(args.model, workdir=args.workdir)
  prompts = lm_store.heldout_prompts(target, args.prompts, args.prompt_length)
  result = {
      "system": args.system, "model": target.name,
      "device": jax.devices()[0].device_kind,
      "target_val_loss": target.val_loss,
      "target_greedy_rep4": target.greedy_rep4,
      "prompts": args.prompts, "prompt_length": args.prompt_length,
      "new_tokens": args.new_tokens,
      **with_speedups(report(target, prompts, args.new_tokens)),
  }
  if args.json:
    print(json.dumps(result))
  else:
    for key, value in result.items():
      shown = f"{value:.4g}" if isinstance(value, float) else value
      print(f"{key:>32}  {shown}")
  return 0
