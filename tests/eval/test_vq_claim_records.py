"""The qlae and bit_cipher claim records: seed means, gains and verdicts
from given per-seed results (the trainings themselves are `slow`)."""

import pytest

from eval.claims import bit_cipher, qlae


def _run(infom, infoe=0.5):
  return {"bce": 0.01, "infom": infom, "infoc": 0.3, "infoe": infoe}


def test_qlae_records_compare_seed_means():
  runs = {"qlae": [_run(0.6, 0.8), _run(0.8, 0.8)],
          "ae": [_run(0.5, 0.9)],
          "qlae_wd0": [_run(0.66), _run(0.68), _run(0.70)]}
  gain_ae, gain_e, gain_wd = qlae.records(runs)
  assert gain_ae.value == pytest.approx(0.2) and gain_ae.passed
  assert gain_ae.baseline == pytest.approx(0.5)
  assert gain_e.value == pytest.approx(-0.1) and not gain_e.passed
  assert gain_wd.value == pytest.approx(0.02) and not gain_wd.passed
  assert "seeds (QLAE/AE/wd 0): 2/1/3" in gain_ae.claim


def test_bit_cipher_records_compare_seed_means():
  ratio, gain, lm = bit_cipher.records(
      {"bit_cipher": [0.6, 0.7], "ppmi_svd": [0.8, 0.8],
       "random": [0.5, 0.56]},
      {"cipher": [5.0, 5.2], "default": [5.1, 5.1]})
  assert ratio.value == pytest.approx(0.8125) and ratio.passed
  assert gain.value == pytest.approx(0.12) and gain.passed
  # Equal means are not "lower": the LM claim is strict.
  assert lm.value == pytest.approx(0.0) and not lm.passed
