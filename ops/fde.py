"""MUVERA fixed-dimensional encodings (FDEs) of multi-vector point clouds.

Follows the reference construction of google/graph-mining
(`sketching/point_cloud/fixed_dimensional_encoding.cc`): for each repetition
r = 0..R-1,
  1. a SimHash matrix G_r [d, k_sim], i.i.d. N(0, 1), sketches every point,
     s = x G_r;
  2. the sign bits of s, read in Gray-code order, name the point's partition:
     idx = 0; for b in (s_1 > 0, ..., s_k > 0):
       idx = (idx << 1) + (b ^ (idx & 1)),
     so there are B = 2^k_sim partitions (one when k_sim = 0);
  3. an inner projection psi_r: the identity (d_proj = d), or an AMS sketch
     [d, d_proj] that sends each input coordinate to one random output column
     with a random +-1 sign (no 1/sqrt(d_proj) scale);
  4. a query sums psi_r(q) per partition; a document averages psi_r(p) per
     partition, and with fill on (and k_sim > 0) an empty partition k takes
     psi_r(p*) of the point p* whose sign bits disagree least with the bit
     string GrayToBinary(k) = k ^ (k >> 1) (first minimum wins);
  5. the output is out[r * B * d_proj + k * d_proj + j];
  6. optionally, a CountSketch of the whole FDE down to
     `final_projection_dimension` (each coordinate goes to one random index
     with a random sign; collisions add).

Then FDE(Q) . FDE(P) approximates Chamfer(Q, P) = sum_i max_j <q_i, p_j>.

Random matrices come from `jax.random`, not the reference's std::mt19937, so
values differ from the C++ library while the distributions are the same.
Each draw uses its own stream, `fold_in(key(base), tag)`: SimHash (tag 0),
AMS columns (1) and AMS signs (2) use base = seed + r; the final CountSketch
indices (3) and signs (4) use base = seed. They are a deterministic function
of the config (threefry is backend-independent, and every draw names its
dtype, so `jax_enable_x64` changes nothing), so queries and documents
encoded with the same config share them; `fde_random_matrices` exposes them.
"""

import dataclasses
import functools
from typing import Literal, NamedTuple

import jax
from jax import numpy as jnp

Projection = Literal["identity", "ams_sketch"]
PROJECTIONS = ("identity", "ams_sketch")
MAX_SIMHASH_PROJECTIONS = 30
_SIMHASH, _AMS_COLUMN, _AMS_SIGN, _FINAL_INDEX, _FINAL_SIGN = range(5)
_HIGHEST = jax.lax.Precision.HIGHEST


def _check_int(name, value, low, high=None):
  ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
  if not ok or (high is not None and value > high):
    bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
    raise ValueError(f"FDEConfig: {name} must be an int {bound}, got "
                     f"{value!r}")


@dataclasses.dataclass(frozen=True)
class FDEConfig:
  """How to encode point clouds; use the same config for queries and docs.

  Attributes:
    dimension: d, the size of each token vector.
    num_repetitions: R, independent partitionings whose blocks are
      concatenated.
    num_simhash_projections: k_sim in [0, 30]; B = 2^k_sim partitions.
    seed: base seed of the random matrices (repetition r uses seed + r).
    projection: "identity" (d_proj = d) or "ams_sketch".
    projection_dimension: d_proj for "ams_sketch" (required there); for
      "identity" it must be None or equal to `dimension`.
    fill_empty_partitions: documents only. None (default) fills empty
      document partitions and never query ones (MUVERA's practice); True
      does the same but makes `fde_queries` an error, as in the reference;
      False never fills.
    final_projection_dimension: optional size of a final CountSketch.
  """

  dimension: int
  num_repetitions: int = 1
  num_simhash_projections: int = 0
  seed: int = 1
  projection: Projection = "identity"
  projection_dimension: int | None = None
  fill_empty_partitions: bool | None = None
  final_projection_dimension: int | None = None

  def __post_init__(self):
    _check_int("dimension", self.dimension, 1)
    _check_int("num_repetitions", self.num_repetitions, 1)
    _check_int("num_simhash_projections", self.num_simhash_projections, 0,
               MAX_SIMHASH_PROJECTIONS)
    _check_int("seed", self.seed, 0, 2**32 - self.num_repetitions)
    if self.projection not in PROJECTIONS:
      raise ValueError(f"FDEConfig: projection must be one of {PROJECTIONS}, "
                       f"got {self.projection!r}")
    if self.projection == "ams_sketch":
      _check_int("projection_dimension", self.projection_dimension, 1)
    elif self.projection_dimension not in (None, self.dimension):
      raise ValueError(
          "FDEConfig: projection_dimension must be None or equal to "
          f"dimension ({self.dimension}) for the identity projection, got "
          f"{self.projection_dimension!r}")
    if self.fill_empty_partitions not in (None, True, False):
      raise ValueError("FDEConfig: fill_empty_partitions must be None, True "
                       f"or False, got {self.fill_empty_partitions!r}")
    if self.final_projection_dimension is not None:
      _check_int("final_projection_dimension",
                 self.final_projection_dimension, 1)

  @property
  def num_partitions(self) -> int:
    """B = 2^k_sim."""
    return 2**self.num_simhash_projections

  @property
  def inner_dimension(self) -> int:
    """d_proj, the size of each partition's block."""
    return self.projection_dimension or self.dimension

  @property
  def output_dimension(self) -> int:
    """Size of the encoding: final_projection_dimension or R * B * d_proj."""
    return self.final_projection_dimension or (
        self.num_repetitions * self.num_partitions * self.inner_dimension)


