"""Lookup time of every embedding-compression method, and torch peers.

    python -m eval.bench.embedding_lookup [--batch 4096] [--threads 2]

The claim's table (8 fields x 50,000 ids, d = 16) under each method at
16x (full at 1x; the quantized kinds at 2x, the tightest they reach), a
jitted forward lookup of [batch, 8] Zipf(1.2) ids -> [batch, 8, 16], median
of 20 after warm-up. Peers, the same lookup in torch (CPU): `nn.Embedding`
(full), the hashing trick, and DLRM's quotient-remainder embedding
(`QREmbeddingBag`, operation "mult": two `nn.Embedding`s multiplied),
written here in a few lines of torch since the `dlrm`, `cce` and `torchrec`
packages are not installed. Prints a markdown table.
"""

import argparse
import functools
import sys

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from eval.bench.harness import median_ms
from zoo.vq.embedding_compression.embedding import CompressedEmbedding
from zoo.vq.embedding_compression.methods import CompressionConfig

FIELDS, IDS, DIM = 8, 50_000, 16
# (label, kind, budget, settings).
CASES = (
    ("full", "full", 1.0, {}), ("int8", "int", 2.0, {"bits": 8}),
    ("int16", "int", 2.0, {"bits": 16}), ("alpt8", "alpt", 2.0, {"bits": 8}),
    ("mde", "mde", 2.0, {}), ("hash", "hash", 16.0, {}),
    ("qr", "qr", 16.0, {}), ("tt_rec", "tt_rec", 16.0, {}),
    ("robe", "robe", 16.0, {}), ("dhe", "dhe", 16.0, {}),
    ("dpq", "dpq", 16.0, {}), ("mgqe", "mgqe", 16.0, {}),
    ("pep", "pep", 16.0, {}),
)


def zipf_ids(batch: int, seed: int = 0) -> np.ndarray:
  """[batch, FIELDS] ids, popularity ranks drawn Zipf(1.2) as in zipf_ctr."""
  rng = np.random.default_rng(seed)
  p = np.arange(1, IDS + 1, dtype=np.float64) ** -1.2
  ranks = np.searchsorted(np.cumsum(p / p.sum()), rng.random((batch, FIELDS)))
  return np.minimum(ranks, IDS - 1).astype(np.int32)


def ours(batch: int) -> list[tuple[str, float, float, float]]:
  """(label, ratio, ms, M lookups/s) of each method."""
  inputs = [jnp.asarray(zipf_ids(batch, s)) for s in range(3)]
  rows = []
  for label, kind, budget, settings in CASES:
    method = CompressionConfig.of_kind(kind)(budget=budget, **settings)
    module = CompressedEmbedding(method, FIELDS, IDS, DIM)
    variables = nn.meta.unbox(jax.jit(module.init)(jax.random.key(0),
                                                   inputs[0]))
    lookup = jax.jit(lambda v, i, m=module: m.apply(v, i, mutable=["losses"]
                                                    )[0])
    ms = median_ms(functools.partial(lookup, variables),
                   [(i,) for i in inputs], warmup=len(inputs), runs=20)
    rows.append((label, module.ratio(), ms, batch * FIELDS / ms / 1e3))
  return rows


def torch_peers(batch: int) -> list[tuple[str, float, float, float]]:
  import torch  # noqa: PLC0415 (an optional peer)

  n = FIELDS * IDS
  offsets = torch.arange(FIELDS) * IDS
  inputs = [torch.from_numpy(zipf_ids(batch, s)).long() + offsets
            for s in range(3)]
  full = torch.nn.Embedding(n, DIM)
  hashed = torch.nn.Embedding(n // 16, DIM)
  m = 17  # the collision our QR picks at 16x
  quotient = torch.nn.Embedding(-(-n // m), DIM)
  remainder = torch.nn.Embedding(m, DIM)
  cases = (
      ("torch nn.Embedding (full)", 1.0, lambda i: full(i)),
      ("torch hashing trick (id mod M)", 16.0,
       lambda i: hashed(i % (n // 16))),
      ("torch DLRM-style QR (mult)", 16.0,
       lambda i: quotient(i // m) * remainder(i % m)),
  )
  rows = []
  with torch.no_grad():
    for label, ratio, fn in cases:
      ms = median_ms(fn, [(i,) for i in inputs], warmup=len(inputs),
                     runs=20)
      rows.append((label, ratio, ms, batch * FIELDS / ms / 1e3))
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=4096)
  parser.add_argument("--threads", type=int, default=2)
  args = parser.parse_args(argv)
  rows = ours(args.batch)
  try:
    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    rows += torch_peers(args.batch)
  except ImportError:
    print("torch is not installed: the torch peers are left out",
          file=sys.stderr)
  print(f"| method | ratio | ms per [{args.batch}, {FIELDS}] lookup | "
        "M ids/s |")
  print("|---|---|---|---|")
  for label, ratio, ms, rate in rows:
    print(f"| {label} | {ratio:.3g}x | {ms:.3f} | {rate:.2f} |")


if __name__ == "__main__":
  main()
