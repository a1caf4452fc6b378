"""CPPD's claim: one parallel decoder pass reads about as well as an
autoregressive decoder, several times faster.

Setting: `digit_strips` (16x96 lines of 1-8 scikit-learn digits; the test
strips use only held-out digit images). Three recognizers with the same
encoder are trained for the same steps with the same optimizer
(train/configs/cppd.py), each from seeds 0, 1 and 2 (`train.store.cppd`,
cached; 6000 steps, about 10 minutes a model on 2 lightly loaded cores,
25 under load): CPPD (character + counting + ordering losses), the plain
parallel decoder (`cppd.py:side_losses=false`) and the autoregressive
decoder (`cppd_ar.py`). Sequence accuracy: the whole digit string and its
EOS right, over all 2,000 test strips; the accuracy claims pass on the mean
over the three seeds, and print the spread.

Latency, the fair setting (issue #20): CPPD's gain is parallelism, and on
two CPU cores the time follows the arithmetic, not the number of calls.
The parallel decoder runs four layers over the 24 visual tokens (and the 9
slots) and the edge layer, about 12 MFLOP; the AR decoder projects the
visual tokens once and then takes one ~0.27 MFLOP step per character and
EOS; the encoder (about 16 MFLOP) is the same for both. So on CPU even a
free parallel decoder reads at most about 1.5x faster than AR. The paper's
~8x is measured on GPUs, where at batch 1 a layer this narrow leaves the
device idle and each of up to 25 AR steps pays a chain of kernel launches
that one wide pass pays once. The cost model of that regime
(`eval.decoding.critical_path`): latency = the matrix products on the
longest dependency chain, each one kernel, the arithmetic hidden; AR pays
its memory's chain once and its step's chain once per step (its steps: the
trained AR decoder's own, EOS included, over the test strips, per seed).
The claim is judged on that model; its precondition (dependent products
and FLOPs per AR step and per CPPD pass, and the CPU seconds per AR step,
the slope of latency over steps) is in the claim text. No GPU wall clock
stands beside it yet.

Sensitivity (the setting of the first records, re-measured): seed 0 only,
the wall clock on CPU: the median over 64 test images of reading one image
at batch 1 (jitted with the weights compiled in, encoder included; the AR
decoder stops once every row has emitted EOS), CPPD and AR timed
alternately so that load on a shared CPU hits both alike; a record repeats
the ratio for the decoders alone (reading minus encoding time).

The side losses' precondition: counting and ordering supervise how many
characters a line holds and which slots they occupy, so they can add
points only where the plain decoder gets lengths wrong. The claim text
prints the plain decoder's share of test strips read at the wrong length.

Measured on seeds 0, 1 and 2 (issue #20; 2026-12-06, 2 shared cores):
accuracy CPPD - AR -0.9 points (-1.7 to -0.4), pass; the cost model gives AR
4.13x CPPD's chain with the encoder (6.10x for the decoders alone: 5.47 AR
steps of 21 dependent matmuls against one pass of 19), pass, while the FLOPs
run the other way (AR 0.66x CPPD's) and so does the CPU clock (0.82x on seed
0 this run, 1.19x at load 20 before: the wall clock follows the load). The
side losses add 0.0 points (-1.2 to +1.3), FAIL, and their precondition is
absent: the plain decoder reads 0.1-0.2% of test strips at the wrong length,
so counting and ordering have almost nothing to correct; its errors are
digits misread, which neither side task supervises.
"""

import functools
import time

import jax
import numpy as np
from jax import numpy as jnp

from eval.claims import measured, over_seeds
from eval.decoding import critical_path
from train.data import sources
from train.store import cppd as cppd_store
from train.tasks import cppd as cppd_task
from zoo.decoding import cppd
from zoo.lm import special_tokens
from zoo.vision import ar_decoder

SEEDS = (0, 1, 2)
LATENCY_IMAGES = 64
_EVAL_BATCH = 500


def _test_split():
  source = sources.data_source("digit_strips", "test")
  records = source.__getitems__(range(len(source)))
  examples = {f: np.stack([r[f] for r in records])
              for f in ("image", "label")}
  return cppd_task.TASK.prepare(examples)


def read_all(model, variables, images) -> np.ndarray:
  """[N, H, W] images -> [N, S] tokens, cut at EOS."""
  read = jax.jit(functools.partial(cppd.recognize, model))
  return np.concatenate([
      np.asarray(read(variables, images[i:i + _EVAL_BATCH]))
      for i in range(0, len(images), _EVAL_BATCH)])


