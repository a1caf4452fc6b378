"""Pyramid vector quantization (PVQ) of weight matrices.

The shape codebook is the pyramid P(D, K) = {y in Z^D : sum |y_i| = K},
never stored: a group of D weights w is coded as a point y (its Fischer
index, a uint32) and a gain, and decodes to gain * y / |y|.

    q = pvq_quantize(w, dim=8, pulses=13, gain_bits=3)   # w [rows, cols]
    q.bits_per_weight                                    # from stored bytes
    y = pvq_matmul(x, q)                                 # x @ w_hat.T

- `pvq_size_table`: V(d, k), the number of points of P(d, k), by
  V(d, k) = V(d-1, k) + V(d, k-1) + V(d-1, k-1), V(., 0) = 1, V(0, k>0) = 0.
- `pvq_search`: Opus's greedy pulse search (celt/vq.c): project onto the
  pyramid with floor(K |u| / |u|_1), then add the missing pulses one at a
  time where they raise <u, y> / |y| most. Then (ours) up to
  `_MOVE_ROUNDS` times, move the one pulse whose move raises the cosine
  most: greedy alone reaches the best point of P(8, 6) for 95.9% of
  Gaussian u, with the moves 99.9% (no u needed more than 2 moves at
  D = 8, K = 6 or 13 in 3,000 draws).
- `pvq_index` / `pvq_unindex`: Fischer's enumeration, a bijection between
  P(D, K) and [0, V(D, K)). Per coordinate, magnitudes are ordered 0, +1,
  -1, +2, -2, ... (ours; any fixed order is a bijection).
- `hadamard`: the orthonormal Walsh-Hadamard transform in power-of-two
  blocks (width 192 = three blocks of 64: ours).
- Gains: 2^b levels times a per-row fp16 scale, the row's RMS. The levels
  are Lloyd-Max for the norm of D iid N(0, 1) weights (a chi law), with the
  lowest level pinned at 0 so that a zero group decodes to zeros (ours; the
  spec's Beta law for the gain is [recon]). A group takes the level nearest
  its best gain for the chosen shape, <w, y / |y|>, which minimises its
  squared error over the levels.
- `hessian=` adds GPTQ's error feedback: groups of D columns are quantized
  left to right, and each group's error is spread over the columns still to
  come through the Cholesky factor of H^-1, minimising the layer-output
  error tr((W - W_hat) H (W - W_hat)^T) instead of |W - W_hat|^2.

Storage: indices and gain codes are bit-packed into uint32 words
(ceil(log2 V) and b bits each), scales are fp16; `bits_per_weight` counts
exactly these bytes. D=8, K=13, b=3 on rows of 256: 22 + 3 bits per 8
weights plus 16 bits per row, 3.19 bits per weight.
"""

import dataclasses
import functools
import math

import jax
import numpy as np
from jax import numpy as jnp

from ops import _dispatch

# Relative damping added to the Hessian's diagonal (GPTQ's percdamp).
HESSIAN_DAMPING = 0.01
# Rounds of single-pulse moves after the greedy search.
_MOVE_ROUNDS = 3


def pvq_size_table(dim: int, pulses: int) -> np.ndarray:
  """V(d, k) for d <= dim, k <= pulses, as uint64 [dim + 1, pulses + 1].

  Raises:
    ValueError: dim or pulses < 1, or V(dim, pulses) >= 2^32 (the index
      would not fit a uint32).
  """
  if not (isinstance(dim, int) and isinstance(pulses, int)
          and dim >= 1 and pulses >= 1):
    raise ValueError(f"pvq: dim and pulses must be ints >= 1, got dim={dim!r}"
                     f", pulses={pulses!r}")
  table = [[1] + [0] * pulses]
  for _ in range(dim):
    prev, row = table[-1], [1]
    for k in range(1, pulses + 1):
      row.append(prev[k] + row[k - 1] + prev[k - 1])
    table.append(row)
  if table[dim][pulses] >= 2 ** 32:
    raise ValueError(f"pvq: V(D={dim}, K={pulses}) = {table[dim][pulses]} "
                     "points do not fit a uint32 index (need < 2^32); lower "
                     "the pulses or the group size")
  return np.asarray(table, np.uint64)


