"""The embedding-compression benchmark's claims, on `zipf_ctr` in DLRM-lite.

Setting (fixed by the issue before any run): d = 16, one epoch of the
200,000 training rows (batch 1024, Adam 1e-3, the artifact's defaults for
every method), AUC on the 50,000 test rows in the stored form of each table
(`train.evaluators.ctr_auc`); budgets 2x, 16x and 64x.

1. ALPT INT8 (3.2x stored: int8 rows plus a float32 scale per row; the
   issue's "4x" counts the rows only) loses at most 0.01 AUC to the full
   table (means of 3 seeds).
2. QR >= Hash at 16x and at 64x (means of 3 seeds).
3. No method is the best at all three budgets ([recon]: the paper's
   summary); the table is one seed. A method competes at the budgets it
   reaches (INT8/16, ALPT and MDE stop below 16x).

Training is the system's task and optimizer step (`train.tasks.ctr_bce`,
`train.state.train_step`) on in-memory batches drawn like the pipeline's,
without TFDS or checkpoints. The AUC table (one seed) is printed on stderr.
"""

import functools
import sys
import time

import flax.linen as nn
import jax
import numpy as np

from eval.claims import measured
from train import config as config_lib
from train.data.builders import zipf_ctr
from train.evaluators import ctr_auc
from train.state import create_state, make_optimizer, train_step
from train.tasks.ctr_bce import TASK
from zoo import registry
from zoo.errors import ConfigError
from zoo.vq.embedding_compression import dlrm

SEEDS = (0, 1, 2)
BUDGETS = (2.0, 16.0, 64.0)
# Claim 1's method and budget (ALPT INT8 reaches 3.2x: the 2x budget).
ALPT8_BUDGET = 2.0
ALLOWED_AUC_LOSS = 0.01
# (label, kind, settings): the methods of the table.
METHODS = (
    ("hash", "hash", ""), ("qr", "qr", ""), ("tt_rec", "tt_rec", ""),
    ("robe", "robe", ""), ("dhe", "dhe", ""), ("dpq", "dpq", ""),
    ("mgqe", "mgqe", ""), ("mde", "mde", ""), ("pep", "pep", ""),
    ("int8", "int", "bits=8"), ("int16", "int", "bits=16"),
    ("alpt8", "alpt", "bits=8"), ("alpt16", "alpt", "bits=16"),
)


def load(kind: str, budget: float, seed: int, settings: str = ""):
  """The train config of one method at one budget (ValueError if the
  budget is out of the method's reach)."""
  cfg = config_lib.load_config(
      f"embedding_compression.py:method={kind},budget={budget},seed={seed}")
  overrides = [f"model.compression.{s}" for s in settings.split(",") if s]
  return config_lib.apply_overrides(cfg, overrides)


def _batches(ids, labels, size):
  for start in range(0, len(labels), size):
    part = slice(start, start + size)
    n = len(labels[part])
    pad = size - n
    yield {"ids": np.pad(ids[part], ((0, pad), (0, 0))),
           "label": np.pad(labels[part], (0, pad)).astype(np.float32),
           "mask": np.arange(size) < n}


def train_and_score(cfg, logs: zipf_ctr.ClickLogs) -> dict[str, float]:
  """One epoch of `cfg` on the logs; the evaluator's metrics on test."""
  model = registry.build(cfg.system, cfg.model)
  tx = make_optimizer(cfg.optim, cfg.steps)
  size = cfg.data.batch_size
  order = np.random.default_rng((cfg.seed, 0)).permutation(
      len(logs.train_label))
  first = TASK.prepare({"ids": logs.train_ids[order[:size]],
                        "label": logs.train_label[order[:size]]})
  state = jax.jit(lambda: nn.meta.unbox(create_state(
      model, tx, first, jax.random.key(cfg.seed), TASK.init)))()
  step = jax.jit(functools.partial(train_step, model=model, tx=tx,
                                   loss_fn=TASK.loss, cfg=cfg),
                 donate_argnums=0)
  for s in range(cfg.steps):
    rows = order[s * size:(s + 1) * size]
    state, _ = step(state, TASK.prepare({"ids": logs.train_ids[rows],
                                         "label": logs.train_label[rows]}))
  variables = {"params": state.params, **state.model_state}
  return ctr_auc.evaluate(model, variables, _batches(
      logs.test_ids, logs.test_label, cfg.data.eval_batch_size))


