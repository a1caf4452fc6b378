"""aTLAS's claim: learned anisotropic Lam beats task arithmetic and full
fine-tuning in the few-shot setting.

Faithful mechanism, toy scale, synthetic domains of a real data set
(scikit-learn's digits). Setting (the issue's; our choices fixed before any
run): theta0 and the four task vectors (rot90, invert, blur, noise) of
`train/configs/atlas.py`'s model, trained by its task's init on the digits
train split (seed 0). Target: rot90 then invert, unseen by every task
vector. Shots: 5 per class drawn from the train split (draws 0, 1, 2); test:
the 360 test images through the target. Per draw:

* aTLAS: Lam [4, 8] from zero, the config's optimizer (AdamW 0.1, weight
  decay 0.1, cosine, clipping at 1), LAM_STEPS full-batch steps on the 50
  shots;
* task arithmetic: the best of the isotropic grid {0, .25, ..., 1}^4 by
  accuracy on the shots (ties: lower cross-entropy on the shots);
* full fine-tuning: every CNN parameter from theta0, Adam 1e-3 (ours: the
  optimizer of the task vectors' fine-tunes), FT_STEPS full-batch steps on
  the same 50 shots.

Claims (means over the 3 draws): (1) aTLAS's test accuracy >= task
arithmetic's + 2 pp; (2) aTLAS's test accuracy > full fine-tuning's.

Measured (2026-12-06, 2 cores shared, load 4.3-4.8; 180 s, 2.3 min CPU; an
identical earlier run at load 8-11 took 613 s): theta0 scores 17.2% on the
target. (1) passes: aTLAS 26.6% (draws 25.3, 23.9, 30.6) against the grid's
18.1%, +8.4 pp. (2) FAILS: full fine-tuning reaches 73.5% (71.1, 73.6,
75.8), 46.9 pp above aTLAS.
Diagnosis of (2), from a separate run after the claim (same theta0 and
task vectors): the span of the four task vectors holds no good solution
for the composite domain. Each task vector on its own domain's test
images: rot90 95.6%, invert 45.6% (theta0: 0.6%), blur 94.7%, noise
88.3%; on the target each is at most 16.7%, so rot90 and invert do not
compose additively in this CNN, and the invert vector is weak after its 300
fine-tuning steps (our [recon] setting, not changed after the run). Lam
fitted to all 1,437 training images through the target still reaches only
41.7% (train loss 1.72; aTLAS x 10: 57.8%), below fine-tuning on 50 images:
the 32 coefficients underfit, while the CNN's 38k parameters, started from
clean-digit features, adapt to the new domain from 50 images without the
over-fitting that the paper's CLIP-scale fine-tuning suffers on few shots.
"""

import itertools
import sys

import jax
import numpy as np
import optax
from jax import numpy as jnp

from eval.claims import measured
from train import config as config_lib
from train.configs.atlas import OPTIM
from train.data import encoding_model
from train.state import make_optimizer
from train.tasks.task_vector_coefficients import pretrained
from zoo.interp import atlas, task_vectors

DRAWS = (0, 1, 2)
SHOTS = 5
LAM_STEPS = 300
FT_STEPS = 300
GRID = np.linspace(0.0, 1.0, 5)  # 0, .25, ..., 1


def _accuracy(logits, labels) -> float:
  return float(jnp.mean(jnp.argmax(logits, -1) == labels))


def _draw(cfg, theta0, taus, shots, test) -> dict[str, float]:
  """Test accuracies of aTLAS, the isotropic grid and fine-tuning."""
  apply = atlas.classifier(cfg)
  x, y = shots
  logits_at = jax.jit(lambda lam, images: apply(
      task_vectors.compose(theta0, taus, lam), images))
  shot_loss = lambda lam: atlas.cross_entropy(logits_at(lam, x), y)

  lam0 = task_vectors.coefficients(len(cfg.domains), theta0)
  lam, _ = task_vectors.fit(shot_loss, lam0,
                            make_optimizer(OPTIM, LAM_STEPS), LAM_STEPS)

  grid = jnp.asarray(list(itertools.product(GRID, repeat=len(cfg.domains))),
                     jnp.float32)  # [625, T]
  grid_logits = jax.lax.map(lambda c: logits_at(c, x), grid)
  grid_acc = jnp.mean(jnp.argmax(grid_logits, -1) == y, axis=-1)
  grid_ce = jax.vmap(lambda lg: atlas.cross_entropy(lg, y))(grid_logits)
  best = int(np.lexsort((np.asarray(grid_ce), -np.asarray(grid_acc)))[0])

  tuned, _ = task_vectors.fit(
      lambda p: atlas.cross_entropy(apply(p, x), y), theta0,
      optax.adam(1e-3), FT_STEPS)

  test_x, test_y = test
  return {"atlas": _accuracy(logits_at(lam, test_x), test_y),
          "isotropic": _accuracy(logits_at(grid[best], test_x), test_y),
          "finetune": _accuracy(apply(tuned, test_x), test_y),
          "theta0": _accuracy(apply(theta0, test_x), test_y),
          "isotropic_lam": grid[best].tolist(),
          "atlas_shot_loss": float(shot_loss(lam))}


def check():
  """Both claims' records; measured values and the diagnosis of claim
  (2)'s FAIL are in the module docstring."""
  cfg = config_lib.load_config("atlas.py").model
  frozen = pretrained(cfg)
  theta0, taus = frozen["theta0"], frozen["taus"]
  digits = encoding_model.load_digits()
  train_rows = np.asarray(digits.splits["train"])
  test_rows = np.asarray(digits.splits["test"])
  target = lambda rows: atlas.apply_domains(
      cfg.target, digits.images[rows], jax.random.key(0))
  test = (target(test_rows), digits.labels[test_rows])
  results = []
  for draw in DRAWS:
    rows = train_rows[atlas.few_shot_rows(digits.labels[train_rows], SHOTS,
                                          draw)]
    result = _draw(cfg, theta0, taus, (target(rows), digits.labels[rows]),
                   test)
    print(f"atlas draw {draw}: {result}", file=sys.stderr)
    results.append(result)
  mean = {k: float(np.mean([r[k] for r in results]))
          for k in ("atlas", "isotropic", "finetune")}
  return [
      measured("atlas", "anisotropic Lam beats the best isotropic grid "
               "{0,.25,...,1}^4 (chosen on the shots) by >= 2 pp; digits "
               "rot90+invert, 5 shots/class, mean of 3 draws (value: "
               "accuracy gain; baseline: grid's test accuracy)",
               "test accuracy gain", mean["atlas"] - mean["isotropic"],
               mean["isotropic"], 0.02),
      measured("atlas", "anisotropic Lam beats full fine-tuning on the "
               "same 50 images; mean of 3 draws (value: accuracy gain; "
               "baseline: fine-tuning's test accuracy)",
               "test accuracy gain", mean["atlas"] - mean["finetune"],
               mean["finetune"], 0.0, strict=True),
  ]
