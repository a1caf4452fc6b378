"""UniXcoder pretraining: MLM, ULM and DNS on stdlib functions.

Each batch of B `stdlib_code_search` train pairs gives 2B texts: the
docstring query, `<sep>`, then the function as code tokens, and the same
with the function as its flattened AST (`zoo.retrieval.ast_flatten`), so
both MCL variants start from one model that has read both forms (ours; the
paper pretrains on comment + AST). Texts are cut at the model's
`max_tokens`. Each step draws one objective per text, in turn by row
(offset drawn from the step's key; ours, the paper alternates batches):

  - MLM, encoder-only mode: `mlm_rate` of the text tokens become <mask>
    (ours: always <mask>, no 80/10/10), predicted in place;
  - ULM, decoder-only mode: next-token prediction over the text and <eos>;
  - DNS, encoder-decoder mode: spans of `span_length` tokens starting with
    probability `mlm_rate / span_length` (about `mlm_rate` of the tokens;
    ours: fixed length, not T5's mean-3 lengths) become sentinels
    `<mask0>`, `<mask1>`, ... (at most 16 spans) in the source; the target
    `<mask0> span0 <mask1> span1 .. <eos>`, cut at `DNS_TARGET` tokens, is
    predicted causally after the source.

`init` starts the transformer from the trained "code" target LM
(`train.store.lm.target_params`): every weight, and the first 2,048 rows of
the embedding table; the new ids' rows keep their random init.
"""

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from train.store import lm as lm_store
from train.store import pretrained
from train.tasks import Task
from zoo.lm import special_tokens
from zoo.retrieval import unixcoder

DNS_TARGET = 40  # ours: room for ~19 span tokens and their sentinels
OBJECTIVES = ("mlm", "ulm", "dns")


def tokenizer():
  """The code LM's BPE tokenizer (the one its target was trained with)."""
  return lm_store.corpus_tokenizer("stdlib_code_bpe")


def function_names(examples) -> list[str] | None:
  """`path::qualname` of each function of a batch (for errors), if given."""
  if "qualname" not in examples:
    return None
  text = lambda v: v.decode() if isinstance(v, bytes) else str(v)
  paths = examples.get("path", [""] * len(examples["qualname"]))
  return [f"{text(p)}::{text(q)}" for p, q in zip(paths,
                                                  examples["qualname"])]


def prepare(examples, max_tokens: int = unixcoder.MAX_TOKENS):
  """Pairs -> {"ids", "mask"} [B, 2, max_tokens]: comment + code tokens,
  comment + flattened AST."""
  names = function_names(examples)
  rows = [unixcoder.pair_ids(tokenizer(), list(examples["query"]),
                             list(examples["code"]), form, names, max_tokens)
          for form in unixcoder.FORMS]
  return {"ids": np.stack([r[0] for r in rows], 1),
          "mask": np.stack([r[1] for r in rows], 1)}


def start_from_target(cfg: unixcoder.UniXcoderConfig, params):
  """`params["lm"]` filled from the stored target LM; the embedding rows
  past the BPE's keep their init."""
  _, target = lm_store.target_params(cfg.target, cfg.smoke_target)
  lm = dict(params["lm"])
  embedding = dict(lm["embedding"])
  table = nn.meta.unbox(embedding["embedding"]).at[:unixcoder.BPE_SIZE].set(
      target["embedding"]["embedding"])
  rest = {k: v for k, v in lm.items() if k != "embedding"}
  filled = pretrained.filled(rest, {k: target[k] for k in rest},
                             f"the {cfg.target!r} target LM")
  embedding["embedding"] = pretrained.filled(
      embedding["embedding"], table, "the embedding table")
  return {**params, "lm": {**filled, "embedding": embedding}}


def init(model, key, inputs):
  ids = jnp.asarray(inputs["ids"])[:, 0]
  variables = model.init({"params": key}, ids, ids > 0)
  return {**variables, "params": start_from_target(model.cfg,
                                                   variables["params"])}


def _shift_right(x, fill):
  return jnp.concatenate([jnp.full_like(x[:, :1], fill), x[:, :-1]], 1)


