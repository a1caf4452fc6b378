"""Masked-diffusion decoding: blockwise semi-autoregressive unmasking.

    out = generate(model, prompt, gen_len=32, block_len=8,
                   rule=UnmaskRule("threshold", threshold=0.9))

The canvas is `[prompt | MASK * gen_len]`. Blocks of `block_len` positions
are decoded left to right; each step runs one forward pass, predicts every
position of the active block (argmax, or a Gumbel-max sample when
temperature > 0), and `ops.decoding.unmask.select` picks which masked
positions take their prediction (>= 1 per step). A row's block is done when
it holds no mask; the batch moves on when every row's is, and rows that are
done wait without being counted: `nfe[b]` is the number of forward
evaluations row b needed, the cost of decoding it alone.

The model speaks the decoder interface (`zoo.lm.decoder.CachedLM`): the
reference path calls `model(canvas, qq_mask=mask)` on the whole canvas every
step; `cached=True` keeps the finished prefix in a KV cache and runs
`model.extend` on a window only (Fast-dLLM's prefix cache). The attention
mask over the canvas is `canvas_mask(...)`:
  "block_causal": a position sees the prompt, earlier blocks and its own
    block. Nothing attends forward across blocks, so a finished block's keys
    and values are final and the cached path equals the reference: the
    window is the active block, plus the block before it on a block's first
    step (to rewrite that block's keys and values once it is final).
  "bidirectional": every position sees the whole canvas (LLaDA). The cached
    window is then the active block and everything after it; the prefix
    keys and values are those computed when that prefix was last in a
    window, i.e. before later blocks were decoded, the approximation
    Fast-dLLM makes (its prefix cache), not the reference's result.

`eot_truncation` is Learn2PD's end-of-text prediction: once a step writes
EOS, every masked position after the first written EOS becomes EOS; else,
if any still-masked position of the canvas (the active block or a later
one) predicts EOS, every masked position after the most confident such one
does. Truncated positions cost no steps. It needs the predictions after
the block too: the step predicts the whole answer region (the cached
block-causal window then runs to the end of the canvas).

Left-padded prompts of different lengths (`prompt_lengths`) keep the canvas
layout: no query sees a row's padding, the row's positions start at its
first prompt token, and the cached path drops the padding from the cache
after the first window (`cache.commit`), so later windows never see it.
"""

import functools
from typing import Literal, NamedTuple

import jax
from jax import numpy as jnp

from ops.decoding import EOS_ID, MASK_ID, check_prompt, lengths_of, new_cache
from ops.decoding.unmask import UnmaskRule, select
from ops.vocab import vocab_reduce

Attention = Literal["bidirectional", "block_causal"]


