"""Reconstruction and sparsity of a sparse autoencoder over a dataset."""

import functools
import pathlib

import jax
import numpy as np
from jax import numpy as jnp

from train import plots
from zoo.interp.sae import STATS, decoder_coherence


@functools.partial(jax.jit, static_argnums=0)
def _batch(model, variables, batch):
  x, mask = batch["x"], batch["mask"]
  out = model.apply(variables, x)
  sq = lambda a: jnp.sum(jnp.where(mask[:, None], a ** 2, 0.0))
  z_norm = jnp.linalg.norm(x - variables["params"]["b_dec"], axis=-1)
  f_norm = jnp.linalg.norm(out.f, axis=-1)
  return (sq(x - out.x_hat), sq(x), jnp.sum(jnp.where(mask, x.T, 0.0), 1),
          jnp.sum(jnp.where(mask[:, None], out.f > 0, 0)), z_norm, f_norm)


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """Over the real rows of `batches`: nmse (summed squared error over the
  summed squared deviation from the data mean), explained_variance, l0
  (mean active latents per row), the dead_fraction of latents, and the
  decoder's eps_max and eps_mean (`decoder_coherence`). Writes the ZF plot
  to the workdir."""
  err = energy = active = rows = 0.0
  total, zs, fs = 0.0, [], []
  for batch in batches:
    e, s, col, act, z, f = _batch(model, variables, batch)
    mask = np.asarray(batch["mask"], bool)
    err, energy, active = err + float(e), energy + float(s), active + int(act)
    total = total + np.asarray(col)
    rows += int(mask.sum())
    zs.append(np.asarray(z)[mask])
    fs.append(np.asarray(f)[mask])
  mean = total / max(rows, 1)
  nmse = err / max(energy - rows * float(mean @ mean), 1e-12)
  cfg = model.config
  inactive = variables[STATS]["inactive"]
  metrics = {
      "nmse": nmse,
      "explained_variance": 1.0 - nmse,
      "l0": active / max(rows, 1),
      "dead_fraction": float(jnp.mean(inactive >= cfg.dead_after)),
      **{k: float(v) for k, v in decoder_coherence(
          variables["params"]).items()},
  }
  if workdir is not None and jax.process_index() == 0 and rows:
    plots.zf_plot(np.concatenate(zs), np.concatenate(fs),
                  pathlib.Path(workdir) / "zf_plot.png",
                  title=f"{cfg.activation} SAE, NMSE {nmse:.3f}")
  return metrics
