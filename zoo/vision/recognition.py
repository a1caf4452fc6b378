"""What the line recognizers share: vocabulary, config, encoder, layers, loss.

A line image [H, W] is read into `num_slots = max_len + 1` tokens: the
characters, EOS, then PAD. Token ids follow `zoo.lm.special_tokens` (PAD,
BOS, EOS, MASK first); character class c is token `CHAR_BASE + c`.

The visual encoder is a small SVTR-like stack: a conv stem (two stride-2
and one stride-1 3x3 convs) that downsamples by 4, a conv that collapses the
height into one token per column (W/4 visual tokens), learned positions,
then bidirectional RoPE transformer blocks.
"""

import dataclasses
from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from zoo import sharding
from zoo.errors import ConfigError
from zoo.layers.transformer import MLP, Block, Projection
from zoo.lm import special_tokens

CHAR_BASE = len(special_tokens.NAMES)
# Downsampling of the conv stem: one visual token per 4 pixel columns.
STRIDE = 4


@dataclasses.dataclass(frozen=True)
class RecognizerConfig:
  """Attributes:

    decoder: "parallel" (CPPD) or "autoregressive" (the baseline), both on
      the same encoder.
    image_height, image_width: input size; multiples of 4.
    max_len: most characters per line; decoders emit max_len + 1 slots.
    num_classes: character classes (10 digits).
    embed_dim: width of every token.
    num_heads: attention heads; embed_dim / num_heads must be even.
    mlp_dim: SwiGLU hidden width.
    encoder_layers: transformer blocks over the visual tokens.
    decoder_layers: CPPD's counting and ordering layers each; the
      autoregressive decoder's layers.
    side_loss_weight: w in CPPD's loss `edge + w (count + order)`; 0 trains
      the plain parallel decoder (no counting or ordering losses).
    label_smoothing: of the character cross-entropy (both decoders).
  """

  decoder: Literal["parallel", "autoregressive"] = "parallel"
  image_height: int = 16
  image_width: int = 96
  max_len: int = 8
  num_classes: int = 10
  embed_dim: int = 64
  num_heads: int = 2
  mlp_dim: int = 192
  encoder_layers: int = 2
  decoder_layers: int = 2
  side_loss_weight: float = 1.0
  label_smoothing: float = 0.1

  def __post_init__(self):
    if self.decoder not in ("parallel", "autoregressive"):
      raise ConfigError(f"model.decoder must be parallel or autoregressive, "
                        f"got {self.decoder!r}")
    if self.image_height % STRIDE or self.image_width % STRIDE:
      raise ConfigError(f"model.image_height and image_width must be "
                        f"multiples of {STRIDE}, got {self.image_height}x"
                        f"{self.image_width}")
    if self.num_visual < self.num_slots:
      raise ConfigError(f"model.image_width={self.image_width} gives "
                        f"{self.num_visual} visual tokens, fewer than the "
                        f"{self.num_slots} output slots")
    if self.embed_dim % self.num_heads or self.head_dim % 2:
      raise ConfigError(f"model.embed_dim={self.embed_dim} must split into "
                        f"{self.num_heads} heads of even width")
    if min(self.max_len, self.num_classes, self.encoder_layers,
           self.decoder_layers) < 1:
      raise ConfigError("model.max_len, num_classes, encoder_layers and "
                        "decoder_layers must be >= 1")
    if self.side_loss_weight < 0:
      raise ConfigError(f"model.side_loss_weight must be >= 0, got "
                        f"{self.side_loss_weight}")
    if not 0 <= self.label_smoothing < 1:
      raise ConfigError(f"model.label_smoothing must be in [0, 1), got "
                        f"{self.label_smoothing}")

  @property
  def vocab_size(self) -> int:
    return CHAR_BASE + self.num_classes

  @property
  def num_slots(self) -> int:
    return self.max_len + 1

  @property
  def num_visual(self) -> int:
    return self.image_width // STRIDE

  @property
  def head_dim(self) -> int:
    return self.embed_dim // self.num_heads


def label_tokens(classes: Sequence[int], max_len: int) -> np.ndarray:
  """Character classes -> [max_len + 1] int32: tokens, EOS, then PAD."""
  if len(classes) > max_len:
    raise ValueError(f"label_tokens: {len(classes)} characters exceed "
                     f"max_len={max_len}")
  tokens = np.full(max_len + 1, special_tokens.PAD, np.int32)
  tokens[:len(classes)] = CHAR_BASE + np.asarray(classes, np.int32)
  tokens[len(classes)] = special_tokens.EOS
  return tokens


def cut_at_eos(tokens: jax.Array) -> jax.Array:
  """[B, S] ids with every slot after a row's first EOS set to PAD."""
  is_eos = tokens == special_tokens.EOS
  after = jnp.cumsum(is_eos, axis=1) - is_eos > 0
  return jnp.where(after, special_tokens.PAD, tokens)