def sequence_accuracy(tokens, labels) -> float:
  """Fraction of rows whose tokens [S] all equal the label's."""
  return float(np.mean(np.all(tokens == labels, axis=1)))


def steps_to_eos(tokens) -> np.ndarray:
  """[N, S] tokens -> [N] slots up to and including the first EOS (all S
  without one): an AR decoder's steps reading that row alone."""
  is_eos = tokens == special_tokens.EOS
  return np.where(is_eos.any(axis=1), np.argmax(is_eos, axis=1) + 1,
                  tokens.shape[1])


def _encoder(module, images):
  return module.encoder(images)


def batch_one_latency(trained: dict, images) -> dict[str, np.ndarray]:
  """Seconds per image at batch 1, reading and encoding only.

  Args:
    trained: {name: (model, variables)}.
    images: [N, H, W], timed one at a time.

  Returns:
    {name: [N] seconds to read each image, f"{name}_encoder": [N] seconds
    to encode it}. The weights are compiled in as constants, so the time is
    the model's, not that of passing a tree of parameters to each call.
  """
  fns = {}
  for name, (model, variables) in trained.items():
    fns[name] = jax.jit(functools.partial(cppd.recognize, model, variables))
    fns[f"{name}_encoder"] = jax.jit(functools.partial(
        model.apply, variables, method=_encoder))
  for fn in fns.values():
    jax.block_until_ready(fn(images[:1]))  # compile
  times = {name: [] for name in fns}
  for image in images:
    for name, fn in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn(image[None]))
      times[name].append(time.perf_counter() - start)
  return {name: np.array(t) for name, t in times.items()}


def chain_costs(trained: dict, image) -> dict[str, float]:
  """Dependent matrix products and FLOPs of each piece at batch 1.

  Returns:
    {f"{piece}_matmuls", f"{piece}_flops"} for pieces "encoder", "cppd"
    (a whole reading), "ar_memory" (encoder and visual keys and values) and
    "ar_step" (one decoder call and its argmax).
  """
  model, variables = trained["cppd"]
  ar, ar_vars = trained["ar"]
  image = jnp.asarray(image)[None]
  cfg = ar.cfg
  memory_of = lambda v, x: ar.apply(v, x, method=ar_decoder.ARRecognizer.memory)
  shape = (cfg.decoder_layers, 1, cfg.num_slots, cfg.num_heads,
           cfg.head_dim)
  step_args = (ar_vars, jnp.zeros((1,), jnp.int32),
               (jnp.zeros(shape), jnp.zeros(shape)),
               memory_of(ar_vars, image))

  def step(v, token, cache, memory):
    logits, _ = ar.apply(v, token, 1, cache, memory,
                         method=ar_decoder.ARRecognizer.step)
    return jnp.argmax(logits, axis=-1)

  pieces = {
      "encoder": (lambda v, x: model.apply(v, x, method=_encoder),
                  (variables, image)),
      "cppd": (lambda v, x: cppd.decode(model, v, x), (variables, image)),
      "ar_memory": (memory_of, (ar_vars, image)),
      "ar_step": (step, step_args),
  }
  costs = {}
  for name, (fn, args) in pieces.items():
    costs[f"{name}_matmuls"] = critical_path.dependent_matmuls(fn, *args)
    costs[f"{name}_flops"] = critical_path.flops(fn, *args)
  return costs


