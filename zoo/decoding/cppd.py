"""CPPD: Context Perception Parallel Decoder for text recognition.

After Du et al., "Context Perception Parallel Decoder for Scene Text
Recognition" (PaddleOCR's `rec_cppd_head.py`). The encoder's visual tokens
(+ learned positions) feed two stacks of layers in which every token attends
to the visual tokens only:

* character counting (CC, training only): one query per vocabulary class
  rides along the visual tokens; a head classifies how often that class
  occurs (0..max_len), cross-entropy;
* character ordering (CO): one query per output slot; a head's diagonal
  gives "slot occupied" logits (characters and EOS), binary cross-entropy;
* character prediction ("edge" attention): the CO slot features attend to
  the CC-refined visual tokens, softmax(P Wq (F Wk)^T) F Wv, then a linear
  map to the vocabulary; label-smoothed (0.1) cross-entropy.

Loss = edge + w (cc + co), each term a mean (cc over batch x classes, co
over batch x slots, edge over scored slots), w = 1 as in the reference.
With w = 0 the same network is the plain parallel decoder (PD). Since class
queries are never keys, the visual tokens evolve the same without them, so
inference drops them; nor are the ordering stack's visual tokens read after
its last layer, which therefore updates the slots only. One decoder pass,
argmax per slot, cut at the first EOS.

Simplifications, none of which changes who attends to what: layers are
pre-norm (RMSNorm, SwiGLU) rather than post-LayerNorm with a GELU MLP; the
edge attention is scaled by head_dim^-1/2 (the reference leaves it
unscaled); no drop-path; counting queries cover the whole token vocabulary
(PAD, BOS and MASK always count 0) and classify counts 0..max_len (the
reference's head has max_len outputs, so it cannot count max_len).
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import optax
from jax import numpy as jnp

from zoo import registry, sharding
from zoo.lm import special_tokens
from zoo.vision import ar_decoder
from zoo.vision.recognition import (
    CrossLayer,
    RecognizerConfig,
    StripEncoder,
    cut_at_eos,
    head,
    learned,
    sequence_loss,
)


class CPPDOutput(NamedTuple):
  """char_logits: [B, S, V]; count_logits: [B, V, max_len + 1] and
  order_logits: [B, S], or None when the side tasks were not run."""

  char_logits: jax.Array
  count_logits: jax.Array | None
  order_logits: jax.Array | None


def count_targets(labels: jax.Array, vocab_size: int) -> jax.Array:
  """[B, S] label tokens -> [B, V] int32 occurrences of each token.

  EOS counts once; PAD is not a character and counts zero.
  """
  counts = jnp.sum(jax.nn.one_hot(labels, vocab_size, dtype=jnp.int32),
                   axis=1)
  return counts.at[:, special_tokens.PAD].set(0)


def order_targets(labels: jax.Array) -> jax.Array:
  """[B, S] label tokens -> [B, S] float32, 1 on characters and EOS."""
  return (labels != special_tokens.PAD).astype(jnp.float32)


class ParallelDecoder(nn.Module):
  """visual tokens [B, N, E] -> CPPDOutput, in one pass.

  Initialise with `side_tasks=True` so that the side heads have parameters.
  """

  cfg: RecognizerConfig

  def setup(self):
    cfg = self.cfg
    self.visual_pos = learned(self, "visual_pos", cfg.num_visual)
    self.class_queries = learned(self, "class_queries", cfg.vocab_size)
    self.slot_queries = learned(self, "slot_queries", cfg.num_slots)
    self.counting = [CrossLayer(cfg, name=f"counting_{i}")
                     for i in range(cfg.decoder_layers)]
    self.ordering = [CrossLayer(cfg, name=f"ordering_{i}")
                     for i in range(cfg.decoder_layers)]
    self.edge = CrossLayer(cfg)
    self.char_norm = nn.RMSNorm()
    self.char_head = head(cfg.vocab_size, (sharding.EMBED, sharding.VOCAB),
                          "char_head")
    self.count_norm = nn.RMSNorm()
    self.count_head = head(cfg.max_len + 1, (sharding.EMBED, None),
                           "count_head")
    self.order_norm = nn.RMSNorm()
    self.order_head = head(cfg.num_slots, (sharding.EMBED, None),
                           "order_head")

  def __call__(self, visual, *, side_tasks: bool = False) -> CPPDOutput:
    """Args:

      visual: [B, N, E] the encoder's tokens.
      side_tasks: also run the counting and ordering heads (training).
    """
    b = visual.shape[0]
    tile = lambda table: jnp.broadcast_to(table, (b,) + table.shape)
    visual = visual + self.visual_pos
    num_queries = self.cfg.vocab_size if side_tasks else 0
    counted = visual
    if side_tasks:
      counted = jnp.concatenate([tile(self.class_queries), visual], axis=1)
    for layer in self.counting:
      counted = layer(counted, layer.keys_values(counted[:, num_queries:]))
    slots = jnp.concatenate([tile(self.slot_queries), visual], axis=1)
    s = self.cfg.num_slots
    for layer in self.ordering[:-1]:
      slots = layer(slots, layer.keys_values(slots[:, s:]))
    # The last layer's visual tokens would key nothing: run its slots only.
    last = self.ordering[-1]
    slots = last(slots[:, :s], last.keys_values(slots[:, s:]))
    chars = self.edge(slots,
                      self.edge.keys_values(counted[:, num_queries:]))
    char_logits = self.char_head(self.char_norm(chars))
    if not side_tasks:
      return CPPDOutput(char_logits, None, None)
    count_logits = self.count_head(self.count_norm(counted[:, :num_queries]))
    # Slot i's logit is output i of its own features (the diagonal).
    order_logits = jnp.diagonal(self.order_head(self.order_norm(slots)),
                                axis1=1, axis2=2)
    return CPPDOutput(char_logits, count_logits, order_logits)


class CPPD(nn.Module):
  """images [B, H, W] -> CPPDOutput (StripEncoder + ParallelDecoder)."""

  cfg: RecognizerConfig

  def setup(self):
    self.encoder = StripEncoder(self.cfg)
    self.decoder = ParallelDecoder(self.cfg)

  def __call__(self, images, *, side_tasks: bool = False) -> CPPDOutput:
    return self.decoder(self.encoder(images), side_tasks=side_tasks)


def cppd_loss(outputs: CPPDOutput, labels, cfg: RecognizerConfig):
  """`edge + w (count + order)` and metrics; labels [B, S] tokens.

  With `cfg.side_loss_weight == 0` only the edge loss is computed (PD).
  """
  edge, metrics = sequence_loss(outputs.char_logits, labels,
                                cfg.label_smoothing)
  metrics["edge_loss"] = edge
  if cfg.side_loss_weight == 0:
    return edge, metrics
  if outputs.count_logits is None:
    raise ValueError("cppd_loss: side_loss_weight > 0 needs outputs of a "
                     "call with side_tasks=True")
  count = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      outputs.count_logits, count_targets(labels, cfg.vocab_size)))
  order = jnp.mean(optax.sigmoid_binary_cross_entropy(
      outputs.order_logits, order_targets(labels)))
  metrics.update(count_loss=count, order_loss=order)
  return edge + cfg.side_loss_weight * (count + order), metrics


def decode(model: CPPD, variables, images) -> jax.Array:
  """images [B, H, W] -> tokens [B, S]: one decoder pass, argmax, cut at
  the first EOS (PAD after it)."""
  logits = model.apply(variables, images).char_logits
  return cut_at_eos(jnp.argmax(logits, axis=-1).astype(jnp.int32))


def build(cfg: RecognizerConfig) -> nn.Module:
  """CPPD, or the autoregressive baseline when cfg.decoder says so."""
  if cfg.decoder == "autoregressive":
    return ar_decoder.ARRecognizer(cfg)
  return CPPD(cfg)


def recognize(model: nn.Module, variables, images) -> jax.Array:
  """images [B, H, W] -> tokens [B, S] with either recognizer."""
  if isinstance(model, ar_decoder.ARRecognizer):
    return ar_decoder.greedy_decode(model, variables, images).tokens
  return decode(model, variables, images)


SYSTEM = registry.System(
    name="cppd",
    family="decoding",
    paper="Context Perception Parallel Decoder for Scene Text Recognition "
          "(CPPD)",
    summary="One decoder pass per line image: slot queries read the visual "
            "tokens, trained with character counting and ordering side "
            "losses.",
    default_config=RecognizerConfig,
    builder=build,
    configs=("train.configs.cppd:get_config",
             "train.configs.cppd_ar:get_config"),
    task="train.tasks.cppd:TASK",
    claim="eval.claims.cppd:check",
    datasets=("train.data.builders.digit_strips:DigitStrips",),
)
