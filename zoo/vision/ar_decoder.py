"""The autoregressive baseline: a transformer decoder on the same encoder.

Inputs are token embeddings plus learned slot positions. Each layer is
causal self-attention (RoPE, with a KV cache;
`zoo.layers.transformer.Attention`), then attention to the visual tokens and
a SwiGLU MLP (`recognition.CrossLayer`). Training is teacher-forced on
[BOS, c_1, ..., c_L]. `greedy_decode` emits one token per decoder step in a
`lax.while_loop` with static shapes: a [B, S] token buffer, a KV cache of S
slots, the visual keys and values projected once before the loop, and an
early exit once every row has produced EOS.
"""

from typing import NamedTuple

import flax.linen as nn
import jax
from jax import numpy as jnp

from ops.attention import causal_mask
from zoo import sharding
from zoo.layers.transformer import Attention
from zoo.lm import special_tokens
from zoo.vision.recognition import (
    CrossLayer,
    RecognizerConfig,
    StripEncoder,
    cut_at_eos,
    head,
    learned,
)


class ARDecoding(NamedTuple):
  """tokens: [B, S], cut at EOS; steps: scalar int32 decoder calls."""

  tokens: jax.Array
  steps: jax.Array


class ARRecognizer(nn.Module):
  """images [B, H, W] and decoder inputs [B, T] -> logits [B, T, V]."""

  cfg: RecognizerConfig

  def setup(self):
    cfg = self.cfg
    self.encoder = StripEncoder(cfg)
    self.visual_pos = learned(self, "visual_pos", cfg.num_visual)
    self.slot_pos = learned(self, "slot_pos", cfg.num_slots)
    self.embedding = nn.Embed(
        cfg.vocab_size, cfg.embed_dim,
        embedding_init=nn.with_logical_partitioning(
            nn.initializers.normal(cfg.embed_dim ** -0.5),
            (sharding.VOCAB, sharding.EMBED)))
    self.attention_norms = [nn.RMSNorm(name=f"attention_norm_{i}")
                            for i in range(cfg.decoder_layers)]
    self.attentions = [
        Attention(cfg.num_heads, cfg.num_heads, cfg.head_dim, 10_000.0,
                  jnp.float32, name=f"attention_{i}")
        for i in range(cfg.decoder_layers)]
    self.cross = [CrossLayer(cfg, name=f"cross_{i}")
                  for i in range(cfg.decoder_layers)]
    self.final_norm = nn.RMSNorm()
    self.head = head(cfg.vocab_size, (sharding.EMBED, sharding.VOCAB),
                     "head")

  def memory(self, images):
    """images [B, H, W] -> per layer (keys, values) [B, N, heads, Dh]."""
    visual = self.encoder(images) + self.visual_pos
    return tuple(layer.keys_values(visual) for layer in self.cross)

  def _decode(self, tokens, positions, qq_mask, memory, cache=None,
              prefix_len=None):
    """tokens [B, T] at slots positions [B, T] -> (logits [B, T, V],
    updated cache or None)."""
    # RoPE in self-attention is relative; reading the i-th character needs
    # the absolute slot, as in the transformer decoders of NRTR or PARSeq.
    x = self.embedding(tokens) + self.slot_pos[positions]
    keys, values = [], []
    for i in range(self.cfg.decoder_layers):
      kv = None if cache is None else (cache[0][i], cache[1][i])
      attended, kv = self.attentions[i](self.attention_norms[i](x),
                                        positions, qq_mask, kv, prefix_len)
      x = self.cross[i](x + attended, memory[i])
      if kv is not None:
        keys.append(kv[0])
        values.append(kv[1])
    logits = self.head(self.final_norm(x))
    return logits, (None if cache is None else
                    (jnp.stack(keys), jnp.stack(values)))

  def __call__(self, images, tokens):
    """Teacher forcing: tokens [B, T] start with BOS; logits [B, T, V]."""
    b, t = tokens.shape
    positions = jnp.broadcast_to(jnp.arange(t), (b, t))
    logits, _ = self._decode(tokens, positions, causal_mask(t),
                             self.memory(images))
    return logits

  def step(self, token, position, cache, memory):
    """One decoder call.

    Args:
      token: [B] the previous token (BOS first).
      position: scalar int, its slot; the cache holds slots before it.
      cache: (keys, values), each [layers, B, S, heads, Dh].
      memory: from `memory`.

    Returns:
      (logits [B, V] of the next token, cache with slot `position`).
    """
    b = token.shape[0]
    positions = jnp.full((b, 1), position, jnp.int32)
    logits, cache = self._decode(
        token[:, None], positions, causal_mask(1), memory, cache,
        jnp.full((b,), position, jnp.int32))
    return logits[:, 0], cache


def greedy_decode(model: ARRecognizer, variables, images) -> ARDecoding:
  """images [B, H, W] -> ARDecoding: argmax token by token until every row
  has emitted EOS or all S slots are filled; PAD after each row's EOS."""
  cfg = model.cfg
  b, s = images.shape[0], cfg.num_slots
  memory = model.apply(variables, images, method=ARRecognizer.memory)
  shape = (cfg.decoder_layers, b, s, cfg.num_heads, cfg.head_dim)
  cache = (jnp.zeros(shape), jnp.zeros(shape))

  def unfinished(carry):
    step, _, _, _, done = carry
    return (step < s) & ~jnp.all(done)

  def advance(carry):
    step, previous, tokens, cache, done = carry
    logits, cache = model.apply(variables, previous, step, cache, memory,
                                method=ARRecognizer.step)
    token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    tokens = tokens.at[:, step].set(token)
    return step + 1, token, tokens, cache, done | (token == special_tokens.EOS)

  start = (jnp.int32(0), jnp.full((b,), special_tokens.BOS, jnp.int32),
           jnp.full((b, s), special_tokens.PAD, jnp.int32), cache,
           jnp.zeros((b,), jnp.bool_))
  steps, _, tokens, _, _ = jax.lax.while_loop(unfinished, advance, start)
  return ARDecoding(cut_at_eos(tokens), steps)
