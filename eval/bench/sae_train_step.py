"""SAE training-step time beside SAELens and EleutherAI sparsify, and
`ops.sparse_codes.sparse_decode` against the dense matmul.

    python -m eval.bench.sae_train_step [--steps 8] [--json out.json]

Train step: a TopK SAE, d = 256, width 4,096, k = 32, batch 4,096 of
standard-normal vectors, Adam 1e-3, float32, on the CPU. Each side runs its
own recipe: ours is `zoo.interp.sae.SAE` through the shared `train_step`
(mean MSE, AuxK with aux_k = 128 over latents idle for 5 batches, the
unit-norm decoder wrapper); sparsify's `SparseCoder` (FVU, AuxK from a
dead mask tracked as its trainer does, decoder renormalised and the
parallel gradient removed by hand, as its trainer does); SAELens's
`TopKTrainingSAE.training_forward_pass` (its defaults). Peers need the
`compare` extra (torch, eai-sparsify, sae-lens) and are skipped if absent.
Reports the median wall time per step after one warm-up step, the
implementations interleaved so machine load hits them alike.

Decode: B = 4,096 rows of k = 32 active latents over a [4,096, 256]
dictionary, the gather-sum against the dense [B, W] @ [W, d] matmul of
the same code (one JAX jit each; results equal to 1e-4).
"""

import argparse
import importlib.metadata
import json

import jax
import numpy as np
from jax import numpy as jnp

from eval.bench import loop_step
from eval.bench.harness import interleaved_median_ms, median_ms
from ops.sparse_codes import sparse_decode
from train.config import OptimConfig, TrainConfig
from train.tasks.sae import TASK
from zoo.interp.sae import SAE, SAEConfig

D, WIDTH, K, BATCH, LR = 256, 4096, 32, 4096, 1e-3
AUX_K, DEAD_AFTER = D // 2, 5


def jax_stepper():
  """One jitted train step of our SAE, with its state kept between calls."""
  model_cfg = SAEConfig(d_in=D, width=WIDTH, activation="topk", k=K,
                        aux_k=AUX_K, dead_after=DEAD_AFTER)
  cfg = TrainConfig(system="top_afa", model=model_cfg,
                    optim=OptimConfig(name="adam", learning_rate=LR))
  return loop_step.stepper(SAE(model_cfg), cfg, TASK,
                           {"x": np.zeros((BATCH, D), np.float32)})


def sparsify_stepper(threads: int):
  """sparsify's SparseCoder, stepped as its trainer does."""
  import torch  # noqa: PLC0415  (optional dependency)
  from sparsify import SparseCoder, SparseCoderConfig  # noqa: PLC0415

  torch.manual_seed(0)
  sae = SparseCoder(D, SparseCoderConfig(num_latents=WIDTH, k=K))
  opt = torch.optim.Adam(sae.parameters(), lr=LR)
  idle = torch.zeros(WIDTH, dtype=torch.long)

  def one(batch):
    torch.set_num_threads(threads)  # global in torch; set per call
    x = torch.from_numpy(np.asarray(batch))
    out = sae(x, dead_mask=idle >= DEAD_AFTER * BATCH)
    (out.fvu + out.auxk_loss / 32).backward()
    sae.set_decoder_norm_to_unit_norm()
    sae.remove_gradient_parallel_to_decoder_directions()
    opt.step()
    opt.zero_grad()
    fired = torch.zeros(WIDTH, dtype=torch.bool)
    fired[out.latent_indices.flatten()] = True
    idle.add_(BATCH).masked_fill_(fired, 0)

  return one


def saelens_stepper(threads: int):
  """SAELens's TopKTrainingSAE through its training forward pass."""
  import torch  # noqa: PLC0415  (optional dependency)
  from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig  # noqa: PLC0415
  from sae_lens.saes.sae import TrainStepInput  # noqa: PLC0415

  torch.manual_seed(0)
  sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=D, d_sae=WIDTH, k=K,
                                              device="cpu"))
  opt = torch.optim.Adam(sae.parameters(), lr=LR)
  idle = torch.zeros(WIDTH, dtype=torch.long)
  count = {"steps": 0}

  def one(batch):
    torch.set_num_threads(threads)
    x = torch.from_numpy(np.asarray(batch))
    out = sae.training_forward_pass(TrainStepInput(
        sae_in=x, coefficients={}, dead_neuron_mask=idle >= DEAD_AFTER,
        n_training_steps=count["steps"], is_logging_step=False))
    out.loss.backward()
    opt.step()
    opt.zero_grad()
    fired = (out.feature_acts > 0).any(0)
    idle.add_(1).masked_fill_(fired, 0)
    count["steps"] += 1

  return one


def decode_timings() -> dict[str, float]:
  """ms of the gather-sum and the dense matmul on the same code."""
  rng = np.random.default_rng(0)
  ids = jnp.asarray(np.argsort(rng.random((BATCH, WIDTH)), 1)[:, :K],
                    jnp.int32)
  values = jnp.asarray(rng.random((BATCH, K)), jnp.float32)
  rows = jnp.asarray(rng.normal(size=(WIDTH, D)), jnp.float32)
  dense = jnp.zeros((BATCH, WIDTH)).at[jnp.arange(BATCH)[:, None],
                                       ids].set(values)
  matmul = jax.jit(jnp.matmul)
  np.testing.assert_allclose(sparse_decode(ids, values, rows),
                             matmul(dense, rows), rtol=1e-4, atol=1e-4)
  return {"sparse_decode (gather-sum)": median_ms(
              sparse_decode, [(ids, values, rows)], runs=15),
          "dense [B, W] @ [W, d]": median_ms(
              matmul, [(dense, rows)], runs=15)}


def _version(package: str) -> str:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return "not installed"


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--steps", type=int, default=8)
  p.add_argument("--json", default=None, help="also write results here")
  args = p.parse_args(argv)
  batches = np.random.default_rng(1).normal(
      size=(args.steps, BATCH, D)).astype(np.float32)
  steppers = {"zoo SAE (JAX)": jax_stepper()}
  for label, make in (("sparsify", sparsify_stepper),
                      ("SAELens", saelens_stepper)):
    try:
      steppers[f"{label} (torch, 2 thr)"] = make(2)
    except ImportError as e:
      print(f"{label} skipped: {e}")
  steps = interleaved_median_ms(steppers, batches, warmup=1)
  decode = decode_timings()
  print(f"{'train step (d 256, W 4096, k 32, B 4096)':<44} ms/step")
  for name, ms in steps.items():
    print(f"{name:<44} {ms:9.1f}")
  print(f"{'decode (B 4096, k 32, W 4096, d 256)':<44} ms")
  for name, ms in decode.items():
    print(f"{name:<44} {ms:9.2f}")
  versions = {p: _version(p) for p in ("jax", "torch", "eai-sparsify",
                                       "sae-lens")}
  print("versions:", versions)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"ms_per_step": steps, "decode_ms": decode,
                 "steps": args.steps, "versions": versions}, f, indent=2)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
