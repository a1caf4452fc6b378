"""SambaY's claims on `mqar`, at toy scale.

Setting (fixed by the issue before any run; train/configs/sambay.py): 8
layers of width 64, window 16, NoPE; baselines Samba+YOCO (the GMU layer
replaced by cross-attention) and the zoo's full-attention decoder (RoPE,
MLP widened so its parameters are within 3% of SambaY's; the counts are in
the claim text). Same data, steps, batch and optimizer, seed 0. Accuracy:
exact next-token accuracy on the 16 recalled values of the 1,000 test
examples. Claims:

1. SambaY's accuracy >= 0.8 (it learns recall in the budget);
2. SambaY's accuracy >= Samba+YOCO's - 0.02 (GMUs cost little recall);
3. decoding time per token after a 4,096-token prompt (batch 1, 64 greedy
   tokens, median of 5 runs, interleaved): Transformer / SambaY >= 1.5
   (2 of 8 SambaY layers read the full cache against 8 of 8).

The spec's "<= 1.5x growth from 256 to 4,096" cannot hold with two
full-length reads per token (about 3x by the same count): not claimed.

Measured (2026-12-06, 2 CPU cores shared, load 6-14; 1,579 s): SambaY
0.017, Samba+YOCO 0.016, Transformer 0.097 (chance 1/64 = 0.016); decode
39.8 ms vs 124.4 ms per token (3.13x). Claim 1 FAILs: after 500 steps of
32 (16,000 examples, under one epoch) the recall loss of both hybrids is
still at chance (ln 64 = 4.16, from step 200 on) and the Transformer has
barely left it; MQAR is learned after a long plateau (Zoology trains for
tens of epochs), which this budget does not reach. Claim 2's pass is
vacuous for the same reason: both hybrids are at chance. The precondition
(recall learned at all) is what a fairer setting must buy with steps.
"""

import time

import jax
import numpy as np
from jax import numpy as jnp

from eval.claims import in_memory, measured
from train import config as config_lib
from train.data.builders import mqar
from zoo.lm import sambay
from zoo.lm.decoder import CachedLM

CONTEXT, NEW_TOKENS, REPEATS, PREFILL_CHUNK = 4096, 64, 5, 512


def train(model_flag: str, data: dict[str, np.ndarray]):
  """The config's model trained on mqar's train split: (model, params)."""
  cfg = config_lib.load_config(f"sambay.py:model={model_flag}")
  tokens = data["train"]
  mask = np.broadcast_to(mqar.target_mask(), (len(tokens),
                                              tokens.shape[1] - 1))
  model, variables = in_memory.train(
      cfg, config_lib.task_of(cfg), {"tokens": tokens, "target_mask": mask})
  return model, variables["params"]


def recall_accuracy(model, params, tokens: np.ndarray) -> float:
  """Exact accuracy on the recalled values of `tokens` [N, 65]."""
  logits = jax.jit(model.apply)({"params": params}, tokens[:, :-1])
  correct = np.asarray(jnp.argmax(logits, -1)) == tokens[:, 1:]
  return float(correct[:, mqar.target_mask()].mean())


def parameter_count(params) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


def decoder_of(model, params):
  """(init_cache(capacity), jitted extend(tokens, cache))."""
  if isinstance(model, sambay.SambaY):
    extend = jax.jit(lambda t, c: model.apply(
        {"params": params}, t, c, method=sambay.SambaY.extend))
    return lambda n: sambay.init_cache(model.config, 1, n), extend
  lm = CachedLM(params, model)
  return lambda n: lm.init_cache(1, n), jax.jit(lm.extend)


def decode_seconds(model, params, prompt: np.ndarray) -> float:
  """Wall time per greedy token after `prompt` [1, CONTEXT] (prefilled in
  chunks, not timed); the first call compiles."""
  init_cache, extend = decoder_of(model, params)
  cache = init_cache(CONTEXT + NEW_TOKENS)
  for lo in range(0, CONTEXT, PREFILL_CHUNK):
    logits, cache = extend(prompt[:, lo:lo + PREFILL_CHUNK], cache)
  token = jnp.argmax(logits[:, -1:], -1)
  start = time.perf_counter()
  for _ in range(NEW_TOKENS):
    logits, cache = extend(token, cache)
    token = jnp.argmax(logits[:, -1:], -1)
  token.block_until_ready()
  return (time.perf_counter() - start) / NEW_TOKENS


def check():
  data = mqar.generate()
  trained = {flag: train(flag, data)
             for flag in ("sambay", "yoco", "transformer")}
  accuracy = {flag: recall_accuracy(*trained[flag], data["test"])
              for flag in trained}
  counts = {flag: parameter_count(p) for flag, (_, p) in trained.items()}
  prompt = np.random.default_rng(0).integers(
      mqar.KEY_0, mqar.RECIPE.vocab_size, (1, CONTEXT)).astype(np.int32)
  times = {"sambay": [], "transformer": []}
  for flag in times:  # compile and warm up
    decode_seconds(*trained[flag], prompt)
  for _ in range(REPEATS):
    for flag in times:
      times[flag].append(decode_seconds(*trained[flag], prompt))
  per_token = {flag: float(np.median(t)) for flag, t in times.items()}
  sizes = (f"params SambaY {counts['sambay']:,}, Samba+YOCO "
           f"{counts['yoco']:,}, Transformer {counts['transformer']:,}")
  steps = config_lib.load_config("sambay.py").steps
  return [
      measured("sambay", f"MQAR recall accuracy >= 0.8 after {steps} steps "
               f"(16 pairs, 64 keys; {sizes}; the Transformer's "
               f"{accuracy['transformer']:.3f} beside)",
               "recall_accuracy", accuracy["sambay"],
               accuracy["transformer"], 0.8),
      measured("sambay", "MQAR accuracy >= Samba+YOCO's - 0.02 (GMU in "
               "place of half the cross-attention)", "recall_accuracy",
               accuracy["sambay"], accuracy["yoco"],
               accuracy["yoco"] - 0.02),
      measured("sambay", f"decode time per token at context {CONTEXT} "
               f"(batch 1, {NEW_TOKENS} greedy tokens, median of "
               f"{REPEATS}): Transformer / SambaY >= 1.5 (SambaY "
               f"{per_token['sambay'] * 1e3:.2f} ms, Transformer "
               f"{per_token['transformer'] * 1e3:.2f} ms, CPU)",
               "time_ratio", per_token["transformer"] / per_token["sambay"],
               None, 1.5),
  ]
