"""One frame-attention layer on the CPU: VFN against IPA-lite.

    python -m eval.bench.frame_attention_cpu

Times one layer of each kind (`zoo.protein.attention`, the FrameNet's
default sizes: c_s 32, c_z 16, 4 heads of 16; VFN 4 points, IPA-lite 3 + 3)
at 32 and 128 residues, batch 1 and 8: the forward pass and forward +
backward (gradient of the summed output with respect to the parameters),
jitted, medians of 15 runs after warm-up (`eval.bench.harness.median_ms`),
compile time excluded. Inputs are random proper frames with CA spread over a few
nm. Prints a markdown table with the layer's parameter count.
"""

import jax
from jax import numpy as jnp

from eval.bench import harness
from zoo.protein import rigid
from zoo.protein.attention.ipa_lite import IPALiteConfig
from zoo.protein.attention.vfn import VFNAttentionConfig

KINDS = {"vfn": VFNAttentionConfig(), "ipa_lite": IPALiteConfig()}
LENGTHS = (32, 128)
BATCHES = (1, 8)
SINGLE, PAIR = 32, 16
RUNS = 15  # medians of many runs: CPU timings on a shared box are spiky


def inputs(batch: int, length: int):
  keys = jax.random.split(jax.random.key(length * 100 + batch), 4)
  q = jax.random.normal(keys[0], (batch, length, 4))
  q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
  frames = rigid.Rigid(rigid.quaternion_to_rotation(q),
                       2.0 * jax.random.normal(keys[1], (batch, length, 3)))
  s = jax.random.normal(keys[2], (batch, length, SINGLE))
  z = jax.random.normal(keys[3], (batch, length, length, PAIR))
  return s, z, frames, jnp.ones((batch, length))


def main() -> int:
  print("| layer | params | residues | batch | forward ms | forward + "
        "backward ms |\n|---|---|---|---|---|---|")
  for length in LENGTHS:
    for batch in BATCHES:
      for name, cfg in KINDS.items():
        layer = cfg.module(SINGLE, name="attention")
        args = inputs(batch, length)
        params = layer.init(jax.random.key(0), *args)
        count = sum(x.size for x in jax.tree.leaves(params))
        forward = jax.jit(lambda p, a, f=layer: f.apply(p, *a)[0])
        grad = jax.jit(jax.grad(
            lambda p, a, f=layer: jnp.sum(f.apply(p, *a)[0])))
        fwd_ms = harness.median_ms(forward, [(params, args)], runs=RUNS)
        bwd_ms = harness.median_ms(grad, [(params, args)], runs=RUNS)
        print(f"| {name} | {count} | {length} | {batch} | {fwd_ms:.2f} | "
              f"{bwd_ms:.2f} |")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