class FDERandomMatrices(NamedTuple):
  """The random draws of a config (f32 unless noted).

  simhash: [R, d, k_sim] Gaussian SimHash matrices.
  projection: [R, d, d_proj] AMS sketches (one +-1 per row), or None for
    the identity projection.
  final_index: [R * B * d_proj] int32 output index of each FDE coordinate,
    or None without a final projection.
  final_sign: [R * B * d_proj] +-1 signs, or None.
  """

  simhash: jax.Array
  projection: jax.Array | None
  final_index: jax.Array | None
  final_sign: jax.Array | None


def _stream(base, tag):
  return jax.random.fold_in(jax.random.key(base), tag)


def _signs(key, shape):
  """Random +-1 in f32: `jax.random.rademacher`'s draws, but with a float32
  probability, which that function takes in the default float dtype (so
  other draws under jax_enable_x64)."""
  heads = jax.random.bernoulli(key, jnp.float32(0.5), shape)
  return 2 * heads.astype(jnp.float32) - 1


def fde_random_matrices(cfg: FDEConfig) -> FDERandomMatrices:
  """Draws the SimHash, AMS and final CountSketch matrices of `cfg`.

  Deterministic in `cfg` (see the module docstring for the streams), and
  traceable: the encoders call it inside jit.
  """
  d, k_sim, d_proj = (cfg.dimension, cfg.num_simhash_projections,
                      cfg.inner_dimension)
  seeds = jnp.uint32(cfg.seed) + jnp.arange(cfg.num_repetitions,
                                            dtype=jnp.uint32)

  def one_repetition(seed):
    simhash = jax.random.normal(_stream(seed, _SIMHASH), (d, k_sim),
                                jnp.float32)
    if cfg.projection == "identity":
      return simhash, None
    columns = jax.random.randint(_stream(seed, _AMS_COLUMN), (d,), 0, d_proj,
                                 jnp.int32)
    signs = _signs(_stream(seed, _AMS_SIGN), (d,))
    return simhash, jax.nn.one_hot(columns, d_proj,
                                   dtype=jnp.float32) * signs[:, None]

  simhash, projection = jax.vmap(one_repetition)(seeds)
  final_index = final_sign = None
  if cfg.final_projection_dimension is not None:
    size = cfg.num_repetitions * cfg.num_partitions * d_proj
    base = jnp.uint32(cfg.seed)
    final_index = jax.random.randint(_stream(base, _FINAL_INDEX), (size,), 0,
                                     cfg.final_projection_dimension,
                                     jnp.int32)
    final_sign = _signs(_stream(base, _FINAL_SIGN), (size,))
  return FDERandomMatrices(simhash, projection, final_index, final_sign)


def gray_code_index(bits: jax.Array) -> jax.Array:
  """Partition index of sign bits read in Gray-code order.

  Args:
    bits: [..., k] bool, the bits (s_1 > 0, ..., s_k > 0).

  Returns:
    [...] int32 in [0, 2^k): the prefix-XOR of the bits as a binary number,
    the inverse of GrayToBinary(i) = i ^ (i >> 1).
  """
  k = bits.shape[-1]
  prefix_xor = jnp.cumsum(bits.astype(jnp.int32), axis=-1) % 2
  return _bits_to_int(prefix_xor, k)


def _bits_to_int(bits, k):
  """[..., k] 0/1 ints, first bit most significant -> [...] int32."""
  weights = jnp.left_shift(1, jnp.arange(k - 1, -1, -1, dtype=jnp.int32))
  return jnp.sum(bits.astype(jnp.int32) * weights, axis=-1, dtype=jnp.int32)


def _validate(fn, tokens, mask, cfg):
  if not isinstance(cfg, FDEConfig):
    raise ValueError(f"{fn}: cfg must be an FDEConfig, got {type(cfg)}")
  if tokens.ndim != 3 or tokens.shape[-1] != cfg.dimension:
    raise ValueError(f"{fn}: tokens must be [batch, length, {cfg.dimension}] "
                     f"(cfg.dimension), got shape {tokens.shape}")
  if not jnp.issubdtype(tokens.dtype, jnp.floating):
    raise ValueError(f"{fn}: tokens must be floating point, got "
                     f"{tokens.dtype}")
  if mask is not None and (mask.shape != tokens.shape[:2]
                           or mask.dtype != jnp.bool_):
    raise ValueError(f"{fn}: mask must be bool with shape {tokens.shape[:2]}, "
                     f"got {mask.dtype} {mask.shape}")


