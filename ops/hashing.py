"""Seeded 32-bit hashing of integer ids: what every hashed embedding shares.

`hash_ids(ids, seed)` is MurmurHash3's 32-bit finaliser (`fmix32`) applied to
the id XOR a mixed seed:

    h(id, seed) = fmix32(uint32(id) ^ fmix32(uint32(seed) * 0x9E3779B9 + 1))

`fmix32` is a bijection of the 32-bit words, so for one seed distinct ids
(below 2^32) never collide before the modulo, and its avalanche makes the
hashes of different seeds look independent (DHE's many hash functions, ROBE's
per-element signs). The arithmetic is uint32 with wrap-around, the same in
numpy (`hash_ids_reference`, the ground truth) and XLA, with or without
jax_enable_x64.
"""

import jax
import numpy as np
from jax import numpy as jnp

_GOLDEN = 0x9E3779B9
_MIX1 = 0x85EBCA6B
_MIX2 = 0xC2B2AE35


def _fmix32(h, xp):
  """MurmurHash3's finaliser on uint32 words (numpy or jax.numpy)."""
  h = h ^ (h >> xp.uint32(16))
  h = h * xp.uint32(_MIX1)
  h = h ^ (h >> xp.uint32(13))
  h = h * xp.uint32(_MIX2)
  return h ^ (h >> xp.uint32(16))


def _dtype(a) -> np.dtype:
  return np.dtype(a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype)


def _validate(ids, seed, num_buckets):
  dtype = _dtype(ids)
  if not np.issubdtype(dtype, np.integer):
    raise ValueError(f"hash_ids: ids must be integers, got dtype {dtype}")
  seed_dtype = _dtype(seed)
  if not np.issubdtype(seed_dtype, np.integer):
    raise ValueError(f"hash_ids: seed must be an integer or an integer array, "
                     f"got {seed!r}")
  if isinstance(seed, int | np.integer) and not 0 <= seed < 2**32:
    raise ValueError(f"hash_ids: seed must be in [0, 2**32), got {seed}")
  if num_buckets is not None and not (
      isinstance(num_buckets, int | np.integer) and 1 <= num_buckets < 2**31):
    raise ValueError("hash_ids: num_buckets must be an int in [1, 2**31), got "
                     f"{num_buckets!r}")


def _hash(ids, seed, xp):
  key = ids.astype(xp.uint32)
  mixed = _fmix32(xp.asarray(seed).astype(xp.uint32) * xp.uint32(_GOLDEN)
                  + xp.uint32(1), xp)
  return _fmix32(key ^ mixed, xp)


@jax.jit
def _hash_jit(ids, seed):
  return _hash(ids, seed, jnp)


def hash_ids(ids, seed=0, *, num_buckets: int | None = None) -> jax.Array:
  """Seeded 32-bit hash of integer ids.

  Args:
    ids: integer array [...]; ids are taken modulo 2^32 (uint32 view).
    seed: an int in [0, 2^32), or an integer array broadcastable with ids
      (one hash function per seed).
    num_buckets: if given, the hash modulo this (an int in [1, 2^31)),
      returned as int32.

  Returns:
    uint32 hashes (int32 buckets with `num_buckets`), the broadcast shape
    of ids and seed.
  """
  _validate(ids, seed, num_buckets)
  if isinstance(seed, int | np.integer):
    seed = np.uint32(seed)  # ints >= 2^31 do not fit jax's default int32
  h = _hash_jit(jnp.asarray(ids), jnp.asarray(seed))
  if num_buckets is None:
    return h
  return (h % jnp.uint32(num_buckets)).astype(jnp.int32)


def hash_ids_reference(ids, seed=0, *, num_buckets: int | None = None
                       ) -> np.ndarray:
  """`hash_ids` in numpy: the ground truth for tests."""
  _validate(ids, seed, num_buckets)
  with np.errstate(over="ignore"):
    h = _hash(np.asarray(ids), np.asarray(seed, np.uint64).astype(np.uint32),
              np)
  if num_buckets is None:
    return h
  return (h % np.uint32(num_buckets)).astype(np.int32)
