"""InfoMEC (Hsu et al., 2023): modularity, compactness and explicitness of
latents with respect to known sources, from normalised mutual information.

    scores = infomec(sources, latents, discrete=True)
    scores.infom, scores.infoc, scores.infoe

Numpy in, floats out (scikit-learn estimators, as the paper's code):

* NMI_ij = I(s_i; z_j) / H(s_i). Discrete latents: `mutual_info_score` of
  the label-encoded values. Continuous latents: the kNN estimator
  (`mutual_info_classif`, k = 10, fixed random_state) on standardised
  values.
* Active latents: range > 0 (discrete) or > max range / 20 (continuous).
* InfoM = (mean_j[max_i NMI_ij / sum_i NMI_ij] - 1/n_s) / (1 - 1/n_s) over
  active latents; InfoC = (mean_i[max_j NMI_ij / sum_j NMI_ij] - 1/n_a) /
  (1 - 1/n_a).
* InfoE = mean_i (H_null - H_pred) / H_null: H is the training log loss of
  an unpenalised, class-balanced multinomial logistic regression (lbfgs,
  100 iterations) predicting s_i from the one-hot latents, or from zeros.

Ours: continuous latents enter InfoE as one-hots of 10 quantile bins each
(the paper's code standardises them instead); a latent with no information
about any source (a zero NMI column) counts as 1/n_s in InfoM's mean, the
value of a latent spread evenly over the sources (the paper's code divides
0 by 0 there); likewise a source no latent informs counts 1/n_a in InfoC.
"""

import dataclasses
import warnings

import numpy as np

KNN_NEIGHBOURS = 10
QUANTILE_BINS = 10
_SEED = 0


@dataclasses.dataclass(frozen=True)
class InfoMEC:
  """Attributes:

    infom, infoc, infoe: the three scores, each in [0, 1] (up to estimator
      noise).
    nmi: [n_s, n_z] normalised mutual information.
    active: [n_z] bool, the latents that count.
  """

  infom: float
  infoc: float
  infoe: float
  nmi: np.ndarray
  active: np.ndarray


def _check(sources: np.ndarray, latents: np.ndarray):
  sources, latents = np.asarray(sources), np.asarray(latents)
  if sources.ndim != 2 or latents.ndim != 2:
    raise ValueError(f"infomec: sources and latents must be [samples, n], "
                     f"got shapes {sources.shape} and {latents.shape}")
  if len(sources) != len(latents):
    raise ValueError(f"infomec: sources and latents differ in length "
                     f"({len(sources)} vs {len(latents)} samples)")
  if sources.shape[1] < 2 or latents.shape[1] < 1:
    raise ValueError(f"infomec: needs at least 2 sources and 1 latent, got "
                     f"{sources.shape[1]} and {latents.shape[1]}")
  if not np.all(np.isfinite(latents)):
    raise ValueError("infomec: latents hold NaN or infinite values")
  constant = [i for i in range(sources.shape[1])
              if len(np.unique(sources[:, i])) < 2]
  if constant:
    raise ValueError(f"infomec: source(s) {constant} are constant (their "
                     f"entropy is 0)")
  return sources, latents


def _labels(column: np.ndarray) -> np.ndarray:
  return np.unique(column, return_inverse=True)[1]


def normalized_mutual_information(sources, latents, discrete: bool
                                  ) -> np.ndarray:
  """[n_s, n_z] NMI_ij = I(s_i; z_j) / H(s_i)."""
  from sklearn import feature_selection, metrics  # noqa: PLC0415

  sources, latents = _check(sources, latents)
  nmi = np.empty((sources.shape[1], latents.shape[1]))
  if not discrete:
    std = latents.std(0)
    scaled = (latents - latents.mean(0)) / np.where(std > 0, std, 1.0)
  for i in range(sources.shape[1]):
    s = _labels(sources[:, i])
    for j in range(latents.shape[1]):
      if discrete:
        nmi[i, j] = metrics.mutual_info_score(s, _labels(latents[:, j]))
      else:
        nmi[i, j] = feature_selection.mutual_info_classif(
            scaled[:, j:j + 1], s, discrete_features=False,
            n_neighbors=KNN_NEIGHBOURS, random_state=_SEED)[0]
    nmi[i] /= metrics.mutual_info_score(s, s)
  return nmi


def _concentration(nmi: np.ndarray, axis: int) -> np.ndarray:
  """max / sum along `axis`; 1/n for an all-zero line (see above)."""
  total = nmi.sum(axis)
  even = 1.0 / nmi.shape[axis]
  return np.where(total > 0, nmi.max(axis) / np.where(total > 0, total, 1),
                  even)


def _rescaled(mean: float, n: int) -> float:
  """(mean - 1/n) / (1 - 1/n); 1 when there is a single item (n = 1)."""
  return 1.0 if n == 1 else (mean - 1.0 / n) / (1.0 - 1.0 / n)


def _one_hot(latents: np.ndarray, discrete: bool) -> np.ndarray:
  """[samples, sum of levels] one-hot codes of each latent (continuous ones
  cut at their deciles first)."""
  columns = []
  for j in range(latents.shape[1]):
    z = latents[:, j]
    if not discrete:
      edges = np.quantile(z, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1])
      z = np.searchsorted(edges, z, side="right")
    labels = _labels(z)
    columns.append(np.eye(labels.max() + 1)[labels])
  return np.concatenate(columns, axis=1)


def _log_loss(features: np.ndarray, target: np.ndarray) -> float:
  from sklearn import exceptions, linear_model, metrics  # noqa: PLC0415

  model = linear_model.LogisticRegression(
      C=np.inf, class_weight="balanced", solver="lbfgs", max_iter=100)
  with warnings.catch_warnings():
    # The paper's 100 iterations, converged or not.
    warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
    model.fit(features, target)
  return metrics.log_loss(target, model.predict_proba(features))


def explicitness(sources, latents, discrete: bool) -> float:
  """InfoE: mean over sources of the log loss removed by the latents."""
  sources, latents = _check(sources, latents)
  features = _one_hot(latents, discrete)
  null = np.zeros((len(latents), 1))
  gains = []
  for i in range(sources.shape[1]):
    s = _labels(sources[:, i])
    h_null = _log_loss(null, s)
    gains.append((h_null - _log_loss(features, s)) / h_null)
  return float(np.mean(gains))


def infomec(sources, latents, discrete: bool) -> InfoMEC:
  """InfoM, InfoC and InfoE of `latents` with respect to `sources`.

  Args:
    sources: [samples, n_s] the true factors (any values; label-encoded).
    latents: [samples, n_z] codes (discrete=True: indices or any values)
      or continuous latents.
    discrete: how to estimate mutual information (see the module
      docstring).

  Raises:
    ValueError: shapes or lengths differ, fewer than 2 sources, a constant
      source, non-finite latents, or no active latent.
  """
  sources, latents = _check(sources, latents)
  nmi = normalized_mutual_information(sources, latents, discrete)
  ranges = latents.max(0) - latents.min(0)
  active = ranges > (0 if discrete else ranges.max() / 20)
  if not active.any():
    raise ValueError("infomec: every latent is constant (no active latent)")
  pruned = nmi[:, active]
  n_sources, n_active = pruned.shape
  infom = _rescaled(float(np.mean(_concentration(pruned, 0))), n_sources)
  infoc = _rescaled(float(np.mean(_concentration(pruned, 1))), n_active)
  return InfoMEC(infom, infoc, explicitness(sources, latents, discrete), nmi,
                 active)
