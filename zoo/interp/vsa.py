"""MAP-bipolar vector symbolic architecture: random +-1 hypervectors.

    codebook = vsa.random_codebook(jax.random.key(0), 100, 4096)  # [K, D]
    ties = vsa.tie_breaker(4096)                                  # [D]
    pair = vsa.bind(codebook[3], codebook[7])          # self-inverse product
    memory = vsa.bundle(jnp.stack([pair, other]), ties)   # sum, then sign
    ids, cos = vsa.cleanup(vsa.unbind(memory, codebook[3]), codebook)

Bind is the elementwise product, so unbinding is binding again (every
element is its own inverse). Bundle sums and takes the sign; an even number
of terms ties where they cancel, and a tie takes the element of a fixed
random +-1 vector (`tie_breaker`), which keeps the result bipolar and
deterministic. Cleanup is the nearest code by cosine (`ops.vq_nearest`),
optionally skipping some codes per query (the items a question already
names, which a decoder must not answer with).
"""

import itertools

import jax
import numpy as np
from jax import numpy as jnp

from ops.vq import vq_nearest

TIE_SEED = 20250929


def random_codebook(key: jax.Array, num: int, dim: int) -> jax.Array:
  """[num, dim] float32 hypervectors with iid uniform +-1 entries."""
  if num < 1 or dim < 1:
    raise ValueError(f"random_codebook: num and dim must be >= 1, got "
                     f"{num} and {dim}")
  return jnp.where(jax.random.bernoulli(key, 0.5, (num, dim)), 1.0, -1.0)


def tie_breaker(dim: int, seed: int = TIE_SEED) -> jax.Array:
  """The fixed random +-1 vector [dim] that settles ties of `bipolar`."""
  return random_codebook(jax.random.key(seed), 1, dim)[0]


def _same_size(what: str, a: jax.Array, b: jax.Array) -> None:
  if a.shape[-1] != b.shape[-1]:
    raise ValueError(f"{what}: hypervector sizes differ: {a.shape[-1]} and "
                     f"{b.shape[-1]} (shapes {a.shape} and {b.shape})")


def bind(a: jax.Array, b: jax.Array) -> jax.Array:
  """[..., D] x [..., D] -> [..., D]: the elementwise product."""
  _same_size("bind", a, b)
  return a * b


def unbind(x: jax.Array, a: jax.Array) -> jax.Array:
  """Undoes `bind(., a)`: for bipolar a, unbind(bind(a, b), a) == b."""
  _same_size("unbind", x, a)
  return x * a


def bipolar(x: jax.Array, ties: jax.Array) -> jax.Array:
  """sign(x) [..., D], with the entries of `ties` [D] where x is 0."""
  _same_size("bipolar", x, ties)
  return jnp.where(x > 0, 1.0, jnp.where(x < 0, -1.0, ties)).astype(
      jnp.float32)


def bundle(vectors: jax.Array, ties: jax.Array) -> jax.Array:
  """[..., n, D] -> [..., D]: the sum over n, made bipolar (`bipolar`)."""
  return bipolar(jnp.sum(vectors, axis=-2), ties)


def cleanup(x: jax.Array, codebook: jax.Array,
            exclude: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """The code nearest to each query by cosine, skipping excluded codes.

  Args:
    x: [..., D] queries.
    codebook: [K, D].
    exclude: optional int [..., m] code ids a query may not return (-1
      pads); m < K.

  Returns:
    (ids int32 [...], cosines float32 [...]).
  """
  _same_size("cleanup", x, codebook)
  if exclude is None:
    ids, scores = vq_nearest(x, codebook, metric="cos")
    return ids[..., 0], scores[..., 0]
  m = exclude.shape[-1]
  if exclude.shape[:-1] != x.shape[:-1] or m >= codebook.shape[0]:
    raise ValueError(f"cleanup: exclude must be [..., m] with x's leading "
                     f"shape {x.shape[:-1]} and m < {codebook.shape[0]} "
                     f"codes, got {exclude.shape}")
  # The m + 1 best hold at least one code that is not excluded; keep the
  # first of them.
  ids, scores = vq_nearest(x, codebook, k=m + 1, metric="cos")
  allowed = ~jnp.any(ids[..., :, None] == exclude[..., None, :], axis=-1)
  first = jnp.argmax(allowed, axis=-1)[..., None]
  return (jnp.take_along_axis(ids, first, -1)[..., 0],
          jnp.take_along_axis(scores, first, -1)[..., 0])


def subsets(m: int) -> np.ndarray:
  """[2^m - 1, m] bool: every non-empty subset of m items."""
  rows = [[i in s for i in range(m)] for r in range(1, m + 1)
          for s in itertools.combinations(range(m), r)]
  return np.asarray(rows, bool).reshape(-1, m)


def decode_answer(v: jax.Array, known: jax.Array, codebook: jax.Array
                  ) -> tuple[jax.Array, jax.Array]:
  """The concept a bipolar memory holds beside the known ones.

  For every non-empty subset of the known concepts, unbinds their product
  from v and cleans up, skipping the known concepts (a query item is no
  answer); the best cosine over subsets wins.

  Args:
    v: [B, D] bipolar memories (e.g. bundles of bound pairs).
    known: int [B, m] code ids of the concepts the query names.
    codebook: [K, D].

  Returns:
    (ids int32 [B], cosines float32 [B]).
  """
  _same_size("decode_answer", v, codebook)
  if known.ndim != 2 or known.shape[0] != v.shape[0]:
    raise ValueError(f"decode_answer: known must be [B, m] with B = "
                     f"{v.shape[0]}, got {known.shape}")
  pick = jnp.asarray(subsets(known.shape[1]))          # [S, m]
  items = codebook[known]                              # [B, m, D]
  keys = jnp.prod(jnp.where(pick[None, :, :, None], items[:, None], 1.0),
                  axis=2)                              # [B, S, D]
  exclude = jnp.broadcast_to(known[:, None], (*keys.shape[:2],
                                              known.shape[1]))
  ids, scores = cleanup(unbind(v[:, None], keys), codebook, exclude)
  best = jnp.argmax(scores, axis=1)[:, None]
  return (jnp.take_along_axis(ids, best, 1)[:, 0],
          jnp.take_along_axis(scores, best, 1)[:, 0])
