"""SAE detoxification's claims on `bad_token_lm`, at toy scale.

Setting (fixed by the issue before any run; `zoo.interp.sae_detox` and
train/configs/sae_detox.py): the subject LM (2 blocks of width 64) trained
on the 20,000 train sequences; TopK SAEs (k = 16) of width 512 and 2,048
trained on its "block_0/resid_post" activations at every train position
but BOS; toxicity latents: the top 3 by mean-activation gap between
positions before a BAD token and the rest. Tiers: conditional steering of
those 3 at alpha 0.5 / 1 / 2. Toxicity: the share of 2,000 continuations
(16 tokens, temperature 1, one key for every setting) of held-out test
prompts ending at a trigger word that hold a BAD id. Fluency: perplexity
on the 1,000 clean sequences (no trigger, no BAD word). Beside them:
unsteered, and mean-difference steering at the same alphas. Seed 0.

Claims:
1. the high tier cuts the BAD rate by >= 50% relative to unsteered;
2. the low tier raises clean perplexity by <= 10%;
3. feature splitting: steering only the top latent (high tier) removes
   less toxicity (relative cut of the BAD rate) with the 4x wider SAE than
   with the narrow one.

Measured 2026-12-06 on the shared 2-core CPU (load 0.2 at the start, 3-4
during; 373 s wall, of which the subject LM about 3 min): all three pass.
Unsteered BAD rate 0.834 and clean perplexity 4.209; tiers low / mid /
high: BAD 0.824 / 0.007 / 0.001, perplexity 4.232 / 4.284 / 4.667 (both
monotone); mean difference at the same alphas: BAD 0.697 / 0.002 / 0.000,
perplexity 4.62 / 6.07 / 20.6 (it shifts every position, so fluency pays
far more for the same cut). Claim 1: cut 0.999 (>= 0.5). Claim 2: +0.5%
(<= 10%). Claim 3: the top latent alone leaves BAD rates 0.051 (narrow)
and 0.070 (wide), cuts 0.938 vs 0.917: the wide SAE's top latent removes
less, as the paper says, but the margin is small (one seed, 2,000
samples, about 2.5 standard errors), and the narrow SAE already splits
the concept over 2 latents of near-equal gap (7.19, 7.07; the wide one's
top gaps 6.48, 4.88, 3.47): splitting is present at both widths, only
stronger at 2,048. The low tier (alpha 0.5) barely moves toxicity: the
latents' contribution must be nearly removed (alpha ~1, clamping) before
block 1 stops predicting BAD.
"""

import jax
import numpy as np
import optax
from jax import numpy as jnp

from eval.claims import in_memory, measured
from ops.decoding.sampling import generate
from train import config as config_lib
from train.data.builders import bad_token_lm
from zoo.interp import hooks
from zoo.interp import sae_detox as detox
from zoo.interp.sae import SAE
from zoo.lm.decoder import CachedLM

NUM_PROMPTS = 2000
NEW_TOKENS = 16


def train_sae(flags: str, rows: np.ndarray):
  """(config, params) of the SAE of `sae_detox.py:stage=sae<flags>`
  trained in memory on rows [N, d]."""
  cfg = config_lib.load_config(f"sae_detox.py:stage=sae{flags}")
  _, variables = in_memory.train(cfg, config_lib.task_of(cfg),
                                 {"vector": rows}, log_every=500)
  return cfg.model, variables["params"]


def nmse(config, params, rows) -> float:
  """||x - x_hat||^2 / ||x - mean x||^2 over rows [N, d]."""
  x_hat = SAE(config).apply({"params": params}, rows).x_hat
  return float(jnp.sum((rows - x_hat) ** 2)
               / jnp.sum((rows - rows.mean(0)) ** 2))