def sequence_loss(logits, labels, label_smoothing: float):
  """Label-smoothed cross-entropy over the slots up to and including EOS.

  As in CPPD's code, the smoothed target puts 1 - eps on the label and
  eps / (V - 1) on each other class.

  Args:
    logits: [B, S, V].
    labels: [B, S] tokens, PAD after EOS (PAD slots are not scored).
    label_smoothing: eps.

  Returns:
    (mean loss over scored slots, {"token_accuracy", "sequence_accuracy"}
    of the argmax cut at EOS).
  """
  vocab = logits.shape[-1]
  scored = labels != special_tokens.PAD
  one_hot = jax.nn.one_hot(labels, vocab)
  target = (one_hot * (1 - label_smoothing)
            + (1 - one_hot) * label_smoothing / (vocab - 1))
  per_slot = -jnp.sum(target * jax.nn.log_softmax(logits), axis=-1)
  loss = jnp.sum(jnp.where(scored, per_slot, 0.0)) / jnp.maximum(
      jnp.sum(scored), 1)
  predicted = cut_at_eos(jnp.argmax(logits, axis=-1))
  correct = predicted == labels
  metrics = {
      "token_accuracy": jnp.sum(correct & scored) / jnp.maximum(
          jnp.sum(scored), 1),
      "sequence_accuracy": jnp.mean(jnp.all(correct, axis=1)),
  }
  return loss, metrics


def learned(module: nn.Module, name: str, rows: int):
  """A learned [rows, embed_dim] table (positions, queries) of `module`,
  initialised N(0, 1): the scale of the RMS-normalised tokens it joins, so
  positions count from the start."""
  return module.param(name, nn.with_logical_partitioning(
      nn.initializers.normal(1.0), (None, sharding.EMBED)),
      (rows, module.cfg.embed_dim))


def head(features: int, axes, name: str) -> nn.Dense:
  """A linear output head (lecun-normal weights, zero bias) whose kernel
  has logical axes `axes` (input, output)."""
  return nn.Dense(
      features, name=name,
      kernel_init=nn.with_logical_partitioning(
          nn.initializers.lecun_normal(), axes),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(),
                                             axes[1:]))


def _conv(features, kernel, strides, padding, name):
  return nn.Conv(
      features, kernel, strides, padding=padding, name=name,
      kernel_init=nn.with_logical_partitioning(
          nn.initializers.lecun_normal(), (None, None, None, sharding.EMBED)))


class StripEncoder(nn.Module):
  """images [B, H, W] in [0, 1] -> visual tokens [B, W / 4, E]."""

  cfg: RecognizerConfig

  @nn.compact
  def __call__(self, images):
    cfg = self.cfg
    x = images[..., None]
    x = nn.gelu(_conv(cfg.embed_dim // 2, (3, 3), 2, "SAME", "stem_0")(x))
    x = nn.gelu(_conv(cfg.embed_dim, (3, 3), 2, "SAME", "stem_1")(x))
    x = nn.gelu(_conv(cfg.embed_dim, (3, 3), 1, "SAME", "stem_2")(x))
    # One token per column: a conv over the remaining height.
    x = _conv(cfg.embed_dim, (cfg.image_height // STRIDE, 1), 1, "VALID",
             "columns")(x)[:, 0]
    # Blank columns give all-zero tokens, which the blocks' RMSNorm would
    # blow up; a learned position per column (as SVTR adds after its patch
    # embedding) gives every token a scale.
    x = x + learned(self, "positions", cfg.num_visual)
    b, n = x.shape[:2]
    positions = jnp.broadcast_to(jnp.arange(n), (b, n))
    everything = jnp.ones((n, n), jnp.bool_)
    for i in range(cfg.encoder_layers):
      x, _ = Block(cfg.num_heads, cfg.num_heads, cfg.head_dim, cfg.mlp_dim,
                   10_000.0, jnp.float32, name=f"block_{i}")(
                       x, positions, everything)
    x = nn.RMSNorm(name="final_norm")(x)
    return nn.with_logical_constraint(
        x, (sharding.BATCH, sharding.LENGTH, sharding.EMBED))


class CrossLayer(nn.Module):
  """x + attend(norm(x), norm(memory)), then x + mlp(norm(x)).

  `keys_values(memory)` projects the memory once; `__call__` attends to it,
  so a decoding loop can project the visual tokens a single time. There is
  no position mechanism inside: the memory is attended as a set.
  """

  cfg: RecognizerConfig

  def setup(self):
    cfg = self.cfg
    heads = (sharding.EMBED, sharding.HEADS, sharding.KV)
    shape = (cfg.num_heads, cfg.head_dim)
    self.query_norm = nn.RMSNorm()
    self.memory_norm = nn.RMSNorm()
    self.mlp_norm = nn.RMSNorm()
    self.query = Projection(shape, heads)
    self.key = Projection(shape, heads)
    self.value = Projection(shape, heads)
    self.out = Projection((cfg.embed_dim,),
                          (sharding.HEADS, sharding.KV, sharding.EMBED),
                          contract=2)
    self.mlp = MLP(cfg.mlp_dim, jnp.float32)

  def keys_values(self, memory):
    """[B, N, E] -> (keys, values), each [B, N, heads, head_dim]."""
    memory = self.memory_norm(memory)
    return self.key(memory), self.value(memory)

  def __call__(self, x, keys_values):
    """x: [B, T, E]; keys_values from `keys_values`. Returns [B, T, E]."""
    keys, values = keys_values
    attended = jax.nn.dot_product_attention(
        self.query(self.query_norm(x)), keys, values)
    x = x + self.out(attended)
    return x + self.mlp(self.mlp_norm(x))