@functools.partial(jax.jit, static_argnames=("cfg", "average", "fill"))
def _encode(tokens, mask, cfg, average, fill):
  """The FDE of each cloud: tokens [N, L, d], mask [N, L] -> [N, D_fde]."""
  n, length, _ = tokens.shape
  k_sim, num_parts = cfg.num_simhash_projections, cfg.num_partitions
  reps = cfg.num_repetitions
  mats = fde_random_matrices(cfg)
  x = jnp.where(mask[..., None], tokens.astype(jnp.float32), 0.0)
  sketch = jnp.einsum("nld,rdk->nrlk", x, mats.simhash, precision=_HIGHEST)
  bits = sketch > 0  # [N, R, L, k_sim]
  part = gray_code_index(bits)  # [N, R, L]
  if mats.projection is None:
    psi = jnp.broadcast_to(x[:, None], (n, reps) + x.shape[1:])
  else:
    psi = jnp.einsum("nld,rdp->nrlp", x, mats.projection, precision=_HIGHEST)
  weight = jnp.broadcast_to(mask[:, None], part.shape).astype(jnp.float32)

  # Per (cloud, repetition): sum of psi and count of points per partition.
  def per_cloud(values, ids):
    return jax.ops.segment_sum(values, ids, num_segments=num_parts)

  flat = lambda a: a.reshape((n * reps,) + a.shape[2:])
  sums = jax.vmap(per_cloud)(flat(psi * weight[..., None]), flat(part))
  counts = jax.vmap(per_cloud)(flat(weight), flat(part))
  # Explicit sizes: N or L may be 0.
  blocks = sums.reshape(n, reps, num_parts, cfg.inner_dimension)
  counts = counts.reshape(n, reps, num_parts)
  if average:
    blocks = blocks / jnp.maximum(counts, 1.0)[..., None]
  if fill and k_sim > 0 and length > 0:
    # Hamming distance of each point's bits to each partition's bit string.
    own = _bits_to_int(bits, k_sim)  # [N, R, L]
    target = jnp.arange(num_parts, dtype=jnp.int32)
    target = jnp.bitwise_xor(target, jnp.right_shift(target, 1))
    dist = jax.lax.population_count(
        jnp.bitwise_xor(own[..., None], target))  # [N, R, L, B]
    dist = jnp.where(mask[:, None, :, None], dist, k_sim + 1)
    nearest = jnp.argmin(dist, axis=2)  # [N, R, B], first minimum wins
    filled = jnp.take_along_axis(psi, nearest[..., None], axis=2)
    # A cloud without valid tokens copies a zeroed padding point: stays 0.
    blocks = jnp.where((counts == 0)[..., None], filled, blocks)
  out = blocks.reshape(n, reps * num_parts * cfg.inner_dimension)
  if cfg.final_projection_dimension is not None:
    out = jax.vmap(lambda v: jax.ops.segment_sum(
        v * mats.final_sign, mats.final_index,
        num_segments=cfg.final_projection_dimension))(out)
  return out


def fde_queries(
    tokens: jax.Array,
    mask: jax.Array | None,
    cfg: FDEConfig,
) -> jax.Array:
  """Query FDEs: psi_r(q) summed per partition (never filled).

  Args:
    tokens: [B, L, d] query token vectors, any float dtype.
    mask: [B, L] bool, True marks a real token; None means all are real.
    cfg: the encoding; `cfg.fill_empty_partitions` must not be True.

  Returns:
    [B, cfg.output_dimension] float32.
  """
  _validate("fde_queries", tokens, mask, cfg)
  if cfg.fill_empty_partitions:
    raise ValueError("fde_queries: cfg.fill_empty_partitions=True is for "
                     "documents only; use None (fill documents only) or "
                     "False")
  if mask is None:
    mask = jnp.ones(tokens.shape[:2], jnp.bool_)
  return _encode(tokens, mask, cfg, average=False, fill=False)


def fde_documents(
    tokens: jax.Array,
    mask: jax.Array | None,
    cfg: FDEConfig,
) -> jax.Array:
  """Document FDEs: psi_r(p) averaged per partition, empty ones filled.

  Filling follows `cfg.fill_empty_partitions` (on unless False) and needs
  k_sim > 0; it compares every point with every partition, an
  [N, R, L, 2^k_sim] int32 intermediate. A document with no valid token
  encodes to zeros.

  Args:
    tokens: [N, L, d] document token vectors, any float dtype.
    mask: [N, L] bool, True marks a real token; None means all are real.
    cfg: the encoding, the same as for the queries.

  Returns:
    [N, cfg.output_dimension] float32.
  """
  _validate("fde_documents", tokens, mask, cfg)
  if mask is None:
    mask = jnp.ones(tokens.shape[:2], jnp.bool_)
  return _encode(tokens, mask, cfg, average=True,
                 fill=cfg.fill_empty_partitions is not False)
