"""UniXcoder's multi-modal contrastive learning (MCL), with optional CMG.

Each batch of B `stdlib_code_search` train pairs gives B inputs `comment
<sep> function` (the docstring query, then the function as its flattened
AST, or as code tokens for the baseline: the config's `mcl_form`), cut at
the model's `max_tokens`. MCL is SimCSE: every input is encoded twice in
encoder-only mode with different dropout masks (rate 0.1), mean-pooled,
and each first view classifies its second view among the batch's second
views (InfoNCE at `temperature`, one direction as in SimCSE; in-batch
negatives). With `cmg_weight` > 0, cross-modal generation adds the loss of
generating the comment from the flattened AST in encoder-decoder mode;
`evaluate` then writes comments for validation functions by beam search
(`ops.decoding.beam`), which only the smoke config does.

`init` starts from the pretrained model (`train.tasks.unixcoder_pretrain`,
trained once into the cache by `pretrained_params`, like the decoding
targets).
"""

import math

import flax.struct
import jax
import numpy as np
from jax import numpy as jnp

from ops import losses
from ops.attention import causal_mask
from ops.decoding.beam import beam_search
from train import config as config_lib
from train import loop, store
from train.store import pretrained
from train.tasks import Task
from train.tasks import unixcoder_pretrain as pretrain_task
from zoo import sharding
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM, DecoderLM
from zoo.retrieval import rankers, unixcoder

COMMENT_LEN = 32  # CMG targets (99% of queries fit)
_CMG_PROMPTS, _CMG_NEW, _CMG_BEAMS = 4, 12, 3
tokenizer = pretrain_task.tokenizer


def prepare(examples, max_tokens: int = unixcoder.MAX_TOKENS):
  """Pairs -> "pair_code", "pair_ast" (`comment <sep> function`), "ast"
  [B, max_tokens] ids with their "*_mask", and "comment" [B, COMMENT_LEN].
  """
  tok, names = tokenizer(), pretrain_task.function_names(examples)
  queries, codes = list(examples["query"]), list(examples["code"])
  out = {}
  for form in unixcoder.FORMS:
    out[f"pair_{form}"], out[f"pair_{form}_mask"] = unixcoder.pair_ids(
        tok, queries, codes, form, names, max_tokens)
  out["ast"], out["ast_mask"] = unixcoder.code_ids(tok, codes, "ast", names,
                                                   max_tokens)
  out["comment"], out["comment_mask"] = unixcoder.text_ids(tok, queries,
                                                           COMMENT_LEN)
  return out


def pretrained_workdir(smoke: bool = False):
  """Where the pretrained UniXcoder is trained once and kept."""
  return store.cache_dir("unixcoder") / ("pretrain_smoke" if smoke
                                         else "pretrain")


def pretrained_params(smoke: bool = False):
  """Host params of the pretrained model, trained once into the cache by
  `train/configs/unixcoder.py:pretrain` (outside any JAX trace)."""
  arg = "unixcoder.py:pretrain" + (",smoke" if smoke else "")

  def load():
    workdir = store.run_once(lambda: config_lib.load_config(arg),
                             pretrained_workdir(smoke),
                             "the UniXcoder pretraining")
    run, state, _ = loop.load(workdir, devices=jax.devices()[:1])
    return jax.device_get(run.variables(state)["params"])

  return pretrained.off_trace(load)


def init(model, key, inputs):
  variables = model.init({"params": key}, inputs["comment"],
                         inputs["comment_mask"])
  return {**variables, "params": pretrained.filled(
      variables["params"], pretrained_params(model.cfg.smoke_target),
      "the pretrained UniXcoder")}


def cmg_loss(model, variables, inputs, key):
  """Mean NLL of the comment (and <eos>) after the flattened AST, in
  encoder-decoder mode."""
  comment, comment_mask = inputs["comment"], inputs["comment_mask"]
  n = comment_mask.sum(1)
  target = comment.at[jnp.arange(len(n)), n].set(special_tokens.EOS,
                                                 mode="drop")
  ast_ids, ast_mask = inputs["ast"], inputs["ast_mask"]
  width = unixcoder.PREFIX + ast_ids.shape[1] + comment.shape[1]
  ids, real, source_end, labels, weights = pretrain_task.prefix_rows(
      ast_ids, ast_mask.sum(1), target, jnp.minimum(n + 1, comment.shape[1]),
      width)
  states = model.apply(variables, ids, real, "encoder-decoder", source_end,
                       False, method="states", rngs={"dropout": key})
  logits = model.apply(variables, states, method="logits")
  nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None],
                             axis=-1)[..., 0]
  return (nll * weights).sum() / jnp.maximum(weights.sum(), 1)


