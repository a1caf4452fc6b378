"""`synthetic_meg`: simulated MEG epochs of four people looking at digits.

Claims on it are about the decoding mechanism on synthetic data, not about
THINGS-MEG: the simulator builds the decodable code in, so how much better a
deep decoder does than a linear one depends on the simulator.

The recipe (fixed; `RECIPE` and `SEED` are stored in the metadata):

* Sensors: 272 of the 275 of the CTF-275 layout (`train/data/
  sensor_layouts/ctf275.csv`, vendored from MNE, BSD-3), scaled into the
  unit square; ours: the first 272 in the layout's order (THINGS-MEG's 272
  lack three dead sensors whose names we do not have).
* Sources: 16 Gaussian blobs on the layout, centres uniform in
  [0.15, 0.85]^2, width 0.1. Subject s's lead field is
  L_s[c, k] = g_sk exp(-|p_c - m_k - d_sk|^2 / (2 * 0.1^2)), jitter
  d_sk ~ N(0, 0.03^2 I) and gain g_sk ~ logN(0, 0.2^2) (ours).
* Responses: with the image's codes (`train.data.encoding_model`: low-level
  z and class c), source k's time course is
  softplus(A z)_k b(t; 120 ms, 30 ms) + tanh(B c)_k b(t; 250 ms, 50 ms),
  b a Gaussian bump, A, B ~ N(0, 1/16) (16 x 16; ours: widths, scales).
* Epochs -0.2..0.8 s at 60 Hz (the paper: 120 Hz): 60 samples.
* Noise: 1/f noise, independent per sensor and trial, with 10 times the
  subject's mean evoked power (SNR -10 dB).
* Preprocessing as the paper: baseline (t < 0) mean removed per trial and
  sensor; robust scaling per subject and sensor (median and interquartile
  range over that subject's training samples); clamped to +-20.
* Trials: train image j (in the digits train split's order) is seen once,
  by subject j mod 4 (1,437 trials); the retrieval set, the first 10
  test-split images of each digit (100), is seen by all 4 subjects (400
  test trials). Ours: one subject per train image keeps the data small.

`generate()` gives the same arrays without TFDS; `Simulator` exposes the
noiseless forward model and its exact inverse.
"""

import dataclasses
import functools
import json
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from train.data import encoding_model

SEED = 0
LAYOUT_FILE = (pathlib.Path(__file__).resolve().parents[1] / "sensor_layouts"
               / "ctf275.csv")


@dataclasses.dataclass(frozen=True)
class Recipe:
  num_sensors: int = 272
  num_sources: int = 16
  num_subjects: int = 4
  sample_rate: float = 60.0
  tmin: float = -0.2
  tmax: float = 0.8
  blob_width: float = 0.1
  centre_jitter: float = 0.03
  gain_spread: float = 0.2
  early_latency: float = 0.12
  early_width: float = 0.03
  late_latency: float = 0.25
  late_width: float = 0.05
  snr_db: float = -10.0
  clamp: float = 20.0
  retrieval_per_class: int = 10


RECIPE = Recipe()


def num_times(recipe: Recipe = RECIPE) -> int:
  return int(round((recipe.tmax - recipe.tmin) * recipe.sample_rate))


def check_subjects(subjects, num_subjects: int) -> None:
  """ValueError naming the first unknown subject id and the valid ones."""
  subjects = np.asarray(subjects)
  bad = subjects[(subjects < 0) | (subjects >= num_subjects)]
  if bad.size:
    raise ValueError(f"unknown subject id {int(bad[0])}; valid ids: "
                     f"{', '.join(map(str, range(num_subjects)))}")


