"""`python -m eval decoding`: speed and faithfulness of a decoding system.

    python -m eval decoding --system token_recycling [--workdir W]
        [--model text] [--prompts 20] [--prompt-length 64]
        [--new-tokens 128] [--json]
    python -m eval decoding --system pearl --checkpoint DIR
        --draft-checkpoint SMALLER_DIR [--prompts-file FILE] [--dtype D]

Loads the target LM (a `decoder_lm` workdir, the named cached model, or a
Hugging Face Llama, Qwen2 or GPT-2 checkpoint directory), takes held-out
prompts and runs the system's report (its record's `report`,
`eval.decoding.<system>:report`). The target's held-out loss and greedy
repeated-4-gram rate are printed beside the numbers: acceptance rates
measured on a target that loops are not evidence of speed.

With `--checkpoint`, the held-out text is the running Python's reference
topics (`pydoc_data.topics`) through the checkpoint's own tokenizer, and
the loss is measured on it (`train.store.lm.load_checkpoint_target`);
`--prompts-file` takes the prompts from a UTF-8 file instead, the first
`--prompt-length` tokens of each of its first `--prompts` non-empty lines.
A report that decodes with a draft model (pearl) needs
`--draft-checkpoint`, a smaller checkpoint with the same vocabulary; a
system whose report trains on the target (its record has train configs,
as lud's fine-tune) needs a zoo model.
"""

import argparse
import inspect
import json
import sys

import jax

from zoo import registry
from zoo.errors import ZooError


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m eval decoding",
                              description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--system", required=True, help="a decoding system")
  p.add_argument("--workdir", help="a decoder_lm training workdir")
  p.add_argument("--model", default="text",
                 help="cached model name when no --workdir (default text)")
  p.add_argument("--checkpoint",
                 help="a Hugging Face checkpoint directory (Llama, Qwen2, "
                      "GPT-2) as the target")
  p.add_argument("--draft-checkpoint",
                 help="with --checkpoint: the draft of reports that take one")
  p.add_argument("--prompts-file",
                 help="prompts, one per non-empty line, instead of held-out "
                      "text")
  p.add_argument("--dtype", default="float32",
                 choices=("float32", "bfloat16"),
                 help="with --checkpoint: params and computation dtype")
  p.add_argument("--prompts", type=int, default=20)
  p.add_argument("--prompt-length", type=int, default=64)
  p.add_argument("--new-tokens", type=int, default=128)
  p.add_argument("--json", action="store_true", help="print JSON only")
  return p


def _checkpoint_problem(args, system, takes_draft: bool) -> str | None:
  """What is wrong with the checkpoint flags for this system, if anything."""
  if args.checkpoint and args.workdir:
    return "give --workdir or --checkpoint, not both"
  if args.draft_checkpoint and not args.checkpoint:
    return "--draft-checkpoint goes with --checkpoint"
  if not args.checkpoint:
    return None
  if system.configs:
    return (f"{system.name}'s report trains on its target; it needs a "
            f"zoo model (--workdir or --model), not --checkpoint")
  if takes_draft and not args.draft_checkpoint:
    return (f"{system.name} decodes with a draft model: add "
            f"--draft-checkpoint DIR, a smaller model with the same "
            f"vocabulary")
  if args.draft_checkpoint and not takes_draft:
    return f"{system.name}'s report takes no draft model"
  return None


def _targets(args):
  """(the target, the report's extra arguments: its draft, if any)."""
  from train.store import lm as lm_store  # noqa: PLC0415

  if not args.checkpoint:
    return lm_store.load_target(args.model, workdir=args.workdir), {}
  target = lm_store.load_checkpoint_target(args.checkpoint, dtype=args.dtype)
  if not args.draft_checkpoint:
    return target, {}
  draft = lm_store.load_checkpoint_target(args.draft_checkpoint,
                                          dtype=args.dtype)
  if draft.lm.vocab_size != target.lm.vocab_size:
    raise ValueError(f"the draft's vocabulary ({draft.lm.vocab_size} ids) "
                     f"differs from the target's ({target.lm.vocab_size})")
  return target, {"draft": draft}


def _prompts(args, target):
  from train.store import lm as lm_store  # noqa: PLC0415

  if args.prompts_file:
    return lm_store.file_prompts(target, args.prompts_file, args.prompts,
                                 args.prompt_length)
  return lm_store.heldout_prompts(target, args.prompts, args.prompt_length)


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
  takes_draft = "draft" in inspect.signature(report).parameters
  problem = _checkpoint_problem(args, system, takes_draft)
  if problem:
    print(f"error: {problem}", file=sys.stderr)
    return 2
  try:
    target, extra = _targets(args)
    prompts = _prompts(args, target)
  except (ZooError, ValueError, OSError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  result = {
      "system": args.system, "model": target.name,
      "device": jax.devices()[0].device_kind,
      "target_val_loss": target.val_loss,
      "target_greedy_rep4": target.greedy_rep4,
      "prompts": args.prompts, "prompt_length": args.prompt_length,
      "new_tokens": args.new_tokens,
      **with_speedups(report(target, prompts, args.new_tokens, **extra)),
  }
  if args.json:
    print(json.dumps(result))
  else:
    for key, value in result.items():
      shown = f"{value:.4g}" if isinstance(value, float) else value
      print(f"{key:>32}  {shown}")
  return 0
