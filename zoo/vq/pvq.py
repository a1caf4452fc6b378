"""PVQ for LLMs: weight-only pyramid vector quantization of a decoder LM.

    hessians = projection_hessians(lm, train_windows)        # optional
    coded = quantize_lm(lm, PVQConfig(), hessians)
    logits = apply_rotated(lm, coded, tokens)                 # [B, T, V]

Every `Projection` of the model (query, key, value, out, gate, up, down)
is coded; embeddings, norms and the tied head stay fp32. Coherence
processing: each projection's input gets its own randomized Hadamard
rotation R = diag(s) H (`ops.pvq.hadamard`; a width of 192 is three blocks
of 64: ours), so the model computes (x R) (R^T W) = x W and the rotated
weights R^T W, near iid Gaussian, are what PVQ codes: groups of D input
weights of every output channel (`ops.pvq_quantize`). At run time
`apply_rotated` rotates each projection's input and multiplies by the
decoded weights (`ops.pvq_matmul`), as a deployment would.

With Hessians, PVQ uses GPTQ's error feedback with H = X^T X of each
projection's inputs, taken once from the fp32 model on calibration windows
(ours: not re-taken layer by layer from the partly quantized model, as
GPTQ's sequential mode does) and rotated like the weights, R^T H R.

The baseline is `rtn`: round-to-nearest INT-b in groups along the input,
an fp16 scale and zero per group, on the unrotated weights.
"""

import dataclasses
import functools

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from ops import pvq as pvq_ops
from zoo import registry
from zoo.layers.transformer import Projection

SYSTEM = registry.System(
    name="pvq",
    family="vq",
    paper="Pyramid Vector Quantization for LLMs",
    summary="Weights in groups of 8 on the pyramid P(8, 13) (Fischer "
            "index) with a 3-bit gain after randomized Hadamard rotations, "
            "with GPTQ Hessian feedback: 3.19 bits per weight.",
    claim="eval.claims.pvq:check",
    datasets=("train.data.builders.stdlib_bpe:StdlibTextBpe",),
)

Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PVQConfig:
  """Attributes:

    dim: group size D.
    pulses: K; V(D, K) sets the index bits (P(8, 13): 22 bits).
    gain_bits: bits of each group's gain.
    seed: seeds the rotations' random signs.
  """

  dim: int = 8
  pulses: int = 13
  gain_bits: int = 3
  seed: int = 0


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=("signs", "weight"),
                   meta_fields=("features", "contract"))
@dataclasses.dataclass(frozen=True)
class RotatedWeight:
  """One projection in the rotated basis.

  Attributes:
    signs: [in] the rotation's random signs (R = diag(signs) H).
    weight: R^T W as [out, in]: float32, or PVQ-coded.
    features: the projection's output shape.
    contract: its number of input axes.
  """

  signs: jax.Array
  weight: jax.Array | pvq_ops.PVQWeight
  features: tuple[int, ...]
  contract: int


def _is_projection_call(context) -> bool:
  return (isinstance(context.module, Projection)
          and context.method_name == "__call__")


def projections(lm) -> dict[Path, tuple[jax.Array, int]]:
  """Every `Projection` of `lm`: path -> (kernel [*in, *out], input axes).

  Read from one abstract forward pass, so the input axes are those the
  model contracts (2 for the attention output [heads, head_dim, embed]).
  """
  contracts = {}

  def record(next_fun, args, kwargs, context):
    if _is_projection_call(context):
      contracts[context.module.path] = context.module.contract
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lm, jnp.zeros((1, 2), jnp.int32))
  return {path: (_at(lm.params, path)["kernel"], contract)
          for path, contract in sorted(contracts.items())}


def _as_matrix(kernel, contract):
  """[*in, *out] -> [in, out]."""
  in_size = int(np.prod(kernel.shape[:contract]))
  return kernel.reshape(in_size, -1)


def rotate(matrix_in_out, signs):
  """R^T W for W [in, out] as [out, in] (rows = output channels)."""
  return pvq_ops.hadamard((matrix_in_out * signs[:, None]).T)


def unrotate(rotated_out_in, signs):
  """Inverse of `rotate`: R W' for W' [out, in], as W [in, out]."""
  return pvq_ops.hadamard(rotated_out_in).T * signs[:, None]


def decoded_kernels(coded: dict[Path, RotatedWeight]) -> dict[Path, jax.Array]:
  """Each coded projection decoded back to the original basis, [in, out]."""
  return {path: unrotate(pvq_ops.pvq_dequantize(rw.weight), rw.signs)
          for path, rw in coded.items()}


def rotate_hessian(hessian, signs):
  """R^T H R for H [in, in]."""
  scaled = hessian * signs[:, None] * signs[None, :]
  return pvq_ops.hadamard(pvq_ops.hadamard(scaled).T).T


def rotated_weights(lm, seed: int = 0) -> dict[Path, RotatedWeight]:
  """Every projection of `lm` rotated, fp32 (nothing quantized)."""
  out = {}
  key = jax.random.key(seed)
  for i, (path, (kernel, contract)) in enumerate(projections(lm).items()):
    w = _as_matrix(kernel, contract)
    signs = jnp.where(jax.random.bernoulli(jax.random.fold_in(key, i), 0.5,
                                           (w.shape[0],)), 1.0, -1.0)
    out[path] = RotatedWeight(signs, rotate(w, signs),
                              tuple(kernel.shape[contract:]), contract)
  return out


