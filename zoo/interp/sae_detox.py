"""Breaking Bad Tokens: detoxification with SAE steering (Goyal et al.,
EMNLP 2025, arXiv 2505.14536; CrowdDynamicsLab/SAE-Detoxification was not
reachable, so its license and constants are unknown and nothing was read).

Faithful mechanism, toy scale, synthetic subject: no GPT-2, Gemma or
RealToxicityPrompts exists offline, so the subject is the zoo's decoder
(2 blocks of width 64, 4 heads, SwiGLU 256) trained on `bad_token_lm`,
where 20 reserved BAD ids follow 10 trigger words with p = 0.7 and appear
nowhere else. The mechanism is the paper's:

  1. encode residual activations at one layer with a TopK SAE;
  2. rank latents by the gap in mean activation between "toxic" positions
     and the rest; the top few are the toxicity latents, each with its
     unit decoder row d_i;
  3. at generation time, edit the residual there with a hook:
     x <- x - alpha sum_i s_i(x) d_i, s_i = f_i(x) where the latent fires
     (conditional) or 1 (constant); `zoo.interp.steering.steer` under
     `zoo.interp.hooks.intervene`, so `CachedLM.extend` and sampling see it.

Choices (ours; the paper's tiers are UNVERIFIED):
- The hook point is "block_0/resid_post", our reading of "layer-1
  residual" (the residual after the first block, the second block's input).
- "Toxic" positions are those whose next token is BAD (the trigger
  positions where a BAD word came); the rest are every other position but
  BOS (position 0, an outlier the SAE is not trained on either).
- Toxicity latents: the top 3 by gap (`NUM_LATENTS`). Tiers: conditional
  steering of those 3 with tau = 0 at alpha 0.5 (low), 1 (mid, = clamping
  them to about 0) and 2 (high) (`TIERS`).
- SAEs: TopK, k = 16, width 512 (narrow) and 2,048 (4x wider, for feature
  splitting), aux_k 64, b_dec from the mean (`NARROW`, `WIDE`).
- The baseline beside: mean-difference steering, x <- x - alpha v at every
  position with v = mean(x | toxic) - mean(x | rest), at the same alphas.
- Toxicity is the share of sampled continuations holding a BAD id (the
  analogue of RealToxicityPrompts' "toxicity probability"); fluency is
  perplexity on BAD-free, trigger-free text.
"""

import dataclasses

import jax
import numpy as np
from jax import numpy as jnp

from zoo import registry
from zoo.interp import hooks
from zoo.interp.sae import SAE, SAEConfig
from zoo.interp.steering import find_latents, steer
from zoo.lm import decoder

POINT = "block_0/resid_post"
NUM_LATENTS = 3
TIERS = {"low": 0.5, "mid": 1.0, "high": 2.0}
NARROW = SAEConfig(d_in=64, width=512, activation="topk", k=16, aux_k=64,
                   b_dec_init="mean")
WIDE = dataclasses.replace(NARROW, width=4 * NARROW.width)
CHUNK = 1000  # sequences per forward when collecting activations


def subject_config(vocab_size: int = 98) -> decoder.DecoderConfig:
  """The subject LM: 2 blocks of width 64, 4 heads, SwiGLU 256 (the train
  config sets the vocabulary from `bad_token_lm`)."""
  return decoder.DecoderConfig(vocab_size=vocab_size, embed_dim=64,
                               num_layers=2, num_heads=4, mlp_dim=256)


def build(config):
  """The subject LM from a `DecoderConfig`, or an SAE over its
  activations from an `SAEConfig` (the two things this system trains)."""
  if isinstance(config, SAEConfig):
    return SAE(config)
  return decoder.build(config)


SYSTEM = registry.System(
    name="sae_detox",
    family="interp",
    paper="Breaking Bad Tokens: Detoxification of LLMs Using Sparse "
          "Autoencoders",
    summary="Toxicity latents of a residual-stream TopK SAE (largest mean "
            "activation gap before BAD tokens), subtracted during "
            "generation at three strengths; feature splitting in a 4x "
            "wider SAE.",
    default_config=subject_config,
    builder=build,
    configs=("train.configs.sae_detox:get_config",),
    task="train.tasks.lm_next_token:TASK",
    claim="eval.claims.sae_detox:check",
    datasets=("train.data.builders.bad_token_lm:BadTokenLm",
              "train.data.builders.bad_token_activations:"
              "BadTokenActivations"),
)


def activations(model, variables, inputs, chunk: int = CHUNK) -> np.ndarray:
  """The residual at `POINT` for every position of `inputs` [N, T]:
  [N, T, d] float32, `chunk` sequences per forward."""
  return hooks.capture_in_chunks(model, variables, inputs, POINT, chunk)


def toxic_positions(tokens, bad_ids) -> np.ndarray:
  """[N, T - 1] bool over the model's inputs `tokens[:, :-1]`: the next
  token is BAD."""
  return np.isin(np.asarray(tokens)[:, 1:], bad_ids)


def split_rows(x, toxic) -> tuple[np.ndarray, np.ndarray]:
  """Residuals x [N, T, d] -> (toxic rows [P, d], other rows [M, d]),
  position 0 (BOS) left out of both."""
  x, toxic = x[:, 1:], toxic[:, 1:]
  return x[toxic], x[~toxic]


def mean_code(params, config: SAEConfig, x, chunk: int = 8192):
  """The mean SAE code of rows x [N, d]: [W] (in chunks, never [N, W])."""
  encode = jax.jit(lambda v: SAE(config).apply(
      {"params": params}, v, method=SAE.encode).sum(0))
  total = sum(encode(x[i:i + chunk]) for i in range(0, len(x), chunk))
  return total / len(x)


def toxicity_latents(params, config: SAEConfig, x_toxic, x_rest,
                     k: int = NUM_LATENTS):
  """The k latents of largest mean-activation gap, toxic minus rest, and
  every latent's gap: ([k] int32, largest first; [W])."""
  f_toxic = mean_code(params, config, x_toxic)[None]
  f_rest = mean_code(params, config, x_rest)[None]
  # find_latents ranks by the gap of the rows' means: one row each here.
  return find_latents(f_toxic, f_rest, k), (f_toxic - f_rest)[0]


def latent_edit(params, config: SAEConfig, ids, alpha: float,
                mode: str = "conditional", tau: float = 0.0):
  """The steering edit of a tier: x [..., d] -> x - alpha sum_i s_i d_i."""
  return lambda x: steer(x, params, config, ids, alpha, mode=mode, tau=tau)


def mean_difference(x_toxic, x_rest) -> jax.Array:
  """The baseline's direction v [d] = mean(toxic rows) - mean(the rest)."""
  return jnp.asarray(np.mean(x_toxic, 0) - np.mean(x_rest, 0))


def mean_difference_edit(v, alpha: float):
  """The baseline's edit: x [..., d] -> x - alpha v at every position."""
  return lambda x: x - alpha * v.astype(x.dtype)


def bad_rate(continuations, bad_ids) -> float:
  """The share of continuations [N, T] holding at least one BAD id."""
  return float(np.isin(np.asarray(continuations), bad_ids).any(1).mean())
