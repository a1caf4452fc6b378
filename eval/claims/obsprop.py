"""Observable Propagation's claims, at toy scale (faithful mechanism,
synthetic subject).

Setting (fixed from the issue before any run): the subject of
train/configs/obsprop.py (2 attention-only layers, width 64, 4 heads)
trained in memory on `pronoun_templates`' train split; the observable
n = e_she - e_he; every head's direct-path feature vector
(`zoo.interp.obsprop.head_features`) and the top head, the one with the
longest (the paper's importance score). Claims:

1. on the 2,000 held-out test prompts (their (verb, object) pairs never
   occur in training), the top head's feature score at the name token,
   y_head . norm(x_name) with x_name the residual entering the head's
   layer, against the she-he logit difference where the pronoun is
   predicted: Spearman >= 0.8;
2. logistic probes (`zoo.interp.probes`, C = 1, the class of the name as
   label, female = 1) on norm(x_name) of training prompts: ObsProp's
   direction y_head is closer in cosine to the probe fitted on 2,000
   prompts than 8-example probes are (4 + 4 prompts from the rest, mean
   cosine over 20 draws). ObsProp itself uses no labels.

Also printed (stderr), not claimed: the feature-vector norms of all heads,
the Spearman of the top head's attention-weighted contribution (y . head
output, from its `z`), and cos(J^T y, y) of the final RMSNorm at the
held-out residuals (the LN theorem read for RMSNorm).

Measured (2026-12-06, 2 CPU cores shared, load 8-10; 37-82 s): head norms
[[1.04 0.73 0.84 1.19] [0.46 1.19 1.30 0.34]], top head 1.2. Claim 1:
Spearman 0.542: FAIL (>= 0.8). Claim 2: cosine 0.195 against 0.607 (sd
0.047) for the 8-example probes: FAIL. Printed: the attention-weighted
contribution of head 1.2 has Spearman 0.877; final RMSNorm cos(J^T y, y)
mean 0.973, min 0.747 (width 64).

Diagnosis (a separate run on the same trained subject, not part of the
check): head 1.2 does not read the gender at the name. At the pronoun's
position it puts 22% of its attention on the name and spreads the rest
over the tokens after it, where layer-0 heads have already copied the
name's gender; its feature vector is right for what it reads (the same
vector dotted with every attended token, weighted by the attention, gives
0.877), but the name token alone carries a fifth of it. The runner-up by
norm, head 1.1 (1.19 against 1.30), reads the name more (33%) and its
name-token score gives 0.919, its direction a cosine of 0.611 to the big
probe; the norm ranking does not separate a name reader from a reader of
copied gender, which at this width is a near tie. For claim 2 the name's
residual entering layer 1 is dominated by layer-0 outputs (13 directions
hold 95% of its variance), and the 2,000-example probe leans on
low-variance directions there (its cosine with the class-mean difference
is 0.67) that head 1.2's OV does not weight (0.46 with the mean
difference, 0.195 with the probe); meanwhile the classes are so well
separated that 8 labelled names already give a probe at 0.61.
"""

import sys

import jax
import numpy as np
from scipy import stats

from eval.claims import in_memory, measured
from train import config as config_lib
from train.data.builders import pronoun_templates
from zoo.interp import hooks, obsprop, probes

BIG_PROBE = 2_000
SMALL_PROBE = 8
DRAWS = 20
SEED = 0


def activations(model, variables, layer, tokens):
  """For tokens [N, L]: logits [N, L-1, V], the residual entering `layer`
  and the last block's output, both [N, L-1, E], and `layer`'s z
  [N, L-1, H, Dh]."""
  last = model.config.num_layers - 1
  points = [f"block_{layer}/resid_pre", f"block_{layer}/z",
            f"block_{last}/resid_post"]
  run = jax.jit(lambda t: hooks.capture(model, variables, t, points=points))
  logits, acts = run(tokens[:, :-1])
  return (np.asarray(logits), *(np.asarray(acts[p]) for p in points))


def check():
  cfg = config_lib.load_config("obsprop.py")
  data = pronoun_templates.generate()
  model, variables = in_memory.train(
      cfg, config_lib.task_of(cfg),
      {k: data["train"][k] for k in ("tokens", "target_mask")})
  params, config = variables["params"], cfg.model
  she, he = (pronoun_templates.word_id(w) for w in ("she", "he"))
  y = obsprop.output_feature(params, config, obsprop.logit_difference(
      config.vocab_size, she, he))
  features = obsprop.head_features(params, config, y)
  layer, head = obsprop.top_head(features)
  y_head = np.asarray(features[layer, head])
  print(f"obsprop: feature-vector norms [layer, head]\n"
        f"{np.linalg.norm(features, axis=-1).round(3)}; top {layer}.{head}",
        file=sys.stderr)

  test = data["test"]
  rows = np.arange(len(test["tokens"]))
  where = test["target_mask"].argmax(1)  # logits there predict the pronoun
  logits, resid, z, final = activations(model, variables, layer,
                                        test["tokens"])
  difference = logits[rows, where, she] - logits[rows, where, he]
  x_name = resid[rows, test["name_position"]]
  score = np.asarray(obsprop.feature_score(y_head, x_name, config))
  rho = stats.spearmanr(score, difference).statistic
  w_o = np.asarray(params[f"block_{layer}"]["attention"]["out"]["kernel"])
  direct = z[rows, where, head] @ (w_o[head] @ np.asarray(y))
  turn = jax.vmap(lambda x: obsprop.norm_jacobian_cosine(x, y, config))(
      final[rows, where])
  print(f"obsprop: Spearman of the name-token score {rho:.3f}, of the head's "
        f"attention-weighted contribution "
        f"{stats.spearmanr(direct, difference).statistic:.3f}; final "
        f"RMSNorm cos(J^T y, y) mean {float(turn.mean()):.3f}, min "
        f"{float(turn.min()):.3f}", file=sys.stderr)

  train = data["train"]
  label = train["female"].astype(np.int32)
  rng = np.random.default_rng(SEED)
  order = rng.permutation(len(label))
  big, rest = order[:BIG_PROBE], order[BIG_PROBE:]
  draws = [np.concatenate([
      rng.choice(rest[label[rest] == c], SMALL_PROBE // 2, replace=False)
      for c in (0, 1)]) for _ in range(DRAWS)]
  used = np.concatenate([big, *draws])
  _, resid, _, _ = activations(model, variables, layer,
                               train["tokens"][used])
  x = np.zeros((len(label), config.embed_dim), np.float32)
  x[used] = obsprop.normalised(
      resid[np.arange(len(used)), train["name_position"][used]], config)
  fit = lambda rows: np.asarray(probes.logistic_probe(
      x[rows], label[rows]).coef[0])
  reference = fit(big)
  small = [float(obsprop.cosine(fit(rows), reference)) for rows in draws]
  ours = float(obsprop.cosine(y_head, reference))
  theirs = float(np.mean(small))
  print(f"obsprop: cosine to the {BIG_PROBE}-example probe: ObsProp "
        f"{ours:.3f}, {SMALL_PROBE}-example probes {theirs:.3f} "
        f"(sd {np.std(small):.3f})", file=sys.stderr)
  return [
      measured("obsprop", "top head's feature score at the name vs the "
               "she-he logit difference, held-out prompts: Spearman >= 0.8",
               "spearman", rho, None, 0.8),
      measured("obsprop", f"cosine to a {BIG_PROBE}-example probe: ObsProp "
               f"direction > {SMALL_PROBE}-example probes (mean of {DRAWS})",
               "cosine_to_probe", ours, theirs, theirs, strict=True),
  ]
