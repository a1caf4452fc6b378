"""`synthetic_fmri`: simulated parcellated BOLD of people looking at digits.

A pipeline test only: the simulator builds the outcome in (the low-level
code drives the Visual network, the class code the Default network), so
results on it are no evidence for WAVE's neuroscience, only for the
mechanism on synthetic data (not BOLD5000).

The recipe (fixed; stored in the metadata):

* 400 parcels in the 7 networks of Yeo-7 with the shares of the Schaefer
  400-parcel atlas ([recon], from memory): Visual 61, Somatomotor 77,
  DorsalAttention 46, VentralAttention 47, Limbic 26, Frontoparietal 52,
  Default 91, parcels numbered network by network.
* One trial = one digit shown at t = 0, 10 TRs of 2 s. Visual parcel p
  responds with amplitude (V z)_p / 4, z the image's low-level code
  (`train.data.encoding_model`), Default parcel p with (D c)_p / 4, c the
  class code, V, D ~ N(0, 1); the amplitude scales SPM's canonical
  double-gamma HRF (peaks 6 s and 16 s, ratio 1/6; normalised to peak 1)
  sampled at the TRs.
* Every parcel adds AR(1) noise (phi 0.5, marginal std 1) and a global
  signal (AR(1), phi 0.8, std 0.5) with a loading U(0.5, 1.5) per parcel.
* Splits: `train`, one trial per train-split digit (1,437); `test`, one per
  test-split digit (360), in the split's order; `rest`, 400 runs of 10 TRs
  of noise and global signal alone (the encoder's CSM pre-training). The
  50 retrieval trials are the first 5 test trials of each digit.
"""

import dataclasses
import json
import math

import numpy as np
import tensorflow_datasets as tfds

from train.data import encoding_model

SEED = 0
NETWORKS = ("Visual", "Somatomotor", "DorsalAttention", "VentralAttention",
            "Limbic", "Frontoparietal", "Default")
PARCELS_PER_NETWORK = (61, 77, 46, 47, 26, 52, 91)
NUM_PARCELS = sum(PARCELS_PER_NETWORK)


@dataclasses.dataclass(frozen=True)
class Recipe:
  tr: float = 2.0
  trs_per_trial: int = 10
  noise_phi: float = 0.5
  global_phi: float = 0.8
  global_std: float = 0.5
  num_rest_runs: int = 400
  retrieval_per_class: int = 5


RECIPE = Recipe()


def network_parcels(network: str) -> np.ndarray:
  """The parcel indices of `network`; ValueError listing the valid names."""
  if network not in NETWORKS:
    raise ValueError(f"unknown network {network!r}; valid networks: "
                     f"{', '.join(NETWORKS)}")
  i = NETWORKS.index(network)
  start = sum(PARCELS_PER_NETWORK[:i])
  return np.arange(start, start + PARCELS_PER_NETWORK[i])


def ablate(bold: np.ndarray, network: str) -> np.ndarray:
  """[..., parcels] with `network`'s parcels set to zero (a copy)."""
  out = np.array(bold, copy=True)
  out[..., network_parcels(network)] = 0
  return out


def hrf(t: np.ndarray) -> np.ndarray:
  """SPM's canonical double-gamma HRF at times `t` (s), peak 1."""
  def shape(x):
    x = np.maximum(np.asarray(x, np.float64), 0.0)
    return (x ** 5 * np.exp(-x) / math.gamma(6)
            - x ** 15 * np.exp(-x) / math.gamma(16) / 6)
  return shape(t) / shape(np.linspace(0, 32, 3201)).max()


def ar1(rng, shape, length, phi, std) -> np.ndarray:
  """Stationary AR(1) series [*shape, length] with marginal std `std`."""
  x = np.empty((*shape, length))
  x[..., 0] = rng.normal(0, std, shape)
  innovation = std * math.sqrt(1 - phi ** 2)
  for t in range(1, length):
    x[..., t] = phi * x[..., t - 1] + rng.normal(0, innovation, shape)
  return x


