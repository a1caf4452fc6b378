"""ARC prefill, 32 vectors vs 128 tokens: the text target's prefill (CPU).

Times `CachedLM.extend` (jitted, compiled first) of the frozen "text"
target over a batch of 32 compressed vectors (embeddings=) and over the
128 context tokens they replace, same decoder and cache capacity (192),
interleaved, median of REPEATS. Also the encoder's cost (the compressor on
the 128 tokens, untrained: only its cost matters), so the total ARC path
is visible.

    python -m eval.bench.arc_prefill   # trains the text target once
"""

import time

import jax
import numpy as np
from jax import numpy as jnp

from train.configs import arc_encoder as configs
from train.store import lm as lm_store
from zoo.retrieval import arc_encoder

REPEATS = 30


def main():
  target = lm_store.load_target("text")
  lm = target.lm
  cfg = configs.model_config()
  model = arc_encoder.build(cfg)
  rows = {}
  for batch in (1, 16):
    tokens = jnp.asarray(lm_store.heldout_prompts(target, batch, 128))
    variables = model.init(jax.random.key(0), tokens, tokens[:, :64])
    compress = jax.jit(lambda t, v=variables: model.apply(
        v, t, method="compress"))
    vectors = compress(tokens)
    prefill_tokens = jax.jit(lambda t: lm.extend(t, lm.init_cache(
        t.shape[0], 192))[0])
    prefill_vectors = jax.jit(lambda x: lm.extend(None, lm.init_cache(
        x.shape[0], 192), embeddings=x)[0])
    runs = {"128 tokens": (prefill_tokens, tokens),
            "32 vectors": (prefill_vectors, vectors),
            "encoder (128 -> 32)": (compress, tokens)}
    times = {name: [] for name in runs}
    for repeat in range(REPEATS + 1):
      for name, (fn, x) in runs.items():
        start = time.perf_counter()
        jax.block_until_ready(fn(x))
        if repeat:
          times[name].append(time.perf_counter() - start)
    rows[batch] = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
  print("| batch | prefill 128 tokens (ms) | prefill 32 vectors (ms) | "
        "ratio | encoder 128 -> 32 (ms) |")
  print("|---|---|---|---|---|")
  for batch, r in rows.items():
    print(f"| {batch} | {r['128 tokens']:.2f} | {r['32 vectors']:.2f} | "
          f"{r['32 vectors'] / r['128 tokens']:.2f} | "
          f"{r['encoder (128 -> 32)']:.2f} |")


if __name__ == "__main__":
  main()