def prefix_rows(source, source_len, target, target_len, width: int):
  """Encoder-decoder rows `<cls> <encoder-decoder> <sep> source target`.

  Args:
    source: [B, S] ids, `source_len` [B] real ones first.
    target: [B, U] ids, `target_len` [B] real ones first (its <eos> too).
    width: row width, >= 3 + S + U.

  Returns:
    ids, real [B, width]; source_end [B]; labels, weights [B, width]: the
    logits at p predict labels[p] = ids[p + 1] over the target.
  """
  b = source.shape[0]
  rows = jnp.arange(b)[:, None]
  pos = jnp.arange(width)[None]
  ids = jnp.full((b, width), special_tokens.PAD, jnp.int32)
  ids = ids.at[:, :unixcoder.PREFIX].set(jnp.array(
      [unixcoder.CLS, unixcoder.MODE_IDS["encoder-decoder"], unixcoder.SEP]))
  s = jnp.arange(source.shape[1])[None]
  ids = ids.at[rows, jnp.where(s < source_len[:, None],
                               unixcoder.PREFIX + s, width)].set(
                                   source, mode="drop")
  source_end = unixcoder.PREFIX + source_len
  u = jnp.arange(target.shape[1])[None]
  ids = ids.at[rows, jnp.where(u < target_len[:, None],
                               source_end[:, None] + u, width)].set(
                                   target, mode="drop")
  end = source_end + target_len
  real = pos < end[:, None]
  labels = jnp.concatenate([ids[:, 1:], ids[:, :1]], 1)
  weights = (pos >= source_end[:, None] - 1) & (pos < end[:, None] - 1)
  return ids, real, source_end, labels, weights


def dns_rows(key, tokens, mask, cfg: unixcoder.UniXcoderConfig, width: int):
  """Span-corrupted rows (see the module docstring), as `prefix_rows`."""
  b, length = tokens.shape
  # ours: fixed-length spans, about mlm_rate of the tokens in all.
  starts = jax.random.bernoulli(key, cfg.mlm_rate / cfg.span_length,
                                (b, length)) & mask
  noise, shifted = starts, starts
  for _ in range(cfg.span_length - 1):
    shifted = _shift_right(shifted, False)
    noise = noise | shifted
  noise = noise & mask
  run_start = noise & ~_shift_right(noise, False)
  run = jnp.cumsum(run_start, 1) - 1
  noise = noise & (run < unixcoder.NUM_SENTINELS)
  run_start = run_start & noise
  sentinel = unixcoder.SENTINEL_BASE + run
  rows = jnp.arange(b)[:, None]
  keep = mask & (~noise | run_start)
  source = jnp.full((b, length), special_tokens.PAD, jnp.int32).at[
      rows, jnp.where(keep, jnp.cumsum(keep, 1) - 1, length)].set(
          jnp.where(run_start, sentinel, tokens), mode="drop")
  emitted = noise.astype(jnp.int32) * (1 + run_start)
  at = jnp.cumsum(emitted, 1) - emitted
  target = jnp.full((b, DNS_TARGET), special_tokens.PAD, jnp.int32)
  target = target.at[rows, jnp.where(run_start, at, DNS_TARGET)].set(
      sentinel, mode="drop")
  target = target.at[rows, jnp.where(noise, at + run_start, DNS_TARGET)].set(
      tokens, mode="drop")
  total = emitted.sum(1)
  target = target.at[jnp.arange(b), total].set(special_tokens.EOS,
                                               mode="drop")
  return prefix_rows(source, keep.sum(1), target,
                     jnp.minimum(total + 1, DNS_TARGET), width)


def mlm_rows(key, tokens, mask, cfg, width: int):
  """Encoder-only rows with `mlm_rate` of the tokens masked."""
  picked = jax.random.bernoulli(key, cfg.mlm_rate, tokens.shape) & mask
  # ours: every picked token becomes <mask> (no 80/10/10 split).
  ids, real = unixcoder.layout(
      jnp.where(picked, special_tokens.MASK, tokens), mask, "encoder-only")
  pad = ((0, 0), (0, width - ids.shape[1]))
  labels = jnp.pad(unixcoder.layout(tokens, mask, "encoder-only")[0], pad)
  weights = jnp.pad(jnp.concatenate(
      [jnp.zeros_like(picked[:, :unixcoder.PREFIX]), picked], 1), pad)
  return jnp.pad(ids, pad), jnp.pad(real, pad), labels, weights