def quantize_lm(lm, cfg: PVQConfig, hessians: dict | None = None
                ) -> dict[Path, RotatedWeight]:
  """PVQ codes of every projection of `lm` (a `CachedLM`).

  Args:
    lm: the model.
    cfg: the PVQ setting.
    hessians: optional path -> H [in, in] in the original basis
      (`projection_hessians`); adds GPTQ feedback.
  """
  coded = {}
  for path, rw in rotated_weights(lm, cfg.seed).items():
    h = None
    if hessians is not None:
      h = rotate_hessian(hessians[path], rw.signs)
    q = pvq_ops.pvq_quantize(rw.weight, dim=cfg.dim, pulses=cfg.pulses,
                             gain_bits=cfg.gain_bits, hessian=h)
    coded[path] = dataclasses.replace(rw, weight=q)
  return coded


def _matmul(x, weight):
  if isinstance(weight, pvq_ops.PVQWeight):
    return pvq_ops.pvq_matmul(x, weight)
  return x @ weight.T


@jax.jit
def apply_rotated(lm, weights: dict[Path, RotatedWeight], tokens):
  """Logits [B, T, V] with every projection run in its rotated basis.

  Args:
    lm: the `CachedLM` (its other params are used as they are).
    weights: path -> RotatedWeight for every projection.
    tokens: [B, T] ids.
  """
  def rotated_call(next_fun, args, kwargs, context):
    if not _is_projection_call(context):
      return next_fun(*args, **kwargs)
    module = context.module
    rw = weights[module.path]
    x = args[0]
    batch = x.shape[:x.ndim - rw.contract]
    x = x.reshape(*batch, -1).astype(jnp.float32)
    y = _matmul(pvq_ops.hadamard(x * rw.signs), rw.weight)
    y = y.reshape(*batch, *rw.features)
    bias = _at(lm.params, module.path).get("bias")
    return (y if bias is None else y + bias).astype(module.dtype)

  with nn.intercept_methods(rotated_call):
    return lm(tokens)


def _at(tree, path):
  for name in path:
    tree = tree[name]
  return tree


def projection_inputs(lm, tokens) -> dict[Path, jax.Array]:
  """Each projection's input on `tokens`, flattened to [B * T, in]."""
  captured = {}

  def record(next_fun, args, kwargs, context):
    if _is_projection_call(context):
      x, contract = args[0], context.module.contract
      captured[context.module.path] = x.reshape(-1, int(np.prod(
          x.shape[x.ndim - contract:]))).astype(jnp.float32)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    lm(tokens)
  return captured


def projection_hessians(lm, windows, batch: int = 8) -> dict[Path, jax.Array]:
  """H = X^T X [in, in] of every projection's inputs over `windows` [N, T]."""
  grams = jax.jit(lambda lm, t: {p: x.T @ x for p, x in
                                 projection_inputs(lm, t).items()})
  total = None
  for i in range(0, len(windows), batch):
    part = grams(lm, jnp.asarray(windows[i:i + batch]))
    total = part if total is None else jax.tree.map(jnp.add, total, part)
  return total


def rtn(w, *, bits: int, group: int) -> tuple[jax.Array, float]:
  """Round-to-nearest INT-b of w [rows, cols] in groups along each row.

  Each group stores an fp16 scale and zero (its min); returns the decoded
  matrix and its bits per weight, bits + 32 / group.
  """
  if w.shape[1] % group:
    raise ValueError(f"rtn: the group size {group} must divide the row "
                     f"length {w.shape[1]}")
  g = w.reshape(w.shape[0], -1, group).astype(jnp.float32)
  zero = jnp.min(g, axis=-1, keepdims=True).astype(jnp.float16)
  zero = zero.astype(jnp.float32)
  top = jnp.max(g, axis=-1, keepdims=True)
  scale = ((top - zero) / (2 ** bits - 1)).astype(jnp.float16)
  scale = jnp.maximum(scale.astype(jnp.float32), 1e-8)
  code = jnp.clip(jnp.round((g - zero) / scale), 0, 2 ** bits - 1)
  return (code * scale + zero).reshape(w.shape), bits + 32 / group


def rtn_lm(lm, *, bits: int, group: int):
  """`lm` with every projection kernel RTN-coded along its input."""
  params = jax.tree.map(lambda a: a, lm.params)  # a copy to overwrite
  for path, (kernel, contract) in projections(lm).items():
    w = _as_matrix(kernel, contract).T
    decoded = rtn(w, bits=bits, group=group)[0].T.reshape(kernel.shape)
    _at(params, path)["kernel"] = decoded
  return lm.replace(params=params)


def bits_per_weight(coded: dict[Path, RotatedWeight]) -> float:
  """Stored bits per projection weight over the whole model."""
  stored = sum(rw.weight.stored_bytes for rw in coded.values())
  count = sum(rw.weight.rows * rw.weight.cols for rw in coded.values())
  return 8 * stored / count