@dataclasses.dataclass(frozen=True)
class Trials:
  """bold [N, TRs, parcels] float32, code [N, 32], label [N], image [N]
  (row of the bundled digits), pixels [N, 8, 8]; rest runs have label and
  image -1 and zero codes and pixels."""

  bold: np.ndarray
  code: np.ndarray
  label: np.ndarray
  image: np.ndarray
  pixels: np.ndarray


def retrieval_rows(labels: np.ndarray, per_class: int = 5) -> np.ndarray:
  """Rows of the first `per_class` trials of each digit."""
  return np.concatenate([np.flatnonzero(labels == c)[:per_class]
                         for c in range(10)])


def generate(recipe: Recipe = RECIPE, seed: int = SEED
             ) -> dict[str, Trials]:
  """{"train", "test", "rest"} of `recipe` and `seed` (a few seconds)."""
  data = encoding_model.load_digits()
  codes = encoding_model.fit().code(data.images, data.labels)
  d = encoding_model.CODE_DIM
  rng = np.random.default_rng([seed, 0])
  visual, default = network_parcels("Visual"), network_parcels("Default")
  readout_v = rng.normal(size=(len(visual), d)) / math.sqrt(d)
  readout_d = rng.normal(size=(len(default), d)) / math.sqrt(d)
  loadings = rng.uniform(0.5, 1.5, NUM_PARCELS)
  kernel = hrf(recipe.tr * np.arange(recipe.trs_per_trial))  # [TRs]
  noise_rng = np.random.default_rng([seed, 1])

  def background(n):  # [n, TRs, parcels]
    t = recipe.trs_per_trial
    noise = ar1(noise_rng, (n, NUM_PARCELS), t, recipe.noise_phi, 1.0)
    glob = ar1(noise_rng, (n,), t, recipe.global_phi, recipe.global_std)
    return np.swapaxes(noise + glob[:, None] * loadings[:, None], 1, 2)

  out = {}
  for split in ("train", "test"):
    rows = np.asarray(data.splits[split])
    bold = background(len(rows))
    bold[..., visual] += kernel[:, None] * (codes[rows, :d] @ readout_v.T)[
        :, None]
    bold[..., default] += kernel[:, None] * (codes[rows, d:] @ readout_d.T)[
        :, None]
    out[split] = Trials(bold.astype(np.float32), codes[rows],
                        data.labels[rows], rows.astype(np.int64),
                        data.images[rows])
  n = recipe.num_rest_runs
  out["rest"] = Trials(background(n).astype(np.float32),
                       np.zeros((n, 2 * d), np.float32),
                       np.full(n, -1), np.full(n, -1),
                       np.zeros((n, 8, 8), np.float32))
  return out


class SyntheticFmri(tfds.core.GeneratorBasedBuilder):
  """Simulated 400-parcel BOLD trials evoked by digits, and rest runs."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "bold": tfds.features.Tensor(
                shape=(RECIPE.trs_per_trial, NUM_PARCELS), dtype=np.float32),
            "code": tfds.features.Tensor(
                shape=(2 * encoding_model.CODE_DIM,), dtype=np.float32),
            "label": tfds.features.Scalar(dtype=np.int64),
            "image": tfds.features.Scalar(dtype=np.int64),
            "pixels": tfds.features.Tensor(shape=(8, 8), dtype=np.float32),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    self.info.metadata.update(recipe=json.dumps(dataclasses.asdict(RECIPE)),
                              seed=SEED, networks=list(NETWORKS))
    return {k: self._generate_examples(v) for k, v in generate().items()}

  def _generate_examples(self, trials: Trials):
    for i in range(len(trials.label)):
      yield i, {"bold": trials.bold[i], "code": trials.code[i],
                "label": trials.label[i], "image": trials.image[i],
                "pixels": trials.pixels[i]}
