"""PNG plots written into a workdir (matplotlib, no display needed): what a
training run draws (loss curves, its evaluators' figures) and what the
reports beside it reuse. Paths may be local or URLs (`etils.epath`)."""

import contextlib
import io
import pathlib
import tempfile

import matplotlib
from etils import epath

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from train import metrics  # noqa: E402
from zoo import cache  # noqa: E402


@contextlib.contextmanager
def local_folder(workdir):
  """A local folder for plots headed to `workdir`: `workdir` itself, or for
  a URL a temporary folder whose files are then copied there.

  Evaluators write their plots with local file APIs (pathlib), which would
  turn gs://bucket/run into a local folder gs:/bucket/run.
  """
  if workdir is None or cache.is_local(workdir):
    yield workdir
    return
  with tempfile.TemporaryDirectory() as tmp:
    yield pathlib.Path(tmp)
    for path in pathlib.Path(tmp).rglob("*"):
      if path.is_file():
        target = epath.Path(workdir) / str(path.relative_to(tmp))
        metrics.atomic_write_bytes(target, path.read_bytes())


def _save(fig, path: epath.PathLike) -> epath.Path:
  """Writes `fig` as a PNG, atomically: a killed run leaves no torn file."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.tight_layout()
  png = io.BytesIO()
  fig.savefig(png, format="png", dpi=110)
  plt.close(fig)
  metrics.atomic_write_bytes(path, png.getvalue())
  return path


def image_pairs(originals, reconstructions, path, *, title: str):
  """Originals (top row) above reconstructions (bottom row); [n, H, W]."""
  n = len(originals)
  fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.6), squeeze=False)
  for i in range(n):
    for row, images in enumerate((originals, reconstructions)):
      ax = axes[row, i]
      ax.imshow(images[i], cmap="gray_r", vmin=0.0, vmax=1.0)
      ax.set_xticks([])
      ax.set_yticks([])
  axes[0, 0].set_ylabel("input")
  axes[1, 0].set_ylabel("decoded")
  fig.suptitle(title)
  return _save(fig, path)


def code_usage(counts, path, *, title: str):
  """Histogram of code usage, codes sorted from most to least used."""
  counts = np.sort(np.asarray(counts))[::-1]
  fig, ax = plt.subplots(figsize=(6, 3))
  ax.bar(np.arange(len(counts)), counts, width=1.0)
  ax.set_xlabel("code (sorted by use)")
  ax.set_ylabel("assignments")
  used = int((counts > 0).sum())
  ax.set_title(f"{title}: {used}/{len(counts)} codes used")
  return _save(fig, path)


def loss_curves(metrics_file, path, *, keys=None):
  """Curves of the numeric train metrics logged in metrics.jsonl."""
  rows = [r for r in metrics.read_rows(metrics_file)
          if r.get("split") == "train"]
  if not rows:
    return None
  keys = keys or sorted(k for k in rows[-1]
                        if k not in ("step", "split", "steps_per_sec")
                        and isinstance(rows[-1][k], (int, float)))
  fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8),
                           squeeze=False)
  steps = [r["step"] for r in rows]
  for ax, key in zip(axes[0], keys):
    values = np.array([r.get(key, np.nan) for r in rows], np.float64)
    ax.plot(steps, values)
    ax.set_title(key)
    ax.set_xlabel("step")
    if key in ("loss", "recon_mse", "vq_loss") and np.all(values > 0):
      ax.set_yscale("log")
  return _save(fig, path)


def curves(series, path, *, title: str, xlabel: str, ylabel: str,
           logx: bool = False):
  """Line plot of {label: (x, y)}."""
  fig, ax = plt.subplots(figsize=(5.5, 3.6))
  for label, (x, y) in series.items():
    ax.plot(x, y, label=label)
  if logx:
    ax.set_xscale("log")
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return _save(fig, path)


def recall_at_k(curves_by_name, path, *, title: str):
  """Recall@k against k (log scale) for {name: [max_k] recall curve}."""
  return curves({name: (np.arange(1, len(c) + 1), c)
                 for name, c in curves_by_name.items()}, path, title=title,
                xlabel="k", ylabel="Recall@k", logx=True)


def zf_plot(z_norms, f_norms, path, *, title: str):
  """Top-AFA's ZF plot: ||f|| (sparse code) against ||z|| (dense input),
  with the diagonal ||f|| = ||z|| that quasi-orthogonal decoders approach:
  points below it are under-activated, above it over-activated."""
  fig, ax = plt.subplots(figsize=(4.2, 4.0))
  ax.scatter(z_norms, f_norms, s=4, alpha=0.4)
  top = float(max(np.max(z_norms), np.max(f_norms), 1e-6))
  ax.plot([0, top], [0, top], color="black", lw=0.8, ls="--")
  ax.set_xlabel("||z|| (dense)")
  ax.set_ylabel("||f|| (sparse)")
  ax.set_title(title, fontsize=9)
  ax.grid(alpha=0.3)
  return _save(fig, path)