def loss(model, variables, inputs, key):
  cfg = model.cfg
  form = f"pair_{cfg.mcl_form}"
  ids, mask = inputs[form], inputs[f"{form}_mask"]
  first, second, cmg_key = jax.random.split(key, 3)
  views = [model.apply(variables, ids, mask, False, rngs={"dropout": k})
           for k in (first, second)]
  mcl = losses.info_nce(*views, jnp.float32(-math.log(cfg.temperature)),
                        symmetric=False)
  accuracy = jnp.mean(jnp.argmax(views[0] @ views[1].T, -1)
                      == jnp.arange(len(ids)))
  metrics = {"mcl": mcl, "in_batch_accuracy": accuracy}
  total = mcl
  if cfg.cmg_weight:
    metrics["cmg"] = cmg_loss(model, variables, inputs, cmg_key)
    total = total + cfg.cmg_weight * metrics["cmg"]
  return total, (metrics, {})


TASK = Task(
    name="unixcoder",
    features=("query", "code", "path", "qualname"),
    prepare=prepare,
    init=init,
    loss=loss,
)


class PrefixLM(flax.struct.PyTreeNode):
  """A `CachedLM` whose prompt (one `extend` of several tokens) attends
  both ways over its real tokens, as encoder-decoder mode's source does;
  single new tokens attend causally. An `ops.decoding.DecodingModel`."""

  lm: CachedLM

  @property
  def vocab_size(self) -> int:
    return self.lm.vocab_size

  def init_cache(self, batch, capacity):
    return self.lm.init_cache(batch, capacity)

  def extend(self, tokens, cache, positions=None, qq_mask=None,
             embeddings=None):
    t = tokens.shape[1]
    if qq_mask is None and t > 1:
      qq_mask = (tokens != special_tokens.PAD)[:, None, :] | causal_mask(t)
    return self.lm.extend(tokens, cache, positions, qq_mask, embeddings)


def generate_comments(model, variables, ast_ids, ast_mask,
                      max_new_tokens: int = _CMG_NEW,
                      num_beams: int = _CMG_BEAMS) -> np.ndarray:
  """[N, max_new_tokens] best beams of the comment after each flattened
  AST [N, L] (encoder-decoder mode, ending at <eos>)."""
  prompt, real = map(np.asarray, unixcoder.layout(
      jnp.asarray(ast_ids), jnp.asarray(ast_mask), "encoder-decoder"))
  lengths = real.sum(1)
  # beam_search reads prompts left-padded: move each row's padding first.
  prompt = np.stack([np.roll(row, len(row) - n)
                     for row, n in zip(prompt, lengths)])
  lm = PrefixLM(CachedLM(variables["params"]["lm"],
                         DecoderLM(model.cfg.lm)))
  out = beam_search(lm, jnp.asarray(prompt), max_new_tokens,
                    num_beams=num_beams, eos_id=special_tokens.EOS,
                    prompt_lengths=jnp.asarray(lengths))
  return np.asarray(out.tokens[:, 0])


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """With CMG trained (`cmg_weight` > 0): token F1 of beam-searched
  comments of the first validation functions against their docstrings."""
  del workdir
  if not model.cfg.cmg_weight:
    return {}
  batch = next(iter(batches))
  rows = slice(0, _CMG_PROMPTS)
  written = generate_comments(model, variables,
                              np.asarray(batch["ast"])[rows],
                              np.asarray(batch["ast_mask"])[rows])
  comment = np.asarray(batch["comment"])[rows]
  comment_mask = np.asarray(batch["comment_mask"])[rows]
  scores = []
  for out, ref, m in zip(written, comment, comment_mask):
    got = set(out[out > special_tokens.MASK].tolist())
    want = set(ref[m].tolist())
    both = len(got & want)
    scores.append(2 * both / max(len(got) + len(want), 1))
  return {"cmg_token_f1": float(np.mean(scores))}


def ranker_for(dataset: str, workdir: str | None) -> rankers.Ranker:
  """`python -m eval retrieval --system unixcoder --workdir W`: a trained
  run's embeddings (functions as code tokens), cosine."""
  del dataset  # a trained model ranks any texts
  if not workdir:
    raise ValueError("unixcoder ranks with a trained model: give --workdir "
                     "of its training run")
  run, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  return unixcoder.ranker(run.model, run.variables(state), tokenizer())
