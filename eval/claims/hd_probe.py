"""The Hyperdimensional Probe's claims on `kv_analogies`, at toy scale.

Setting (fixed by the issue before any run; train/configs/hd_probe.py):
the subject LM (4 blocks, width 64) trained on the 1,960 train analogies
"k1 : v1 = k2 : v2" (50 keys, 50 values, one-to-one), the probe (e_s of
blocks 2-3 -> 1,024 -> D = 1,024, dropout 0.5, loss 1 - cos) trained on
the same analogies with the subject frozen; seed 0. Both are scored on the
490 held-out (k1, k2) combinations, which neither saw. Claims:

1. probing accuracy >= 0.85: the decoded concept (unbinding every subset
   of k1, v1, k2 from the bipolar output, cleanup skipping them) is v2;
2. on the held-out prompts the LM gets wrong (its argmax next token is not
   v2; at least 30 of them, else FAIL "too few errors"), the probe's
   accuracy beats the best layer's logit lens (each block's last-token
   output through the final norm and the tied head, argmax over the
   vocabulary; the last block's lens is the LM itself, so 0 there).

What claim 2 does and does not show: the probe is trained on targets that
contain v2, so it can learn the key-to-value map from k2's trace in e_s
whether or not the subject's head reads v2 out; beating the lens says the
probe recovers the answer from the states, not that the subject "knows"
it (the paper's probes share this confound).

Measured (2026-12-06, 2 CPU cores shared, load 10-11; 113 s wall, 39 s
of CPU, the subject trained from scratch): probing accuracy 1.000 (490 of
490; the LM's own 1.000 beside): claim 1 passes. Claim 2 FAILs with too
few errors: the LM answers all 490 held-out prompts right, so there is
nothing to compare on. Diagnosis: a held-out analogy is a new combination
of two facts the subject has seen as queries about 39 times each, and
the answer v2 depends on k2 alone; 400 steps (6.5 epochs) take the loss
to 0.99 nats per token, near the floor set by the two unpredictable keys
((ln 50 + ln 49) / 8 = 0.975), so the map is learned completely and no
held-out prompt fails. The precondition needs a subject that errs on held-out
prompts (held-out facts rather than held-out combinations, or a budget
cut short on purpose), which the issue's setting does not give.
"""

import dataclasses

import jax
import numpy as np
from jax import numpy as jnp

from eval.claims import in_memory, measured
from train import config as config_lib
from train.data.builders import kv_analogies
from train.tasks import hd_probe as probe_task
from zoo.interp import hd_probe, hooks
from zoo.lm.decoder import DecoderLM

MIN_ERRORS = 30


def lens_predictions(subject_cfg, subject, prompts) -> tuple:
  """([B] the LM's next token, [L, B] each block's logit-lens argmax) at
  the prompts' last position."""
  lm = DecoderLM(subject_cfg)
  points = [f"block_{i}/resid_post" for i in range(subject_cfg.num_layers)]
  logits, acts = hooks.capture(lm, {"params": subject}, prompts,
                               points=points)
  read = lambda m, x: m.head_logits(m.final_norm(x))
  lens = jnp.stack([lm.apply({"params": subject}, acts[p][:, -1],
                             method=read) for p in points])
  return jnp.argmax(logits[:, -1], -1), jnp.argmax(lens, -1)


def check():
  cfg = config_lib.load_config("hd_probe.py")
  data = kv_analogies.generate()
  model, variables = in_memory.train(cfg, config_lib.task_of(cfg),
                                     data["train"])
  probe_cfg, subject = cfg.model, variables["subject"]
  test = data["test"]
  prompts = test["tokens"][:, :kv_analogies.PROMPT_LENGTH]
  answer = test["tokens"][:, kv_analogies.PROMPT_LENGTH]
  concepts = test["concepts"]

  @jax.jit
  def evaluate(params, subject):
    e_s = probe_task.compressed(probe_cfg, subject, prompts)
    encoded = model.apply({"params": params}, e_s)
    decoded = hd_probe.answers(probe_cfg, encoded, concepts[:, :3])
    return (decoded,) + lens_predictions(probe_cfg.subject, subject,
                                         prompts)

  decoded, lm_next, lens_next = jax.device_get(
      evaluate(variables["params"], subject))
  probe_ok = decoded == concepts[:, 3]
  lm_ok = lm_next == answer
  wrong = ~lm_ok
  errors = int(wrong.sum())
  lens_on_errors = ((lens_next == answer)[:, wrong].mean(1) if errors
                    else np.zeros(len(lens_next)))
  best = int(np.argmax(lens_on_errors))
  probe_on_errors = float(probe_ok[wrong].mean()) if errors else 0.0
  lens_text = (f"block {best}; blocks 0-{len(lens_next) - 1}: "
               + ", ".join(f"{a:.3f}" for a in lens_on_errors)
               if errors else "none to score")
  second = measured(
      "hd_probe", f"on the {errors} held-out prompts the LM gets wrong "
      f"(>= {MIN_ERRORS} needed), probing accuracy > the best-layer logit "
      f"lens ({lens_text})", "probe_accuracy_on_lm_errors", probe_on_errors,
      float(lens_on_errors[best]), float(lens_on_errors[best]), strict=True)
  if errors < MIN_ERRORS:
    second = dataclasses.replace(
        second, claim=f"FAIL: too few errors ({errors} < {MIN_ERRORS}); "
        + second.claim, passed=False)
  return [
      measured("hd_probe", f"held-out probing accuracy >= 0.85 ({len(answer)} "
               "unseen (k1, k2) combinations; the decoded concept is v2; "
               "the LM's own next-token accuracy beside)", "probe_accuracy",
               float(probe_ok.mean()), float(lm_ok.mean()), 0.85),
      second,
  ]
