"""Causal2Vec against echo last-token pooling: encode time on one host.

    python -m eval.bench.causal2vec_encode

One jitted encode of 64 texts of n tokens (n = 32, 64, 96): Causal2Vec
(light encoder + MLP + the LM on n + 3 positions) and echo (the LM on
2n + 3 positions, last token of the second copy), the same LM weights (a
random init of the code target's shape; timings do not depend on the
weights). Median of 7 after warm-up; prints a markdown table.
"""

import platform

import jax
import numpy as np
from flax import linen as nn
from jax import numpy as jnp

from eval.bench.harness import median_ms
from eval.claims import causal2vec as claim
from train.configs import causal2vec as configs
from zoo.lm.decoder import DecoderLM
from zoo.retrieval import causal2vec

ROWS = 64


def main() -> None:
  cfg = configs.model_config()
  model = causal2vec.build(cfg)
  ids = jnp.ones((2, 8), jnp.int32)
  variables = model.init(jax.random.key(0), ids, ids > 0)
  variables = {"params": nn.meta.unbox(variables["params"])}
  ours = jax.jit(lambda t, m: model.apply(variables, t, m, method="encode"))
  echo = claim.echo_last_token(DecoderLM(cfg.lm), variables["params"]["lm"])
  rng = np.random.default_rng(0)
  print(f"{platform.processor() or platform.machine()}, jax "
        f"{jax.__version__}, {ROWS} texts per call, median of 7")
  print("| tokens per text | Causal2Vec ms | echo ms | ratio |")
  print("|---|---|---|---|")
  for n in (32, 64, 96):
    args = [(jnp.asarray(rng.integers(4, 2048, (ROWS, n)), jnp.int32),
             jnp.ones((ROWS, n), bool))]
    a, b = median_ms(ours, args), median_ms(echo, args)
    print(f"| {n} | {a:.1f} | {b:.1f} | {a / b:.2f} |")


if __name__ == "__main__":
  main()