def ulm_rows(tokens, mask, width: int):
  """Decoder-only rows `prefix text <eos>`, next-token labels."""
  n = mask.sum(1)
  ids, real = unixcoder.layout(tokens, mask, "decoder-only")
  pad = ((0, 0), (0, width - ids.shape[1]))
  ids, real = jnp.pad(ids, pad), jnp.pad(real, pad)
  end = unixcoder.PREFIX + n
  ids = ids.at[jnp.arange(len(n)), end].set(special_tokens.EOS)
  real = real.at[jnp.arange(len(n)), end].set(True)
  pos = jnp.arange(width)[None]
  labels = jnp.concatenate([ids[:, 1:], ids[:, :1]], 1)
  weights = (pos >= unixcoder.PREFIX - 1) & (pos < end[:, None])
  return ids, real, labels, weights


def objective(model, variables, tokens, mask, key):
  """Pretraining loss of texts tokens, mask [N, L] (see the module doc).

  Returns:
    (scalar loss: the mean of the three objectives' token means,
     {"mlm", "ulm", "dns"}: each one's token mean).
  """
  cfg = model.cfg
  n, length = tokens.shape
  width = unixcoder.PREFIX + length + DNS_TARGET
  order_key, mlm_key, dns_key, drop_key = jax.random.split(key, 4)
  # ours: one objective per row, in turn (the paper alternates batches).
  which = (jnp.arange(n) + jax.random.randint(order_key, (), 0, 3)) % 3
  mlm = mlm_rows(mlm_key, tokens, mask, cfg, width)
  ulm = ulm_rows(tokens, mask, width)
  ids, real, source_end, labels, weights = dns_rows(dns_key, tokens, mask,
                                                    cfg, width)
  masks = {"mlm": unixcoder.mode_mask("encoder-only", mlm[1]),
           "ulm": unixcoder.mode_mask("decoder-only", ulm[1]),
           "dns": unixcoder.mode_mask("encoder-decoder", real, source_end)}
  parts = {"mlm": (mlm[0], mlm[2], mlm[3]), "ulm": (ulm[0], ulm[2], ulm[3]),
           "dns": (ids, labels, weights)}

  def per_row(arrays):  # each row's array of its objective
    out = arrays[0]
    for i in (1, 2):
      out = jnp.where((which == i).reshape((n,) + (1,) * (out.ndim - 1)),
                      arrays[i], out)
    return out

  row_ids, row_labels, row_weights = (
      per_row([parts[o][k] for o in OBJECTIVES]) for k in range(3))
  qq_mask = per_row([masks[o] for o in OBJECTIVES])
  states = model.apply(variables, row_ids, qq_mask, method=_masked_states,
                       rngs={"dropout": drop_key})
  logits = model.apply(variables, states, method="logits")
  nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), row_labels[..., None],
                             axis=-1)[..., 0]
  means = {}
  for i, name in enumerate(OBJECTIVES):
    w = (row_weights & (which == i)[:, None]).astype(jnp.float32)
    means[name] = (nll * w).sum() / jnp.maximum(w.sum(), 1.0)
  return sum(means.values()) / 3, means


def _masked_states(module, ids, qq_mask):
  """Training states under a per-row mask, dropout on."""
  return module.lm.states(ids, qq_mask=qq_mask, deterministic=False)


def loss(model, variables, inputs, key):
  ids = jnp.asarray(inputs["ids"])
  mask = jnp.asarray(inputs["mask"])
  value, parts = objective(model, variables, ids.reshape(-1, ids.shape[-1]),
                           mask.reshape(-1, mask.shape[-1]), key)
  return value, (parts, {})


TASK = Task(
    name="unixcoder_pretrain",
    features=("query", "code", "path", "qualname"),
    prepare=prepare,
    init=init,
    loss=loss,
)
