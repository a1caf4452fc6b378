"""QLAE beside vector-quantize-pytorch's `LatentQuantize`: parity of the
bottleneck, and the train-step time of the sprites autoencoder.

    python -m eval.bench.qlae_peer [--steps 200] [--json out.json]

The library materialises the product codebook of all latents (n_v^n_z
rows: 10^8 for 8 latents of 10 values, over 6 GB), so its side runs 4
latents per codebook: parity at n_z = 4, and the step-time model with
`num_codebooks=2` (8 latents whose two groups of 4 share their values, a
difference that costs no time).

Parity: the same random latents [4096, 4] and the same random (unsorted)
values [4, 10] in both bottlenecks, loss weights 0.01 and 0.01; compared:
the quantized latents, the loss, and the gradients of sum(w * z_hat) +
loss to the latents and to the values. (The library names the two losses
the other way round, and computes both against its straight-through
output, so its loss trains neither the values nor the encoder: the
gradients show it.)

Step time: the QLAE of `train/configs/qlae.py` (conv encoder 16-32-32,
dense 128, 8 latents x 10 values, sub-pixel conv decoder), AdamW 1e-3 with
weight decay 0.1 on the weights, batch 64 of sprites; the PyTorch side is
the same layer shapes around `LatentQuantize`. Needs the `compare` extra
(torch, the library). Median wall time per step after warm-up, in one
process, alternating implementations so machine load hits both alike.
"""

import argparse
import json

import jax
import numpy as np
import optax
from jax import numpy as jnp

from eval.bench import loop_step
from eval.bench.harness import interleaved_median_ms
from train import config as config_lib
from train.data.builders import sprites
from zoo import registry
from zoo.vq.qlae import LatentQuantizer, decayed_params

N_Z, N_V = 8, 10
PEER_LATENTS = 4  # per codebook of the library (see above)


def parity(seed: int = 0) -> dict[str, float]:
  """Largest absolute differences between the two bottlenecks."""
  import torch  # noqa: PLC0415  (optional dependency)
  from vector_quantize_pytorch import LatentQuantize  # noqa: PLC0415

  rng = np.random.default_rng(seed)
  n = PEER_LATENTS
  z = rng.normal(size=(4096, n)).astype(np.float32) * 0.5
  values = rng.uniform(-1, 1, size=(n, N_V)).astype(np.float32)
  w = rng.normal(size=z.shape).astype(np.float32)

  ours = LatentQuantizer(n, N_V)

  def objective(z, values):
    z_hat, _, aux = ours.apply({"params": {"values": values}}, z)
    return jnp.sum(w * z_hat) + aux["loss"], (z_hat, aux["loss"])

  (_, (z_hat, loss)), (grad_z, grad_values) = jax.value_and_grad(
      objective, argnums=(0, 1), has_aux=True)(z, values)

  peer = LatentQuantize(levels=[N_V] * n, dim=n,
                        commitment_loss_weight=0.01,
                        quantization_loss_weight=0.01)
  peer.train()
  with torch.no_grad():
    for i, v in enumerate(values):
      peer.values_per_latent[i].copy_(torch.from_numpy(v))
  tz = torch.from_numpy(z).requires_grad_(True)
  out, _, peer_loss = peer(tz)
  (torch.sum(torch.from_numpy(w) * out) + peer_loss).backward()
  # The library's losses both compare z with its straight-through output,
  # so no gradient reaches the values (grad None) and their gradients to z
  # cancel: reported as the largest |gradient| on each side.
  peer_grad_values = np.stack([
      np.zeros(N_V) if p.grad is None else p.grad.numpy()
      for p in peer.values_per_latent])
  diff = lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
  top = lambda a: float(np.max(np.abs(np.asarray(a))))
  return {"z_hat": diff(z_hat, out.detach().numpy()),
          "loss": diff(loss, peer_loss.detach().numpy()),
          "grad_z": diff(grad_z, tz.grad.numpy()),
          "grad_z_from_losses_ours": diff(grad_z, w),
          "grad_z_from_losses_peer": diff(tz.grad.numpy(), w),
          "grad_values_ours": top(grad_values),
          "grad_values_peer": top(peer_grad_values)}


