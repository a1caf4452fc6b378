"""Reconstruction error and codebook use of a VQ autoencoder."""

import functools
import pathlib

import jax
import numpy as np
from jax import numpy as jnp

from train import plots


@functools.partial(jax.jit, static_argnums=0)
def _batch_stats(model, variables, batch):
  recon, indices, _ = model.apply(variables, batch["x"])
  mask = batch["mask"]
  sq_err = jnp.sum(jnp.where(mask[:, None], (recon - batch["x"]) ** 2, 0.0))
  num_codes = model.cfg.quantizer.num_codes
  hits = jax.nn.one_hot(indices, num_codes, dtype=jnp.int32)  # [B, T, K]
  counts = jnp.sum(jnp.where(mask[:, None, None], hits, 0), axis=(0, 1))
  return sq_err, counts, jnp.sum(mask) * batch["x"].shape[-1], recon


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """Metrics over all real rows of `batches`.

  Returns:
    reconstruction_mse (per pixel), codebook_utilization (fraction of codes
    used at least once), codes_used, code_perplexity (exp of the entropy of
    the code histogram).
  """
  sq_err, values, first = 0.0, 0, None
  counts = np.zeros(model.cfg.quantizer.num_codes, np.int64)
  for batch in batches:
    err, hits, size, recon = _batch_stats(model, variables, batch)
    sq_err += float(err)
    counts += np.asarray(jax.device_get(hits))
    values += int(size)
    if first is None and jax.process_count() == 1:
      first = (np.asarray(batch["x"][:12]), np.asarray(recon[:12]))
  probs = counts / max(counts.sum(), 1)
  entropy = -np.sum(probs[probs > 0] * np.log(probs[probs > 0]))
  metrics = {
      "reconstruction_mse": sq_err / max(values, 1),
      "codebook_utilization": float(np.mean(counts > 0)),
      "codes_used": int(np.sum(counts > 0)),
      "code_perplexity": float(np.exp(entropy)),
  }
  if workdir is not None and jax.process_index() == 0:
    workdir = pathlib.Path(workdir)
    if first is not None:
      side = int(round(np.sqrt(first[0].shape[-1])))
      shape = (-1, side, side)
      plots.image_pairs(first[0].reshape(shape), first[1].reshape(shape),
                        workdir / "reconstructions.png",
                        title=f"MSE {metrics['reconstruction_mse']:.2e}")
    plots.code_usage(counts, workdir / "codebook_usage.png",
                     title="codebook usage")
  return metrics