def check():
  test = _test_split()
  images, labels = test["image"], test["label"]
  accuracy, ar_steps, pd_length_errors = {}, {}, []
  length = lambda tokens: np.sum(tokens != special_tokens.PAD, axis=1)
  for seed in SEEDS:
    for name in cppd_store.CONFIGS:
      tokens = read_all(*cppd_store.load(name, seed), images)
      accuracy[name, seed] = sequence_accuracy(tokens, labels)
      if name == "ar":
        ar_steps[seed] = steps_to_eos(tokens)
      if name == "pd":
        pd_length_errors.append(np.mean(length(tokens) != length(labels)))
  per_seed = lambda a, b: [accuracy[a, s] - accuracy[b, s] for s in SEEDS]
  gap, gain = per_seed("cppd", "ar"), per_seed("cppd", "pd")

  trained = {name: cppd_store.load(name, SEEDS[0]) for name in ("cppd", "ar")}
  latency = batch_one_latency(trained, images[:LATENCY_IMAGES])
  median = {name: float(np.median(t)) for name, t in latency.items()}
  decoding = {name: median[name] - median[f"{name}_encoder"]
              for name in ("cppd", "ar")}
  step_seconds = np.polyfit(ar_steps[SEEDS[0]][:LATENCY_IMAGES],
                            latency["ar"], 1)[0]
  c = chain_costs(trained, images[0])
  encoder = c["encoder_matmuls"]
  model_ratio, decoder_model_ratio = [], []
  for seed in SEEDS:
    ar_chain = c["ar_memory_matmuls"] + np.mean(ar_steps[seed]) * c[
        "ar_step_matmuls"]
    model_ratio.append(ar_chain / c["cppd_matmuls"])
    decoder_model_ratio.append((ar_chain - encoder)
                               / (c["cppd_matmuls"] - encoder))
  mean_steps = np.mean([np.mean(ar_steps[s]) for s in SEEDS])
  precondition = (
      f"precondition: an AR step is a chain of {c['ar_step_matmuls']} "
      f"dependent matmuls and {c['ar_step_flops'] / 1e6:.2f} MFLOP, "
      f"{mean_steps:.2f} steps a strip; a CPPD pass "
      f"{c['cppd_matmuls'] - encoder} and "
      f"{(c['cppd_flops'] - c['encoder_flops']) / 1e6:.1f} MFLOP after an "
      f"encoder of {encoder} and {c['encoder_flops'] / 1e6:.1f} MFLOP; on "
      f"CPU an AR step costs {step_seconds * 1e6:.0f} us, reading "
      f"{median['ar'] / median['cppd']:.2f}x CPPD's time")
  cpu = "sensitivity: seed 0, wall clock on CPU"
  spread = functools.partial(over_seeds, seeds=SEEDS)
  return [
      measured("cppd", "sequence accuracy within 2 points of the AR "
               f"decoder's ({spread(gap)}; value: mean CPPD - AR; "
               "baseline: mean AR accuracy)",
               "sequence_accuracy_gap_vs_ar", np.mean(gap),
               np.mean([accuracy["ar", s] for s in SEEDS]), -0.02),
      measured("cppd", "reads a line >= 3x faster than the AR decoder at "
               "batch 1 on an accelerator, encoder included: cost model, "
               "latency = dependent matmuls, arithmetic hidden "
               f"({spread(model_ratio)}; {precondition}; value: AR / CPPD "
               "chain; baseline: CPPD chain)",
               "cost_model_latency_ratio_ar_over_cppd", np.mean(model_ratio),
               c["cppd_matmuls"], 3.0),
      measured("cppd", "record: the same cost-model ratio for the decoders "
               f"alone ({spread(decoder_model_ratio)}; baseline: CPPD "
               "decoder chain)", "cost_model_decoder_latency_ratio",
               np.mean(decoder_model_ratio), c["cppd_matmuls"] - encoder,
               3.0),
      measured("cppd", "record: counting and ordering losses add >= 2 "
               f"points over the plain parallel decoder ({spread(gain)}; "
               "precondition: the plain decoder reads "
               f"{spread(pd_length_errors)} of test strips at the wrong "
               "length; value: mean CPPD - PD; baseline: mean PD accuracy)",
               "sequence_accuracy_gain_vs_pd", np.mean(gain),
               np.mean([accuracy["pd", s] for s in SEEDS]), 0.02),
      measured("cppd", f"{cpu}: sequence accuracy within 2 points of the "
               "AR decoder's (value: CPPD - AR; baseline: AR accuracy)",
               "sequence_accuracy_gap_vs_ar_seed0", gap[0],
               accuracy["ar", SEEDS[0]], -0.02),
      measured("cppd", f"{cpu}: reads a line >= 3x faster than the AR "
               "decoder at batch 1 on CPU, encoder included (value: AR / "
               "CPPD latency; baseline: CPPD seconds per image)",
               "latency_ratio_ar_over_cppd", median["ar"] / median["cppd"],
               median["cppd"], 3.0),
      measured("cppd", f"{cpu}: the same ratio for the decoders alone "
               "(reading minus encoding time; baseline: CPPD decoder "
               "seconds per image)", "decoder_latency_ratio_ar_over_cppd",
               decoding["ar"] / decoding["cppd"], decoding["cppd"], 3.0),
      measured("cppd", f"{cpu}: counting and ordering losses add >= 2 "
               "points over the plain parallel decoder (value: CPPD - PD; "
               "baseline: PD accuracy)", "sequence_accuracy_gain_vs_pd_seed0",
               gain[0], accuracy["pd", SEEDS[0]], 0.02),
  ]
