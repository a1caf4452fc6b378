"""Future Token Prediction (FTP): a causal encoder whose state at t is
decoded into the next N tokens (Walker, 2024, "Future Token Prediction:
causal language modelling with per-token semantic state vector for
multi-token prediction"; no official code).

    e_t      = DecoderLM body (final-normed states), causal
    p_t      = Linear(E -> P E)(e_t) as P pseudo-tokens [P, E]
    decoder  : one layer over [start; x_{t+1} .. x_{t+N-1}] (learned
               positions): causal self-attention, cross-attention to p_t
               only, MLP; tied head -> logits for x_{t+1} .. x_{t+N}
    loss     = sum_j g^(j-1) CE_j / sum_j g^(j-1), at `positions_per_window`
               sampled positions t of each window

Position t's predictions read nothing but e_t and its own teacher tokens,
so every position's future is decoded in one batch [B * K, N]
(rematerialised: the decoder's activations are recomputed in the
backward pass). Next-token logits are the decoder's first prediction from
[start] alone: `__call__` and `extend` give them for every position, so
FTP decodes through the same `CachedLM`-style interface as a GPT.

Ours (UNVERIFIED): N = 4, P = 4, g = 0.8, 16 positions per window, the
decoder's width and heads equal to the encoder's, learned decoder
positions, the start vector a parameter, the tied head shared with the
encoder's embedding.
"""

import dataclasses
import math

import flax.linen as nn
import flax.struct
import jax
from jax import numpy as jnp

from zoo import sharding
from zoo.errors import ConfigError
from zoo.layers.norms.rms import RMSNorm
from zoo.layers.transformer import MLP, Projection
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM, KVCache


@dataclasses.dataclass(frozen=True)
class FTPConfig:
  """Attributes:

    encoder: the causal encoder (a `DecoderLM` whose head is the tied one).
    future: N, tokens predicted from each state.
    pseudo_tokens: P, pseudo-tokens each state is projected to.
    gamma: g, the weight decay over the N predictions.
    positions_per_window: K, positions t decoded per training window.
    decoder_mlp_dim: the decoder layer's MLP width.
  """

  encoder: DecoderConfig = DecoderConfig(
      vocab_size=2048, embed_dim=128, num_layers=4, num_heads=4,
      mlp_dim=384)
  future: int = 4
  pseudo_tokens: int = 4
  gamma: float = 0.8
  positions_per_window: int = 16
  decoder_mlp_dim: int = 384

  def __post_init__(self):
    if self.future < 1 or self.pseudo_tokens < 1:
      raise ConfigError(f"FTPConfig: future (N) and pseudo_tokens (P) must "
                        f"be >= 1, got N={self.future}, "
                        f"P={self.pseudo_tokens}")
    if not (math.isfinite(self.gamma) and 0 < self.gamma <= 1):
      raise ConfigError(f"FTPConfig: gamma must be in (0, 1], got "
                        f"{self.gamma}")
    if self.positions_per_window < 1:
      raise ConfigError(f"FTPConfig: positions_per_window must be >= 1, "
                        f"got {self.positions_per_window}")

  def weights(self) -> jax.Array:
    """[N] g^(j-1) / sum_j g^(j-1)."""
    w = self.gamma ** jnp.arange(self.future, dtype=jnp.float32)
    return w / w.sum()