@functools.cache
def _start_table(dim: int, pulses: int) -> np.ndarray:
  """S[l, k, m]: first index whose leading coordinate has magnitude m, for
  l coordinates left holding k pulses; uint32 max where m > k."""
  v = pvq_size_table(dim, pulses).astype(np.int64)
  starts = np.full((dim + 1, pulses + 1, pulses + 1), 2 ** 32 - 1, np.int64)
  for left in range(1, dim + 1):
    for k in range(pulses + 1):
      starts[left, k, 0] = 0
      for m in range(1, k + 1):
        width = v[left - 1, k] if m == 1 else 2 * v[left - 1, k - m + 1]
        starts[left, k, m] = starts[left, k, m - 1] + width
  return starts.astype(np.uint32)


@functools.partial(jax.jit, static_argnames="pulses")
def pvq_search(u: jax.Array, pulses: int) -> jax.Array:
  """The point of P(D, K) nearest in angle to u, by greedy pulse search.

  Args:
    u: [..., D] float; a zero vector gives K pulses on coordinate 0.
    pulses: K.

  Returns:
    [..., D] int32 with sum |y| = K and the signs of u (+ where u is 0).
  """
  a = jnp.abs(u.astype(jnp.float32))
  l1 = jnp.sum(a, axis=-1, keepdims=True)
  # floor(K a / |a|_1) never sums above K, so at most D - 1 pulses are left.
  y = jnp.where(l1 > 0, jnp.floor(pulses * a / jnp.where(l1 > 0, l1, 1.0)),
                0.0)
  first = jnp.arange(a.shape[-1]) == 0
  y = jnp.where(l1 > 0, y, jnp.where(first, float(pulses), 0.0))

  def add_pulse(_, y):
    left = pulses - jnp.sum(y, axis=-1, keepdims=True)
    xy = jnp.sum(a * y, axis=-1, keepdims=True)
    yy = jnp.sum(y * y, axis=-1, keepdims=True)
    gain = (xy + a) ** 2 / (yy + 2 * y + 1)
    best = jax.nn.one_hot(jnp.argmax(gain, axis=-1), a.shape[-1])
    return y + jnp.where(left > 0, best, 0.0)

  y = jax.lax.fori_loop(0, a.shape[-1], add_pulse, y)
  y = jax.lax.fori_loop(0, _MOVE_ROUNDS, lambda _, y: _move_pulse(a, y), y)
  return jnp.where(u < 0, -y, y).astype(jnp.int32)