def canvas_mask(prompt_len: int, gen_len: int, block_len: int,
                attention: Attention) -> jax.Array:
  """[L, L] bool attention mask over `[prompt | gen]`, L = P + G.

  Args:
    prompt_len: P.
    gen_len: G (a last block shorter than block_len is allowed here).
    block_len: positions per block.
    attention: "bidirectional" (all ones) or "block_causal" (the prompt is
      block 0; query i sees key j iff block(j) <= block(i)).
  """
  length = prompt_len + gen_len
  if attention == "bidirectional":
    return jnp.ones((length, length), jnp.bool_)
  if attention != "block_causal":
    raise ValueError(f"canvas_mask: attention must be 'bidirectional' or "
                     f"'block_causal', got {attention!r}")
  offset = jnp.arange(length) - prompt_len
  block = jnp.where(offset < 0, 0, 1 + offset // block_len)
  return block[None, :] <= block[:, None]


class Trace(NamedTuple):
  """Per-step records of the active block (`record=True`).

  Step s of the loop (counted over the batch, at most gen_len) wrote entry
  s; rows that were done at that step have `active` False.

  Attributes:
    confidence: [S, B, N] probability of each position's prediction.
    masked: [S, B, N] bool, positions still masked before the step.
    prediction: [S, B, N] int32, each position's predicted token.
    active: [S, B] bool.
    block: [S] int32, the block's index (0 = the first answer block).
  """

  confidence: jax.Array
  masked: jax.Array
  prediction: jax.Array
  active: jax.Array
  block: jax.Array


class DiffusionOutput(NamedTuple):
  """tokens: [B, G] the decoded region; nfe: [B] int32; trace or None."""

  tokens: jax.Array
  nfe: jax.Array
  trace: Trace | None


def predict(logits, key=None, temperature: float = 0.0,
            mask_id: int = MASK_ID):
  """[B, N, V] logits -> (tokens [B, N] int32, VocabStats [B, N]).

  Greedy when temperature == 0, else a Gumbel-max sample of logits /
  temperature. `confidence` is the model's probability of the returned
  token (at temperature 1, not the sampling temperature), as in LLaDA. The
  mask token is never predicted (writing it would undo the step).
  """
  logits = logits.at[..., mask_id].set(-jnp.inf)
  if temperature == 0:
    stats = vocab_reduce(logits)
    return stats.argmax, stats
  gumbel = jax.random.gumbel(key, logits.shape)
  tokens = jnp.argmax(logits / temperature + gumbel, axis=-1).astype(
      jnp.int32)
  stats = vocab_reduce(logits, tokens=tokens[..., None])
  return tokens, stats._replace(
      confidence=jnp.exp(stats.token_logprob[..., 0]))


def _truncate_after_eot(gen, lo, write, transfer, tokens, confidence,
                        mask_id, eos_id):
  """Fills masked positions after the (decoded or predicted) EOS with EOS.

  gen: [B, G] after the step; lo: the block's offset in gen (int or
  traced); write, transfer: [B, N] of the block; tokens, confidence:
  [B, G] predictions over the answer region (confidence < 0 where none).
  """
  g, n = gen.shape[1], write.shape[1]
  wrote_eos = transfer & (write == eos_id)
  first_written = jnp.min(jnp.where(wrote_eos, jnp.arange(n) + lo, g),
                          axis=-1)
  predicted = (gen == mask_id) & (tokens == eos_id)
  surest = jnp.argmax(jnp.where(predicted, confidence, -1.0), -1)
  cut = jnp.where(jnp.any(wrote_eos, -1), first_written,
                  jnp.where(jnp.any(predicted, -1), surest, g))
  after = jnp.arange(g)[None, :] > cut[:, None]
  return jnp.where(after & (gen == mask_id), eos_id, gen)


def _validate(model, prompt, gen_len, block_len, rule, temperature, key,
              learned_filter, reference, cached, prompt_lengths):
  if gen_len < 1 or block_len < 1 or gen_len % block_len:
    raise ValueError(f"generate: gen_len={gen_len} must be a positive "
                     f"multiple of block_len={block_len}")
  check_prompt("generate", prompt, gen_len, vocab_size=model.vocab_size,
               prompt_lengths=prompt_lengths)
  if (temperature > 0 or rule.kind == "random") and key is None:
    raise ValueError("generate: sampling (temperature > 0) and kind "
                     "'random' need a key")
  if rule.kind == "filter" and learned_filter is None:
    raise ValueError("generate: kind 'filter' needs learned_filter")
  if rule.kind == "reference" and (
      reference is None or reference.shape != (prompt.shape[0], gen_len)):
    raise ValueError(f"generate: kind 'reference' needs reference [B, G] = "
                     f"{(prompt.shape[0], gen_len)}, got "
                     f"{None if reference is None else reference.shape}")
  if cached and not hasattr(model, "extend"):
    raise ValueError("generate: cached=True needs a model with extend()")


def generate(model, prompt, *, gen_len: int, block_len: int,
             rule: UnmaskRule, attention: Attention = "bidirectional",
             cached: bool = False, temperature: float = 0.0, key=None,
             learned_filter=None, reference=None,
             eot_truncation: bool = False, record: bool = False,
             mask_id: int = MASK_ID, eos_id: int = EOS_ID,
             prompt_lengths=None) -> DiffusionOutput:
  """Decodes `gen_len` tokens after `prompt`; see the module docstring.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs.

  Args:
    model: the denoiser (`vocab_size`, `model(tokens, positions=...,
      qq_mask=...)`, and `init_cache` / `extend` when cached).
    prompt: [B, P] int token ids, never changed; left-padded if
      prompt_lengths is given.
    gen_len: G, a multiple of block_len.
    block_len: N, positions per block.
    rule: the selection rule.
    attention: the mask the model was trained with (see `canvas_mask`).
    cached: prefix KV cache (see the module docstring).
    temperature: 0 for argmax predictions, else Gumbel-max sampling.
    key: PRNG key for sampling and kind "random".
    learned_filter: for kind "filter": `f(confidence [B, N], masked [B, N])
      -> logits [B, N]`; a masked position is accepted when
      sigmoid(logit) > rule.threshold.
    reference: [B, G] int, for kind "reference": accepted where the
      prediction equals it, and always written instead of the prediction.
    eot_truncation: Learn2PD's end-of-text prediction.
    record: also return the per-step Trace.
    mask_id, eos_id: the mask and end-of-text token ids.
    prompt_lengths: optional [B] int, each row's prompt length: the model
      sees row b as its prompt alone (positions from 0, padding masked).
      At temperature 0 with a deterministic rule each row decodes as it
      would alone; random draws depend on the batch's step count.

  Returns:
    DiffusionOutput.
  """
  prompt = jnp.asarray(prompt)
  _validate(model, prompt, gen_len, block_len, rule, temperature, key,
            learned_filter, reference, cached, prompt_lengths)
  return _generate(
      model, prompt, gen_len=gen_len, block_len=block_len, rule=rule,
      attention=attention, cached=cached, temperature=temperature, key=key,
      learned_filter=learned_filter, reference=reference,
      eot_truncation=eot_truncation, record=record, mask_id=mask_id,
      eos_id=eos_id, prompt_lengths=prompt_lengths)


@functools.partial(jax.jit, static_argnames=(
    "gen_len", "block_len", "rule", "attention", "cached", "temperature",
    "eot_truncation", "record", "mask_id", "eos_id"))
def _generate(model, prompt, *, gen_len, block_len, rule, attention, cached,
              temperature, key, learned_filter, reference, eot_truncation,
              record, mask_id, eos_id, prompt_lengths):
  key = jax.random.key(0) if key is None else key
  b, p = prompt.shape
  length = p + gen_len
  mask = canvas_mask(p, gen_len, block_len, attention)
  canvas = jnp.concatenate(
      [prompt.astype(jnp.int32), jnp.full((b, gen_len), mask_id, jnp.int32)],
      axis=1)
  ragged = prompt_lengths is not None
  # Row b's canvas starts with `pad[b]` padding slots; canvas index c is
  # the row's own position c - pad[b], and its cache slot when cached.
  pad = p - lengths_of(prompt, prompt_lengths)
  real = jnp.arange(length) >= pad[:, None]  # [B, L]
  cache = new_cache("generate", model, b, length, p) if cached else None
  trace = None
  if record:
    shape = (gen_len, b, block_len)
    trace = Trace(jnp.zeros(shape), jnp.zeros(shape, jnp.bool_),
                  jnp.zeros(shape, jnp.int32),
                  jnp.zeros((gen_len, b), jnp.bool_),
                  jnp.zeros((gen_len,), jnp.int32))
  state = (canvas, cache, jnp.zeros((b,), jnp.int32), jnp.int32(0), trace)

  def window(array, lo):
    """[B, N] slice of array [B, L] at lo (an int, or traced)."""
    return jax.lax.dynamic_slice_in_dim(array, lo, block_len, axis=1)

  def logits_of(canvas, cache, start, lo):
    """Logits [B, W, V] of canvas positions [first, first + W), first
    (a static int), and the updated cache."""
    if not cached:
      if not ragged:
        return model(canvas, qq_mask=mask), 0, cache
      positions = jnp.arange(length) - pad[:, None]
      return (model(canvas, positions=positions,
                    qq_mask=mask & real[:, None, :]), 0, cache)
    end = (lo + block_len if attention == "block_causal"
           and not eot_truncation else length)
    if not (ragged and start == 0):
      cache = cache.replace(length=start - pad)
      logits, cache = model.extend(canvas[:, start:end], cache,
                                   qq_mask=mask[start:end, start:end])
      return logits, start, cache
    # The first window holds the padding: it is masked, and then dropped
    # from the cache, each row's slots moving left by its pad.
    logits, cache = model.extend(
        canvas[:, :end], cache.replace(length=jnp.zeros((b,), jnp.int32)),
        positions=jnp.arange(end) - pad[:, None],
        qq_mask=mask[:end, :end] & real[:, None, :end])
    keep = jnp.minimum(pad[:, None] + jnp.arange(end), length - 1)
    return logits, 0, cache.commit(jnp.zeros((b,), jnp.int32), keep,
                                   end - pad)

  def step(state, start, lo):
    canvas, cache, nfe, count, trace = state
    block = window(canvas, lo)
    masked = block == mask_id
    active = jnp.any(masked, axis=-1)
    logits, first, cache = logits_of(canvas, cache, start, lo)
    step_key = jax.random.fold_in(key, count)
    predict_key = jax.random.fold_in(step_key, 0)
    if eot_truncation:
      # Predict the answer from gen offset `skip` on (the positions before
      # are decoded: no prediction, confidence -1), then read the block.
      skip = max(first - p, 0)
      tail = predict(logits[:, p + skip - first:], predict_key, temperature,
                     mask_id)
      tokens, stats = jax.tree.map(
          lambda a: jax.lax.dynamic_slice_in_dim(a, lo - p - skip, block_len,
                                                 axis=1), tail)
      gen_tokens = jnp.pad(tail[0], ((0, 0), (skip, 0)))
      gen_conf = jnp.pad(tail[1].confidence, ((0, 0), (skip, 0)),
                         constant_values=-1.0)
    else:
      block_logits = jax.lax.dynamic_slice_in_dim(logits, lo - first,
                                                  block_len, axis=1)
      tokens, stats = predict(block_logits, predict_key, temperature,
                              mask_id)
    write, accept = tokens, None
    if rule.kind == "filter":
      accept = jax.nn.sigmoid(
          learned_filter(stats.confidence, masked)) > rule.threshold
    elif rule.kind == "reference":
      write = window(reference, lo - p)
      accept = tokens == write
    transfer = select(rule, stats, masked,
                      key=jax.random.fold_in(step_key, 1), accept=accept)
    canvas = jax.lax.dynamic_update_slice_in_dim(
        canvas, jnp.where(transfer, write, block), lo, axis=1)
    if eot_truncation:
      gen = _truncate_after_eot(canvas[:, p:], lo - p, write, transfer,
                                gen_tokens, gen_conf, mask_id, eos_id)
      canvas = canvas.at[:, p:].set(gen)
    if record:
      trace = Trace(*(
          buffer.at[count].set(value) for buffer, value in zip(
              trace, (stats.confidence, masked, tokens, active,
                      (lo - p) // block_len))))
    return (canvas, cache, nfe + active, count + jnp.any(active), trace)

  if cached:
    # Static windows: a block's first step also rewrites the block before.
    # A block that end-of-text prediction already filled is skipped (so are
    # all after it).
    for lo in range(p, length, block_len):
      state = jax.lax.cond(
          jnp.any(window(state[0], lo) == mask_id),
          functools.partial(step, start=0 if lo == p else lo - block_len,
                            lo=lo),
          lambda s: s, state)
      state = jax.lax.while_loop(
          lambda s, lo=lo: jnp.any(window(s[0], lo) == mask_id),
          functools.partial(step, start=lo, lo=lo), state)
  else:
    # One loop body for every block: the active block is the first one that
    # still holds a mask in some row.
    def first_unfinished(state):
      gen = state[0][:, p:].reshape(b, -1, block_len)
      return p + block_len * jnp.argmax(jnp.any(gen == mask_id, axis=(0, 2)))

    state = jax.lax.while_loop(
        lambda s: jnp.any(s[0][:, p:] == mask_id),
        lambda s: step(s, None, first_unfinished(s)), state)
  canvas, _, nfe, _, trace = state
  return DiffusionOutput(canvas[:, p:], nfe, trace)
