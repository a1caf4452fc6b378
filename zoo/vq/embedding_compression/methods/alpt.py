"""ALPT (Li et al., 2023): low-precision rows with a learned per-row scale.

e = s_i * clip(round(v / s_i)) with LSQ's gradient to s_i (init 0.01, its
own learning rate 2e-5: the artifact's defaults). Stored: bits / 8 bytes
per entry plus a float32 scale per row (3.2x at INT8 and d = 16).

Ours: the scale's learning rate is set by storing s / c with
c = scale_lr / lr (under Adam a parameter stored divided by c moves c times
slower), so one optimizer serves; and rows keep a float32 master copy
(quantization-aware training), where the artifact stores the rounded rows
with stochastic rounding after each step and takes the scale's gradient in
a second pass.
"""

import dataclasses

from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    CompressionConfig,
    table,
)
from zoo.vq.embedding_compression.methods.quantized import fake_quantize

_MIN_SCALE = 1e-6


@dataclasses.dataclass(frozen=True)
class ALPT(CompressionConfig):
  """Attributes:

    bits: 8 or 16.
    init_scale: each row's initial scale.
    scale_lr_ratio: c, the scale's learning rate over the model's
      (2e-5 / 1e-3).
  """

  kind = "alpt"
  bits: int = 8
  init_scale: float = 0.01
  scale_lr_ratio: float = 0.02

  def __post_init__(self):
    super().__post_init__()
    if self.bits not in (8, 16):
      raise ValueError(f"alpt: bits must be 8 or 16, got {self.bits}")
    if not self.scale_lr_ratio > 0:
      raise ValueError(f"alpt: scale_lr_ratio must be > 0, got "
                       f"{self.scale_lr_ratio}")

  def stored(self, spec) -> int:
    return spec.num_ids * (spec.dim * self.bits // 8 + FLOAT_BYTES)

  def param_bytes(self, spec):
    if not self.fits(spec, self.stored(spec)):
      raise self.unreachable(spec, self.stored(spec))
    return self.stored(spec)

  def scales(self, module, spec):
    """The per-row scales [N, 1] (the parameter times c)."""
    stored = module.param(
        "scale", lambda key, shape: jnp.full(
            shape, self.init_scale / self.scale_lr_ratio, jnp.float32),
        (spec.num_ids, 1))
    return jnp.maximum(stored * self.scale_lr_ratio, _MIN_SCALE)

  def embed(self, module, ids, spec):
    self.param_bytes(spec)
    rows = table(module, "table", (spec.num_ids, spec.dim))
    scale = jnp.take(self.scales(module, spec), ids, axis=0)
    return fake_quantize(jnp.take(rows, ids, axis=0), scale, self.bits)