def _move_pulse(a, y):
  """Moves one pulse i -> j where that raises the cosine most, if any does.

  a, y: [..., D] non-negative f32 (|u| and the pulse counts).
  """
  dim = a.shape[-1]
  xy = jnp.sum(a * y, axis=-1)[..., None, None]
  yy = jnp.sum(y * y, axis=-1)[..., None, None]
  # [..., i, j]: take a pulse from i, give it to j.
  moved_xy = xy - a[..., :, None] + a[..., None, :]
  moved_yy = yy - 2 * y[..., :, None] + 2 * y[..., None, :] + 2
  allowed = (y[..., :, None] > 0) & ~jnp.eye(dim, dtype=bool)
  score = jnp.where(allowed, moved_xy ** 2 / moved_yy, -1.0)
  flat = score.reshape(*score.shape[:-2], dim * dim)
  best = jnp.argmax(flat, axis=-1)
  gain = jnp.max(flat, axis=-1) > (xy * xy / yy)[..., 0, 0] * (1 + 1e-6)
  step = (jax.nn.one_hot(best % dim, dim) - jax.nn.one_hot(best // dim, dim))
  return y + jnp.where(gain[..., None], step, 0.0)


@functools.partial(jax.jit, static_argnames="pulses")
def pvq_index(y: jax.Array, pulses: int) -> jax.Array:
  """Fischer index of points of P(D, K): [..., D] int -> [...] uint32."""
  dim = y.shape[-1]
  sizes = jnp.asarray(pvq_size_table(dim, pulses).astype(np.uint32))
  starts = jnp.asarray(_start_table(dim, pulses))
  index = jnp.zeros(y.shape[:-1], jnp.uint32)
  k = jnp.full(y.shape[:-1], pulses, jnp.int32)
  for j in range(dim):
    left = dim - j
    m = jnp.abs(y[..., j]).astype(jnp.int32)
    negative = (y[..., j] < 0).astype(jnp.uint32)
    index += starts[left, k, m] + negative * sizes[left - 1, k - m]
    k -= m
  return index


@functools.partial(jax.jit, static_argnames=("dim", "pulses"))
def pvq_unindex(index: jax.Array, dim: int, pulses: int) -> jax.Array:
  """Inverse of `pvq_index`: [...] uint32 -> [..., dim] int32."""
  sizes = jnp.asarray(pvq_size_table(dim, pulses).astype(np.uint32))
  starts = jnp.asarray(_start_table(dim, pulses))
  rest = index.astype(jnp.uint32)
  k = jnp.full(index.shape, pulses, jnp.int32)
  coords = []
  for j in range(dim):
    left = dim - j
    row = starts[left, k]  # [..., K + 1], non-decreasing in m
    m = jnp.sum(row[..., 1:] <= rest[..., None], axis=-1).astype(jnp.int32)
    rest -= jnp.take_along_axis(row, m[..., None], axis=-1)[..., 0]
    width = sizes[left - 1, k - m]
    negative = (m > 0) & (rest >= width)
    rest -= jnp.where(negative, width, jnp.uint32(0))
    coords.append(jnp.where(negative, -m, m))
    k -= m
  return jnp.stack(coords, axis=-1)


def hadamard(x: jax.Array, block_size: int | None = None) -> jax.Array:
  """Orthonormal Walsh-Hadamard transform of the last axis, in blocks.

  Args:
    x: [..., n] float.
    block_size: a power of two dividing n; default the largest one.

  Returns:
    [..., n]: each block of `block_size` entries times H / sqrt(block_size)
    (symmetric and orthogonal, so `hadamard` is its own inverse).
  """
  n = x.shape[-1]
  block = block_size or (n & -n if n else 1)
  if block & (block - 1) or n % block:
    raise ValueError(f"hadamard: block_size must be a power of two dividing "
                     f"the last axis ({n}), got {block}")
  y = x.reshape(*x.shape[:-1], n // block, block)
  h = 1
  while h < block:
    y = y.reshape(*y.shape[:-1], block // (2 * h), 2, h)
    y = jnp.stack([y[..., 0, :] + y[..., 1, :], y[..., 0, :] - y[..., 1, :]],
                  axis=-2).reshape(*x.shape[:-1], n // block, block)
    h *= 2
  return (y / math.sqrt(block)).reshape(x.shape)


@functools.cache
def gain_levels(dim: int, bits: int) -> np.ndarray:
  """2^bits gain levels, 0 first, Lloyd-Max for the chi(dim) law.

  The norm of dim iid N(0, 1) weights has density ~ r^(dim-1) e^(-r^2/2);
  the levels minimise its mean squared quantization error with the lowest
  level held at 0. float32 [2^bits], increasing.
  """
  r = np.linspace(0.0, math.sqrt(dim) + 8.0, 20001)
  density = np.exp((dim - 1) * np.log(np.maximum(r, 1e-300)) - r * r / 2)
  levels = math.sqrt(dim) * np.linspace(0.0, 1.6, 2 ** bits)
  for _ in range(500):
    edges = (levels[1:] + levels[:-1]) / 2
    cell = np.searchsorted(edges, r)
    mass = np.bincount(cell, density, len(levels))
    mean = np.bincount(cell, density * r, len(levels)) / np.maximum(mass,
                                                                    1e-300)
    levels = np.where(mass > 0, mean, levels)
    levels[0] = 0.0
  return np.sort(levels).astype(np.float32)


def _bit_positions(n: int, bits: int):
  position = jnp.arange(n, dtype=jnp.int32) * bits
  return position // 32, (position % 32).astype(jnp.uint32)


def pack_bits(codes: jax.Array, bits: int) -> jax.Array:
  """[n] uint32 codes below 2^bits -> [ceil(n * bits / 32)] uint32 words."""
  n = codes.shape[0]
  num_words = -(-n * bits // 32)
  word, offset = _bit_positions(n, bits)
  codes = codes.astype(jnp.uint32)
  spill = offset + bits > 32
  high = jnp.where(spill, codes >> jnp.where(spill, 32 - offset, 0), 0)
  # The bit ranges are disjoint, so adding is or-ing.
  words = jnp.zeros(num_words + 1, jnp.uint32)
  words = words.at[word].add(codes << offset).at[word + 1].add(high)
  return words[:num_words]


def unpack_bits(words: jax.Array, bits: int, n: int) -> jax.Array:
  """Inverse of `pack_bits`: [n] uint32."""
  word, offset = _bit_positions(n, bits)
  padded = jnp.concatenate([words, jnp.zeros(1, jnp.uint32)])
  spill = offset + bits > 32
  high = jnp.where(spill, padded[word + 1] << jnp.where(spill, 32 - offset, 0),
                   0)
  mask = jnp.uint32(2 ** bits - 1)
  return ((padded[word] >> offset) | high) & mask


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=("index_words", "gain_words", "scales"),
                   meta_fields=("rows", "cols", "dim", "pulses", "gain_bits"))
@dataclasses.dataclass(frozen=True)
class PVQWeight:
  """A PVQ-coded [rows, cols] matrix; groups of `dim` along each row.

  Attributes:
    index_words: uint32, the groups' Fischer indices bit-packed, row-major.
    gain_words: uint32, their gain codes bit-packed.
    scales: [rows] float16, each row's gain scale.
  """

  index_words: jax.Array
  gain_words: jax.Array
  scales: jax.Array
  rows: int
  cols: int
  dim: int
  pulses: int
  gain_bits: int

  @property
  def index_bits(self) -> int:
    return math.ceil(math.log2(int(pvq_size_table(self.dim,
                                                  self.pulses)[-1, -1])))

  @property
  def stored_bytes(self) -> int:
    return sum(a.size * a.dtype.itemsize
               for a in (self.index_words, self.gain_words, self.scales))

  @property
  def bits_per_weight(self) -> float:
    return 8 * self.stored_bytes / (self.rows * self.cols)


def _validate(w, dim, pulses, gain_bits, hessian):
  if w.ndim != 2 or not jnp.issubdtype(w.dtype, jnp.floating):
    raise ValueError(f"pvq_quantize: w must be a float [rows, cols] matrix, "
                     f"got {w.dtype} {w.shape}")
  if not isinstance(dim, int) or dim < 1 or w.shape[1] % dim:
    raise ValueError(f"pvq_quantize: the group size D={dim!r} must divide "
                     f"the row length {w.shape[1]}")
  pvq_size_table(dim, pulses)
  if not isinstance(gain_bits, int) or not 1 <= gain_bits <= 16:
    raise ValueError(f"pvq_quantize: gain_bits must be an int in [1, 16], "
                     f"got {gain_bits!r}")
  if hessian is not None and hessian.shape != (w.shape[1],) * 2:
    raise ValueError(f"pvq_quantize: hessian must be [cols, cols] = "
                     f"{(w.shape[1],) * 2}, got {hessian.shape}")


def _quantize_groups(groups, row_scale, levels, pulses):
  """groups [R, D], row_scale [R, 1] -> (shape y [R, D], gain code [R])."""
  y = pvq_search(groups, pulses)
  unit = y / jnp.linalg.norm(y.astype(jnp.float32), axis=-1, keepdims=True)
  best_gain = jnp.sum(groups * unit, axis=-1, keepdims=True)
  candidates = row_scale * levels  # [R, 2^b]
  code = jnp.argmin(jnp.abs(candidates - best_gain), axis=-1)
  gain = jnp.take_along_axis(candidates, code[:, None], axis=-1)
  return y, unit * gain, code


@functools.partial(jax.jit, static_argnames=("dim", "pulses", "gain_bits"))
def _quantize(w, hessian, *, dim, pulses, gain_bits):
  rows, cols = w.shape
  w = w.astype(jnp.float32)
  scales = jnp.sqrt(jnp.mean(w * w, axis=1)).astype(jnp.float16)
  row_scale = scales.astype(jnp.float32)[:, None]
  levels = jnp.asarray(gain_levels(dim, gain_bits))
  if hessian is None:
    y, _, code = _quantize_groups(w.reshape(-1, dim),
                                  jnp.repeat(row_scale, cols // dim, axis=0),
                                  levels, pulses)
    y, code = y.reshape(rows, cols // dim, dim), code.reshape(rows, -1)
  else:
    y, code = _gptq(w, hessian, row_scale, levels, dim=dim, pulses=pulses)
  index = pvq_index(y, pulses).reshape(-1)
  bits = math.ceil(math.log2(int(pvq_size_table(dim, pulses)[-1, -1])))
  return (pack_bits(index, bits),
          pack_bits(code.reshape(-1).astype(jnp.uint32), gain_bits), scales)


def _gptq(w, hessian, row_scale, levels, *, dim, pulses):
  """GPTQ over column groups: (y [rows, G, D], gain codes [rows, G])."""
  rows, cols = w.shape
  h = hessian.astype(jnp.float32)
  dead = jnp.diag(h) == 0
  h = h + jnp.diag(jnp.where(dead, 1.0, 0.0)
                   + HESSIAN_DAMPING * jnp.mean(jnp.diag(h)))
  w = jnp.where(dead[None], 0.0, w)
  # Upper factor U of H^-1 = U^T U: row c of U spreads column c's error.
  upper = jnp.linalg.cholesky(jnp.linalg.inv(h)).T
  column = jnp.arange(cols)

  def one_group(w, g):
    start = g * dim
    groups = jax.lax.dynamic_slice_in_dim(w, start, dim, axis=1)
    y, w_hat, code = _quantize_groups(groups, row_scale, levels, pulses)
    u_rows = jax.lax.dynamic_slice_in_dim(upper, start, dim, axis=0)
    u_block = jax.lax.dynamic_slice_in_dim(u_rows, start, dim, axis=1)
    # Errors scaled as GPTQ's (w - q) / U_cc, all D columns at once.
    scaled = jax.scipy.linalg.solve_triangular(
        u_block, (groups - w_hat).T, trans=1, lower=False).T
    later = column[None] >= start + dim
    return w - scaled @ jnp.where(later, u_rows, 0.0), (y, code)

  _, (y, code) = jax.lax.scan(one_group, w, jnp.arange(cols // dim))
  return jnp.swapaxes(y, 0, 1), code.T


def pvq_quantize(w: jax.Array, *, dim: int = 8, pulses: int = 13,
                 gain_bits: int = 3, hessian: jax.Array | None = None
                 ) -> PVQWeight:
  """Codes each group of `dim` consecutive weights of every row.

  Args:
    w: [rows, cols] float; cols must be a multiple of dim.
    dim: group size D.
    pulses: K, the pyramid's L1 radius; V(D, K) must be < 2^32.
    gain_bits: bits of each group's gain code.
    hessian: optional [cols, cols] H = X^T X of the inputs that multiply w's
      rows (y = x @ w.T); adds GPTQ error feedback (module docstring).

  Returns:
    The coded matrix.
  """
  _validate(w, dim, pulses, gain_bits, hessian)
  index_words, gain_words, scales = _quantize(
      w, hessian, dim=dim, pulses=pulses, gain_bits=gain_bits)
  return PVQWeight(index_words, gain_words, scales, w.shape[0], w.shape[1],
                   dim, pulses, gain_bits)


@jax.jit
def pvq_dequantize(q: PVQWeight) -> jax.Array:
  """The decoded matrix, [rows, cols] float32."""
  groups = q.rows * q.cols // q.dim
  index = unpack_bits(q.index_words, q.index_bits, groups)
  code = unpack_bits(q.gain_words, q.gain_bits, groups)
  y = pvq_unindex(index, q.dim, q.pulses).astype(jnp.float32)
  unit = y / jnp.linalg.norm(y, axis=-1, keepdims=True)
  levels = jnp.asarray(gain_levels(q.dim, q.gain_bits))[code]
  scale = jnp.repeat(q.scales.astype(jnp.float32), q.cols // q.dim)
  return (unit * (levels * scale)[:, None]).reshape(q.rows, q.cols)


@jax.jit
def pvq_matmul_reference(x: jax.Array, q: PVQWeight) -> jax.Array:
  """x [..., cols] @ decoded.T -> [..., rows] float32: decode, then matmul."""
  return jnp.einsum("...c,rc->...r", x.astype(jnp.float32),
                    pvq_dequantize(q))


def pvq_matmul(x: jax.Array, q: PVQWeight, *,
               implementation: str | None = None) -> jax.Array:
  """x [..., cols] @ W_hat.T -> [..., rows] float32, W_hat = decoded q.

  Only the XLA reference exists so far (a fused decode-matmul kernel is
  future work); `implementation` follows `ops._dispatch`.
  """
  if x.shape[-1] != q.cols:
    raise ValueError(f"pvq_matmul: x must be [..., {q.cols}], got {x.shape}")
  return _dispatch.call("pvq_matmul",
                        {"xla": lambda: pvq_matmul_reference(x, q)},
                        implementation)
