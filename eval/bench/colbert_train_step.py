"""ColBERT head training step: MaxSim's custom VJP against plain autodiff
and against PyTorch, at one configuration, in one process.

    python -m eval.bench.colbert_train_step [--steps 30] [--batch 32]

The step: a linear 384 -> 128 head over frozen token states (queries 32
tokens, documents 256 tokens), in-batch contrastive cross-entropy over
MaxSim scores / 0.02, Adam. Implementations:
  ops.maxsim:<impl>  the zoo's op ("xla" on CPU: chunked forward, backward
                     as a gather/scatter of the saved argmax; "pallas" on a
                     GPU; "interpret" runs the kernel body, not a speed path)
  reference          jnp einsum + max + sum, autodiff through it
  torch              the same step in PyTorch (einsum, amax, autograd), when
                     torch is installed
Median wall time per step after warm-up, implementations interleaved.
"""

import argparse
import functools
import statistics
import time

import jax
import numpy as np
import optax
from jax import numpy as jnp

import ops
from zoo.retrieval import colbert


def _batches(n, batch, seed=0, lq=32, ld=256, dim=384):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    q = rng.normal(size=(batch, lq, dim)).astype(np.float32)
    d = rng.normal(size=(batch, ld, dim)).astype(np.float32)
    q_len = rng.integers(8, lq + 1, size=batch)
    d_len = rng.integers(32, ld + 1, size=batch)
    out.append((q, np.arange(lq) < q_len[:, None], d,
                np.arange(ld) < d_len[:, None]))
  return out


def jax_stepper(score_fn):
  head = colbert.ColBERTHead(colbert.ColBERTConfig())
  params = head.init(jax.random.key(0), jnp.zeros((1, 4, 384)))
  tx = optax.adam(1e-3)
  state = {"params": params, "opt": tx.init(params)}

  def loss(p, q, qm, d, dm):
    logits = score_fn(head.apply(p, q), head.apply(p, d), qm, dm) / 0.02
    labels = jnp.arange(q.shape[0])
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, labels).mean()

  @jax.jit
  def step(state, q, qm, d, dm):
    grads = jax.grad(loss)(state["params"], q, qm, d, dm)
    updates, opt = tx.update(grads, state["opt"])
    return {"params": optax.apply_updates(state["params"], updates),
            "opt": opt}

  def one(batch):
    state.update(jax.block_until_ready(step(state, *batch)))

  return one


def torch_stepper():
  import torch  # noqa: PLC0415  (optional)

  torch.manual_seed(0)
  head = torch.nn.Linear(384, 128, bias=False)
  opt = torch.optim.Adam(head.parameters(), lr=1e-3)

  def one(batch):
    q, qm, d, dm = (torch.from_numpy(np.asarray(a)) for a in batch)
    qv = torch.nn.functional.normalize(head(q), dim=-1)
    dv = torch.nn.functional.normalize(head(d), dim=-1)
    sim = torch.einsum("bqd,nkd->bnqk", qv, dv)
    sim = sim.masked_fill(~dm[None, :, None, :], float("-inf"))
    scores = (sim.amax(-1) * qm[:, None, :]).sum(-1) / 0.02
    loss = torch.nn.functional.cross_entropy(
        scores, torch.arange(q.shape[0]))
    opt.zero_grad()
    loss.backward()
    opt.step()

  return one


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--steps", type=int, default=30)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--interpret", action="store_true",
                 help="also time the kernel body in interpret mode")
  args = p.parse_args(argv)
  impl = "pallas" if jax.default_backend() in ("gpu", "tpu") else "xla"
  steppers = {
      f"ops.maxsim:{impl}": jax_stepper(functools.partial(
          _maxsim, implementation=impl)),
      "reference (autodiff)": jax_stepper(_reference),
  }
  if args.interpret:
    steppers["ops.maxsim:interpret"] = jax_stepper(functools.partial(
        _maxsim, implementation="interpret"))
  try:
    steppers["torch"] = torch_stepper()
  except ImportError:
    print("torch not installed: PyTorch column skipped")
  times = {name: [] for name in steppers}
  for i, batch in enumerate(_batches(args.steps, args.batch)):
    for name, one in steppers.items():
      start = time.perf_counter()
      one(batch)
      if i >= 3:
        times[name].append(1e3 * (time.perf_counter() - start))
  base = statistics.median(times["reference (autodiff)"])
  print(f"{jax.devices()[0].device_kind}, batch {args.batch}")
  for name, t in times.items():
    ms = statistics.median(t)
    print(f"{name:<28} {ms:9.2f} ms/step   {base / ms:5.2f}x reference")
  return 0


def _maxsim(q, d, qm, dm, implementation):
  return ops.maxsim(q, d, q_mask=qm, d_mask=dm, implementation=implementation)


def _reference(q, d, qm, dm):
  return ops.maxsim_reference(q, d, q_mask=qm, d_mask=dm)


if __name__ == "__main__":
  raise SystemExit(main())
