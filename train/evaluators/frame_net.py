"""A frame network on held-out chains: H/E/C accuracy from clean frames,
and CA RMSD before and after denoising (fixed noise: key 0, per batch)."""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from train.tasks import frame_denoise


@functools.partial(jax.jit, static_argnums=0)
def _batch_sums(model, variables, batch, key):
  """Sums over the real rows: correct labels, residues, noisy and denoised
  per-chain RMSD, chains. Padding rows repeat row 0 and weigh 0."""
  mask = batch["residue_mask"]
  valid = batch["mask"].astype(jnp.float32)
  counted = mask * valid[:, None]
  frames = frame_denoise.clean_frames(batch)
  logits = model.apply(variables, frames.rot, frames.trans, mask).logits
  correct = jnp.sum((jnp.argmax(logits, -1) == batch["labels"]) * counted)
  noisy = frame_denoise.noisy_frames(batch, key)
  out = model.apply(variables, noisy.rot, noisy.trans, mask).frames
  return (correct, jnp.sum(counted),
          jnp.sum(frame_denoise.ca_rmsd(noisy, batch) * valid),
          jnp.sum(frame_denoise.ca_rmsd(out, batch) * valid), jnp.sum(valid))


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """label_accuracy; ca_rmsd_noisy and ca_rmsd_denoised (Angstrom, mean
  per chain) and ca_rmsd_reduction = 1 - denoised / noisy."""
  del workdir  # no plots
  total = np.zeros(5)
  for i, batch in enumerate(batches):
    key = jax.random.fold_in(jax.random.key(0), i)
    total += np.asarray(jax.device_get(
        _batch_sums(model, variables, batch, key)), np.float64)
  noisy, denoised = total[2] / total[4], total[3] / total[4]
  return {"label_accuracy": float(total[0] / total[1]),
          "ca_rmsd_noisy": float(noisy), "ca_rmsd_denoised": float(denoised),
          "ca_rmsd_reduction": float(1 - denoised / noisy)}