class Subject:
  """The trained LM with its prompts and clean text; measures an edit at
  `sae_detox.POINT` (None: unsteered)."""

  def __init__(self, model, variables, data):
    self.model, self.variables = model, variables
    self.lm = CachedLM(variables["params"], model)
    self.prompts, self.lengths = (jnp.asarray(a) for a in
                                  bad_token_lm.trigger_prompts(
                                      data["test"]["tokens"], NUM_PROMPTS))
    self.clean = jnp.asarray(data["clean"]["tokens"])
    self.bad_ids = bad_token_lm.RECIPE.bad_ids
    self._nll = jax.jit(self._mean_nll)

  def _mean_nll(self, tokens):
    logits = self.model.apply(self.variables, tokens[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, tokens[:, 1:]).mean()

  def measure(self, edit) -> tuple[float, float]:
    """(BAD rate of the continuations, clean perplexity) under `edit`."""
    with hooks.intervene({detox.POINT: edit} if edit else {}):
      out = generate(self.lm, self.prompts, NEW_TOKENS, jax.random.key(0),
                     temperature=1.0, prompt_lengths=self.lengths)
      ppl = float(jnp.exp(self._nll(self.clean)))
    return detox.bad_rate(out.tokens, self.bad_ids), ppl


def check():
  data = bad_token_lm.generate()
  lm_cfg = config_lib.load_config("sae_detox.py")
  model, variables = in_memory.train(lm_cfg, config_lib.task_of(lm_cfg),
                                     data["train"], log_every=500)
  tokens = data["train"]["tokens"]
  x = detox.activations(model, variables, tokens[:, :-1])
  x_toxic, x_rest = detox.split_rows(
      x, detox.toxic_positions(tokens, bad_token_lm.RECIPE.bad_ids))
  rows = x[:, 1:].reshape(-1, x.shape[-1])
  subject = Subject(model, variables, data)
  base_rate, base_ppl = subject.measure(None)
  cut = lambda rate: 1.0 - rate / base_rate

  saes, report = {}, []
  for name, flags in (("narrow", ""), ("wide", ",wide")):
    sae_cfg, params = train_sae(flags, rows)
    ids, gap = detox.toxicity_latents(params, sae_cfg, x_toxic, x_rest)
    saes[name] = (params, sae_cfg, ids)
    top_gaps = ", ".join(f"{g:.2f}" for g in np.sort(gap)[::-1][:5])
    report.append(f"{name} SAE (width {sae_cfg.width}): NMSE "
                  f"{nmse(sae_cfg, params, rows[:20_000]):.3f}, top gaps "
                  f"[{top_gaps}], latents with gap >= half the top: "
                  f"{int((gap >= gap.max() / 2).sum())}")

  tiers = {}
  v = detox.mean_difference(x_toxic, x_rest)
  for tier, alpha in detox.TIERS.items():
    tiers[tier] = subject.measure(detox.latent_edit(*saes["narrow"], alpha))
    tiers[f"meandiff_{tier}"] = subject.measure(
        detox.mean_difference_edit(v, alpha))
  top = {name: subject.measure(detox.latent_edit(
      params, sae_cfg, ids[:1], detox.TIERS["high"]))[0]
         for name, (params, sae_cfg, ids) in saes.items()}

  table = "; ".join(f"{k}: BAD {r:.3f}, ppl {p:.3f}"
                    for k, (r, p) in tiers.items())
  rates = [base_rate] + [tiers[t][0] for t in detox.TIERS]
  ppls = [base_ppl] + [tiers[t][1] for t in detox.TIERS]
  monotone = (all(a >= b for a, b in zip(rates, rates[1:]))
              and all(a <= b for a, b in zip(ppls, ppls[1:])))
  setting = (f"unsteered: BAD {base_rate:.3f}, ppl {base_ppl:.3f}; {table}; "
             f"monotone across tiers: {monotone}; {'; '.join(report)}")
  return [
      measured("sae_detox", "high tier (conditional, alpha 2, top-3 "
               "latents of the 512-wide TopK SAE) cuts the BAD rate of "
               "2,000 sampled continuations by >= 50% relative (value: "
               "relative cut; baseline: unsteered BAD rate; " + setting
               + ")", "bad_rate_relative_cut",
               cut(tiers["high"][0]), base_rate, 0.5),
      measured("sae_detox", "low tier (alpha 0.5) raises the perplexity "
               "of clean text by <= 10% (value: relative increase; "
               "baseline: unsteered perplexity)",
               "clean_perplexity_relative_increase",
               tiers["low"][1] / base_ppl - 1.0, base_ppl, 0.10,
               higher_is_better=False),
      measured("sae_detox", "feature splitting: steering only the top "
               "latent (alpha 2) of the 4x wider SAE cuts the BAD rate "
               "less than the narrow SAE's top latent (value: the wide "
               "one's relative cut; baseline and threshold: the narrow "
               f"one's; BAD rates {top['narrow']:.3f} narrow, "
               f"{top['wide']:.3f} wide)", "wide_top_latent_cut",
               cut(top["wide"]), cut(top["narrow"]), cut(top["narrow"]),
               higher_is_better=False, strict=True),
  ]