@functools.cache
def sensor_layout(num_sensors: int = RECIPE.num_sensors
                  ) -> tuple[tuple[str, ...], np.ndarray]:
  """(names, positions [num_sensors, 2] in the unit square)."""
  rows = [line.split(",") for line in LAYOUT_FILE.read_text().splitlines()
          if line and not line.startswith("#")][1:]
  rows = rows[:num_sensors]
  xy = np.array([[float(x), float(y)] for _, x, y in rows])
  xy = (xy - xy.min(0)) / (xy.max(0) - xy.min(0)).max()
  return tuple(r[0] for r in rows), xy.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Simulator:
  """The noiseless forward model.

  Attributes:
    lead_fields: [subjects, sensors, sources].
    early_readout: [sources, 16] A, applied to the low-level code.
    late_readout: [sources, 16] B, applied to the class code.
    time_courses: [2, times] the early and late bumps.
  """

  lead_fields: np.ndarray
  early_readout: np.ndarray
  late_readout: np.ndarray
  time_courses: np.ndarray

  def amplitudes(self, codes: np.ndarray) -> np.ndarray:
    """[N, 32] codes -> [N, sources, 2] early and late source amplitudes."""
    d = encoding_model.CODE_DIM
    early = np.logaddexp(0.0, codes[:, :d] @ self.early_readout.T)
    late = np.tanh(codes[:, d:] @ self.late_readout.T)
    return np.stack([early, late], axis=-1)

  def evoked(self, codes: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """[N, 32] codes seen by [N] subjects -> [N, sensors, times]."""
    check_subjects(subjects, len(self.lead_fields))
    sources = self.amplitudes(np.asarray(codes, np.float64)) @ (
        self.time_courses)
    return np.einsum("nck,nkt->nct", self.lead_fields[subjects], sources)

  def invert(self, meg: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """The exact inverse of `evoked`: [N, sensors, times] -> [N, 32]."""
    check_subjects(subjects, len(self.lead_fields))
    sources = np.linalg.pinv(self.lead_fields[subjects]) @ meg
    amps = sources @ np.linalg.pinv(self.time_courses)  # [N, sources, 2]
    low = np.linalg.solve(self.early_readout,
                          np.log(np.expm1(amps[..., 0])).T).T
    cls = np.linalg.solve(self.late_readout, np.arctanh(amps[..., 1]).T).T
    return np.concatenate([low, cls], axis=1)


def times(recipe: Recipe = RECIPE) -> np.ndarray:
  return recipe.tmin + np.arange(num_times(recipe)) / recipe.sample_rate


def simulator(recipe: Recipe = RECIPE, seed: int = SEED) -> Simulator:
  rng = np.random.default_rng([seed, 0])
  _, positions = sensor_layout(recipe.num_sensors)
  k, s, d = recipe.num_sources, recipe.num_subjects, encoding_model.CODE_DIM
  centres = rng.uniform(0.15, 0.85, size=(k, 2))
  jitter = rng.normal(0.0, recipe.centre_jitter, size=(s, k, 2))
  gains = rng.lognormal(0.0, recipe.gain_spread, size=(s, 1, k))
  offsets = positions[None, :, None] - (centres + jitter)[:, None]
  lead = gains * np.exp(-np.sum(offsets ** 2, -1) / (2 * recipe.blob_width**2))
  early = rng.normal(0.0, d ** -0.5, size=(k, d))
  late = rng.normal(0.0, d ** -0.5, size=(k, d))
  t = times(recipe)
  bumps = np.stack([
      np.exp(-0.5 * ((t - recipe.early_latency) / recipe.early_width) ** 2),
      np.exp(-0.5 * ((t - recipe.late_latency) / recipe.late_width) ** 2)])
  return Simulator(lead, early, late, bumps)


def pink_noise(rng: np.random.Generator, shape: tuple[int, ...],
               length: int) -> np.ndarray:
  """Noise with power spectrum 1/f along the last axis, unit variance."""
  spectrum = np.fft.rfft(rng.standard_normal((*shape, length)), axis=-1)
  freqs = np.fft.rfftfreq(length)
  freqs[0] = freqs[1]  # the mean gets the lowest frequency's power
  noise = np.fft.irfft(spectrum / np.sqrt(freqs / freqs[1]), n=length,
                       axis=-1)
  return noise / noise.std()


@dataclasses.dataclass(frozen=True)
class Trials:
  """meg [N, sensors, times] float32, subject [N] int32, code [N, 32]
  float32, label [N] int64, image [N] int64 (row of the bundled digits)."""

  meg: np.ndarray
  subject: np.ndarray
  code: np.ndarray
  label: np.ndarray
  image: np.ndarray


def retrieval_images(recipe: Recipe = RECIPE) -> np.ndarray:
  """Digits rows of the retrieval set: the first `retrieval_per_class` of
  each label in the test split's order."""
  data = encoding_model.load_digits()
  test = np.asarray(data.splits["test"])
  return np.concatenate([test[data.labels[test] == c][
      :recipe.retrieval_per_class] for c in range(10)])


def generate(recipe: Recipe = RECIPE, seed: int = SEED
             ) -> dict[str, Trials]:
  """{"train", "test"} trials of `recipe` and `seed` (a few seconds)."""
  data = encoding_model.load_digits()
  codes = encoding_model.fit().code(data.images, data.labels)
  sim = simulator(recipe, seed)
  s = recipe.num_subjects
  train = np.asarray(data.splits["train"])
  test = retrieval_images(recipe)
  images = {"train": train, "test": np.repeat(test, s)}
  subjects = {"train": np.arange(len(train)) % s,
              "test": np.tile(np.arange(s), len(test))}
  rng = np.random.default_rng([seed, 1])
  evoked = {k: sim.evoked(codes[images[k]], subjects[k]) for k in images}
  # Noise power per subject: 10^(-snr/10) times its mean evoked power.
  power = np.array([np.mean(evoked["train"][subjects["train"] == i] ** 2)
                    for i in range(s)])
  noise_std = np.sqrt(power * 10 ** (-recipe.snr_db / 10))
  baseline = times(recipe) < 0
  raw = {}
  for k in images:
    noise = pink_noise(rng, evoked[k].shape[:2], evoked[k].shape[2])
    x = evoked[k] + noise_std[subjects[k], None, None] * noise
    raw[k] = x - x[..., baseline].mean(-1, keepdims=True)
  # [subjects, 3, sensors]: quartiles over each subject's train samples.
  quartiles = np.stack([np.percentile(raw["train"][subjects["train"] == i],
                                      [25, 50, 75], axis=(0, 2))
                        for i in range(s)])
  out = {}
  for k in images:
    q25, median, q75 = np.moveaxis(quartiles[subjects[k]], 1, 0)[..., None]
    x = (raw[k] - median) / (q75 - q25)
    out[k] = Trials(
        np.clip(x, -recipe.clamp, recipe.clamp).astype(np.float32),
        subjects[k].astype(np.int32), codes[images[k]].astype(np.float32),
        data.labels[images[k]], images[k].astype(np.int64))
  return out


def to_epochs(meg: np.ndarray, recipe: Recipe = RECIPE):
  """[N, sensors, times] -> an `mne.EpochsArray` (needs the `neuro` extra)."""
  import mne  # optional: only the format round trip uses it

  names, _ = sensor_layout(recipe.num_sensors)
  info = mne.create_info(list(names), recipe.sample_rate, ch_types="mag")
  return mne.EpochsArray(np.asarray(meg, np.float64), info,
                         tmin=recipe.tmin, verbose="error")


class SyntheticMeg(tfds.core.GeneratorBasedBuilder):
  """Simulated CTF-272 MEG epochs evoked by digits, 4 subjects."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    shape = (RECIPE.num_sensors, num_times())
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "meg": tfds.features.Tensor(shape=shape, dtype=np.float32),
            "subject": tfds.features.Scalar(dtype=np.int32),
            "code": tfds.features.Tensor(
                shape=(2 * encoding_model.CODE_DIM,), dtype=np.float32),
            "label": tfds.features.ClassLabel(num_classes=10),
            "image": tfds.features.Scalar(dtype=np.int64),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    self.info.metadata.update(recipe=json.dumps(dataclasses.asdict(RECIPE)),
                              seed=SEED)
    return {k: self._generate_examples(v) for k, v in generate().items()}

  def _generate_examples(self, trials: Trials):
    for i in range(len(trials.label)):
      yield i, {"meg": trials.meg[i], "subject": trials.subject[i],
                "code": trials.code[i], "label": trials.label[i],
                "image": trials.image[i]}
