"""Training-step time of the VQ autoencoders beside vector-quantize-pytorch.

    python -m eval.bench.vq_train_step [--steps 300] [--json out.json]

Same model on both sides: digits MLP autoencoder (64-128-64), 4 tokens x 16
dims, K=512, Adam 1e-3, batch 128, straight-through gradients. The PyTorch
side uses the library's `SimVQ(rotation_trick=False)` and
`VectorQuantize(learnable_codebook=True, ema_update=False,
rotation_trick=False)`; needs the `compare` extra (torch, the library).
Reports the median wall time per step after warm-up, measured in one
process, alternating implementations so machine load hits both alike.
"""

import argparse
import json

import jax
import numpy as np
from sklearn.datasets import load_digits

from eval.bench import loop_step
from eval.bench.harness import interleaved_median_ms
from train import config as config_lib
from zoo import registry


def _digits_batches(n: int, batch: int, seed: int = 0) -> np.ndarray:
  x = (load_digits().data / 16.0).astype(np.float32)
  rng = np.random.default_rng(seed)
  return np.stack([x[rng.choice(len(x), batch, replace=False)]
                   for _ in range(n)])


def jax_stepper(system: str):
  """A function running one jitted train step of our model on a batch."""
  cfg = config_lib.load_config(f"{system}.py")
  spec = registry.get(system)
  model = spec.builder(cfg.model)
  task = config_lib.task_of(cfg)
  return loop_step.stepper(model, cfg, task,
                           {"x": _digits_batches(1, 128)[0]})


def torch_stepper(system: str, threads: int):
  """The same step in PyTorch with vector-quantize-pytorch."""
  import torch  # noqa: PLC0415  (optional dependency)
  from vector_quantize_pytorch import SimVQ, VectorQuantize  # noqa: PLC0415

  torch.manual_seed(0)
  if system == "simvq":
    vq = SimVQ(dim=16, codebook_size=512, rotation_trick=False)
  else:
    vq = VectorQuantize(dim=16, codebook_size=512, learnable_codebook=True,
                        ema_update=False, rotation_trick=False,
                        commitment_weight=0.25)
  enc = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                            torch.nn.Linear(128, 64))
  dec = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                            torch.nn.Linear(128, 64))
  params = [*enc.parameters(), *dec.parameters(), *vq.parameters()]
  opt = torch.optim.Adam(params, lr=1e-3)

  def one(batch):
    torch.set_num_threads(threads)  # global in torch; set per call
    x = torch.from_numpy(np.asarray(batch))
    z = enc(x).reshape(-1, 4, 16)
    q, _, aux = vq(z)
    loss = torch.mean((dec(q.reshape(-1, 64)) - x) ** 2) + aux.sum()
    opt.zero_grad()
    loss.backward()
    opt.step()

  return one


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--steps", type=int, default=300)
  p.add_argument("--json", default=None, help="also write results here")
  args = p.parse_args(argv)
  batches = _digits_batches(args.steps, 128, seed=1)
  steppers = {}
  for system in ("simvq", "vqvae"):
    steppers[f"{system} (zoo, JAX)"] = jax_stepper(system)
    try:
      for threads in (1, 2):
        steppers[f"{system} (vector-quantize-pytorch, {threads} thr)"] = (
            torch_stepper(system, threads))
    except ImportError as e:
      print(f"PyTorch side skipped: {e}")
  results = interleaved_median_ms(steppers, batches, warmup=20)
  print(f"{'implementation':<48} ms/step")
  for name, ms in results.items():
    print(f"{name:<48} {ms:7.3f}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"ms_per_step": results, "steps": args.steps,
                 "jax": jax.__version__}, f, indent=2)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