def _batches(n: int, batch: int = 64, seed: int = 1) -> np.ndarray:
  images = np.stack([sprites.render(*f) for f in sprites.all_factors()])
  rng = np.random.default_rng(seed)
  return np.stack([images[rng.choice(len(images), batch, replace=False)]
                   for _ in range(n)])


def jax_stepper():
  """One jitted train step of the zoo's QLAE (the claim's optimizer)."""
  cfg = config_lib.load_config("qlae.py")
  model = registry.get("qlae").builder(cfg.model)
  task = config_lib.task_of(cfg)
  tx = optax.adamw(cfg.optim.learning_rate,
                   weight_decay=cfg.optim.weight_decay, mask=decayed_params)
  first = {"images": _batches(1)[0], "factors": np.zeros((64, 4), np.int64)}
  return loop_step.stepper(model, cfg, task, first, input_name="images",
                           tx=tx)


def torch_stepper(threads: int):
  """The same layer shapes in PyTorch around `LatentQuantize`."""
  import torch  # noqa: PLC0415
  from torch import nn as tnn  # noqa: PLC0415
  from vector_quantize_pytorch import LatentQuantize  # noqa: PLC0415

  torch.manual_seed(0)
  act = tnn.LeakyReLU(0.01)
  enc = tnn.Sequential(
      tnn.Conv2d(1, 16, 4, 2, 1), act, tnn.Conv2d(16, 32, 4, 2, 1), act,
      tnn.Conv2d(32, 32, 4, 2, 1), act, tnn.Flatten(), tnn.Linear(512, 128),
      tnn.ReLU(), tnn.Linear(128, N_Z))
  quantizer = LatentQuantize(levels=[N_V] * PEER_LATENTS, dim=N_Z,
                             num_codebooks=N_Z // PEER_LATENTS,
                             commitment_loss_weight=0.01,
                             quantization_loss_weight=0.01)
  dec = tnn.Sequential(
      tnn.Linear(N_Z, 128), tnn.ReLU(), tnn.Linear(128, 512), tnn.ReLU(),
      tnn.Unflatten(1, (32, 4, 4)), tnn.Conv2d(32, 128, 3, 1, 1),
      tnn.PixelShuffle(2), act, tnn.Conv2d(32, 64, 3, 1, 1),
      tnn.PixelShuffle(2), act, tnn.Conv2d(16, 4, 3, 1, 1),
      tnn.PixelShuffle(2))
  weights = [p for m in (enc, dec) for n, p in m.named_parameters()
             if n.endswith("weight")]
  others = [p for m in (enc, dec) for n, p in m.named_parameters()
            if not n.endswith("weight")] + list(quantizer.parameters())
  opt = torch.optim.AdamW([{"params": weights, "weight_decay": 0.1},
                           {"params": others, "weight_decay": 0.0}], lr=1e-3)

  def one(batch):
    torch.set_num_threads(threads)  # global in torch; set per call
    x = torch.from_numpy(np.asarray(batch))[:, None]
    z_hat, _, aux_loss = quantizer(enc(x))
    logits = dec(z_hat)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, x)
    opt.zero_grad()
    (loss + aux_loss).backward()
    opt.step()

  return one


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--steps", type=int, default=200)
  p.add_argument("--json", default=None, help="also write results here")
  args = p.parse_args(argv)
  out = {"parity_max_abs_diff": parity()}
  print("parity (max |ours - LatentQuantize|):", out["parity_max_abs_diff"])
  steppers = {"qlae (zoo, JAX)": jax_stepper()}
  for threads in (1, 2):
    steppers[f"qlae (LatentQuantize, PyTorch, {threads} thr)"] = (
        torch_stepper(threads))
  out["ms_per_step"] = interleaved_median_ms(steppers, _batches(args.steps),
                                           warmup=20)
  print(f"{'implementation':<48} ms/step")
  for name, ms in out["ms_per_step"].items():
    print(f"{name:<48} {ms:7.3f}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({**out, "steps": args.steps, "jax": jax.__version__}, f,
                indent=2)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