def _attention(x, memory, heads: int, causal: bool, name: str):
  """Multi-head attention of x [M, T, E] over memory [M, S, E]."""
  width = x.shape[-1]
  axes = sharding.EMBED, sharding.HEADS, sharding.KV
  project = lambda source, part: Projection(
      (heads, width // heads), axes, name=f"{name}_{part}")(source)
  out = jax.nn.dot_product_attention(project(x, "query"),
                                     project(memory, "key"),
                                     project(memory, "value"),
                                     is_causal=causal)
  return Projection((width,), (sharding.HEADS, sharding.KV, sharding.EMBED),
                    contract=2, name=f"{name}_out")(out)


class FutureDecoder(nn.Module):
  """The one-layer decoder: [start; teacher tokens] -> N states."""

  heads: int
  mlp_dim: int

  @nn.compact
  def __call__(self, inputs, pseudo):
    """inputs [M, n, E] (start first), pseudo [M, P, E] -> [M, n, E]."""
    norm = lambda name: RMSNorm().make(jnp.float32, name)
    h = inputs
    normed = norm("self_norm")(h)
    h = h + _attention(normed, normed, self.heads, True, "self")
    h = h + _attention(norm("cross_norm")(h), pseudo, self.heads, False,
                       "cross")
    h = h + MLP(self.mlp_dim, jnp.float32, name="mlp")(norm("mlp_norm")(h))
    return norm("final_norm")(h)


class FTP(nn.Module):
  config: FTPConfig

  def setup(self):
    cfg, width = self.config, self.config.encoder.embed_dim
    self.encoder = DecoderLM(cfg.encoder)
    self.to_pseudo = Projection((cfg.pseudo_tokens, width),
                                (sharding.EMBED, None, None))
    self.start = self.param("start", nn.initializers.normal(width ** -0.5),
                            (width,))
    self.decoder_positions = self.param(
        "decoder_positions", nn.initializers.normal(0.02),
        (cfg.future, width))
    self.decoder = nn.remat(FutureDecoder)(
        cfg.encoder.num_heads, cfg.decoder_mlp_dim)

  def states(self, tokens):
    """e [B, T, E] of tokens [B, T]."""
    return self.encoder.states(tokens)

  def decode(self, states, teacher):
    """Logits [..., n + 1, V] of x_{t+1..t+n+1} from states [..., E] and
    teacher tokens [..., n] (x_{t+1..t+n}; n < N)."""
    lead = states.shape[:-1]
    width = states.shape[-1]
    pseudo = self.to_pseudo(states).reshape(-1, self.config.pseudo_tokens,
                                            width)
    n = teacher.shape[-1] + 1
    start = jnp.broadcast_to(self.start, (pseudo.shape[0], 1, width))
    inputs = jnp.concatenate(
        [start, self.encoder.embed(teacher.reshape(len(pseudo), n - 1))],
        axis=1)
    h = self.decoder(inputs + self.decoder_positions[:n], pseudo)
    return self.encoder.head_logits(h).reshape(*lead, n, -1)

  def __call__(self, tokens):
    """Next-token logits [B, T, V] (each state's first prediction)."""
    states = self.states(tokens)
    return self.decode(states, tokens[..., :0])[..., 0, :]

  def extend(self, tokens, cache: KVCache):
    """`__call__` over new tokens after a cache: ([B, T, V], cache)."""
    states, cache = self.encoder.extend_states(tokens, cache)
    return self.decode(states, tokens[..., :0])[..., 0, :], cache

  def future_logits(self, tokens, positions):
    """Training: tokens [B, L + 1], positions [B, K] (each <= L - N) ->
    (logits [B, K, N, V], targets [B, K, N])."""
    n = self.config.future
    states = self.states(tokens[:, :-1])
    picked = jnp.take_along_axis(states, positions[..., None], axis=1)
    offsets = positions[..., None] + 1 + jnp.arange(n)  # [B, K, N]
    targets = jnp.take_along_axis(
        tokens[:, None, :], offsets, axis=2)  # x_{t+1..t+N}
    return self.decode(picked, targets[..., :-1]), targets


@flax.struct.dataclass
class CachedFTP:
  """An FTP and its params as a decoding model (`vocab_size`, `init_cache`,
  `extend`), as `zoo.lm.decoder.CachedLM` is for a GPT."""

  params: dict
  module: FTP = flax.struct.field(pytree_node=False)

  @property
  def vocab_size(self) -> int:
    return self.module.config.encoder.vocab_size

  def init_cache(self, batch: int, capacity: int) -> KVCache:
    """The encoder's cache, as a GPT of the same shape has it."""
    encoder = DecoderLM(self.module.config.encoder)
    return CachedLM(self.params["encoder"], encoder).init_cache(batch,
                                                               capacity)

  def extend(self, tokens, cache, positions=None, qq_mask=None):
    if positions is not None or qq_mask is not None:
      raise ValueError("CachedFTP.extend: only causal extension is "
                       "supported (no positions or qq_mask)")
    return self.module.apply({"params": self.params}, tokens, cache,
                             method=FTP.extend)


def build(config: FTPConfig) -> FTP:
  return FTP(config)
