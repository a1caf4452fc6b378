"""`python -m eval context`: what a context is worth to the frozen decoder.

    python -m eval context --system arc_encoder --workdir runs/arc [--json]
    python -m eval context --system icv --workdir runs/icv --spans 128

Held-out spans of the decoder's own corpus (`train.store.lm.heldout_
prompts`: validation windows, no document boundary inside) are cut into
128 context tokens and the 64 after them. The NLL of those 64 tokens
(nats/token) is measured with the context fed four ways: "text" (the 128
tokens), "none" (one <bos>), "last" (the last tokens, as many as the
system has vectors: 32 for ARC-Encoder with x = 4) and "vectors" (the
system's own: ARC-Encoder's compressed vectors in place of the context,
ICV's per-layer shifts with no context position). Also printed: the share
of the full context's gain that the vectors keep,
(NLL_none - NLL_vectors) / (NLL_none - NLL_text). Nothing is written.
"""

import argparse
import json
import sys

import jax
import numpy as np

from train import loop
from train.store import lm as lm_store
from zoo import sharding
from zoo.errors import ZooError
from zoo.retrieval import arc_encoder

SYSTEMS = ("arc_encoder", "icv")
FEEDS = ("text", "none", "last", "vectors")
MAX_SPANS = 512
_BATCH = 32  # spans per jitted call


def spans(target, num: int, context_len: int, continuation_len: int,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """([num, context_len], [num, continuation_len]) held-out token spans."""
  rows = lm_store.heldout_prompts(target, num, context_len +
                                  continuation_len, seed)
  return rows[:, :context_len], rows[:, context_len:]


def measure(model, variables, context: np.ndarray, continuation: np.ndarray,
            feeds=FEEDS) -> dict[str, np.ndarray]:
  """Per-span NLL [N] of the continuation after the context fed each way
  (`model.nll(context, continuation, feed)`), `_BATCH` spans a call."""
  out = {}
  for feed in feeds:
    nll = jax.jit(lambda c, t, feed=feed: model.apply(
        variables, c, t, feed, method="nll"))
    out[feed] = np.concatenate([
        np.asarray(nll(context[i:i + _BATCH], continuation[i:i + _BATCH]))
        for i in range(0, len(context), _BATCH)])
  return out


def kept_gain(nll: dict[str, np.ndarray]) -> float:
  """(NLL_none - NLL_vectors) / (NLL_none - NLL_text), of the means."""
  none, full = nll["none"].mean(), nll["text"].mean()
  return float((none - nll["vectors"].mean()) / (none - full))


def load(system: str, workdir: str):
  """(model, variables merged for a forward pass, the decoder's target) of
  a trained run of `system`."""
  run, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  if run.cfg.system != system:
    raise ValueError(f"--workdir {workdir} holds a {run.cfg.system!r} run, "
                     f"not {system!r}")
  cfg = run.model.cfg
  target = lm_store.load_target(cfg.target, smoke=cfg.smoke_target)
  return run.model, arc_encoder.merged(run.variables(state)), target


def evaluate(system: str, workdir: str, num_spans: int = MAX_SPANS) -> dict:
  """The four NLLs (means), the kept gain and the setting."""
  if not 1 <= num_spans <= MAX_SPANS:
    raise ValueError(f"--spans must be in [1, {MAX_SPANS}], got {num_spans}")
  model, variables, target = load(system, workdir)
  cfg = model.cfg
  context, continuation = spans(target, num_spans, cfg.context_len,
                                cfg.continuation_len)
  nll = measure(model, variables, context, continuation)
  return {"system": system, "spans": num_spans,
          "context_tokens": cfg.context_len,
          "continuation_tokens": cfg.continuation_len,
          **{f"nll_{feed}": float(v.mean()) for feed, v in nll.items()},
          "kept_gain": kept_gain(nll)}


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m eval context",
                              description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--system", required=True, choices=SYSTEMS)
  p.add_argument("--workdir", required=True, help="the system's training run")
  p.add_argument("--spans", type=int, default=MAX_SPANS,
                 help=f"held-out spans (at most {MAX_SPANS})")
  p.add_argument("--json", action="store_true", help="print JSON only")
  return p


def main(argv: list[str]) -> int:
  args = _parser().parse_args(argv)
  try:
    result = evaluate(args.system, args.workdir, args.spans)
  except (ValueError, ZooError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.json:
    print(json.dumps(result))
  else:
    for key, value in result.items():
      print(f"{key:>20}  {value}")
  return 0