class _Runs:
  """AUC of (label, budget, seed), each run trained once."""

  def __init__(self):
    self.logs = zipf_ctr.generate()
    self.settings = {label: (kind, extra) for label, kind, extra in METHODS}
    self.settings["full"] = ("full", "")
    self.done: dict[tuple[str, float, int], float | None] = {}

  def auc(self, label: str, budget: float, seed: int) -> float | None:
    """The test AUC, or None if the budget is out of the method's reach."""
    key = (label, budget, seed)
    if key not in self.done:
      kind, extra = self.settings[label]
      try:
        cfg = load(kind, budget, seed, extra)
        dlrm.param_bytes(cfg.model)  # the settings may miss the budget
      except (ConfigError, ValueError):
        self.done[key] = None
      else:
        start = time.perf_counter()
        self.done[key] = train_and_score(cfg, self.logs)["auc"]
        print(f"  {label} {budget:g}x seed {seed}: AUC {self.done[key]:.4f} "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr,
              flush=True)
    return self.done[key]

  def mean(self, label: str, budget: float) -> float:
    return float(np.mean([self.auc(label, budget, s) for s in SEEDS]))


def winners(table: dict[float, dict[str, float]]) -> dict[float, str]:
  """The method of highest AUC at each budget."""
  return {b: max(row, key=row.get) for b, row in table.items()}


def _print_table(table, full_auc):
  print(f"embedding_compression: test AUC, seed {SEEDS[0]} (full table "
        f"{full_auc:.4f})", file=sys.stderr)
  print("method   " + "".join(f"{b:>9g}x" for b in BUDGETS), file=sys.stderr)
  for label, _, _ in METHODS:
    cells = [table[b].get(label) for b in BUDGETS]
    print(f"{label:8s} " + "".join("        -" if v is None else f"{v:10.4f}"
                                   for v in cells), file=sys.stderr)


def check():
  """The three claims; each run and the AUC table go to stderr.

  Measured 2026-12-06 (CPU, load 15-24): claim 2 FAILs, QR 0.7446 vs Hash
  0.7511 at 16x and 0.7355 vs 0.7481 at 64x. Diagnosis (a hypothesis, not
  tested): under Zipf popularity a hashed popular id shares its row with
  rarely seen ids, so it keeps that row nearly to itself, while QR ties
  every id to m - 1 others through its quotient row and to N / m through
  its remainder row; in one epoch that coupling costs more than collisions.
  QR also stores fewer bytes (16.99x at 16x: the smallest m that fits).
  """
  runs = _Runs()
  table = {b: {label: auc for label, _, _ in METHODS
               if (auc := runs.auc(label, b, SEEDS[0])) is not None}
           for b in BUDGETS}
  _print_table(table, runs.auc("full", 1.0, SEEDS[0]))
  full = runs.mean("full", 1.0)
  alpt = runs.mean("alpt8", ALPT8_BUDGET)
  records = [measured(
      "embedding_compression", "ALPT INT8 (int8 rows + fp32 row scales, "
      "3.2x) test AUC >= full table's - 0.01 (1 epoch, means of 3 seeds)",
      "auc", alpt, full, full - ALLOWED_AUC_LOSS)]
  for budget in (16.0, 64.0):
    qr, hashed = runs.mean("qr", budget), runs.mean("hash", budget)
    records.append(measured(
        "embedding_compression", f"QR >= Hash at {budget:g}x: test AUC "
        "(1 epoch, means of 3 seeds; baseline Hash)", "auc", qr, hashed,
        hashed))
  best = winners(table)
  most = max(list(best.values()).count(m) for m in set(best.values()))
  names = ", ".join(f"{b:g}x {m} {table[b][m]:.4f}" for b, m in best.items())
  records.append(measured(
      "embedding_compression", "No method is best at all three budgets "
      f"([recon]; one seed; best: {names}); value: budgets won by the most "
      "winning method", "budgets_won_by_one_method", most, None, 2,
      higher_is_better=False))
  return records
