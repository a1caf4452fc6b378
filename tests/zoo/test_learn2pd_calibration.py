"""Learn2PD's threshold is calibrated on the filter alone."""

import numpy as np

from zoo.decoding import learn2pd

M, G = 200, 8


def _fake_decode(mdm, prompts, sampler, learned_filter=None):
  """Accuracy 1 one per step and with end-of-text prediction; the filter
  alone loses 10 points below threshold 0.99."""
  rule = sampler.rule
  if rule.kind == "filter" and not sampler.eot_truncation:
    accuracy = 1.0 if rule.threshold >= 0.99 else 0.9
  else:
    accuracy = 1.0
  tokens = np.zeros((M, G), np.int32)
  tokens[:round(accuracy * M), 0] = 1
  return tokens, np.ones(M)


def test_threshold_is_calibrated_without_end_of_text_prediction(
    monkeypatch):
  # End-of-text prediction's own gain must not hide the filter's loss.
  monkeypatch.setattr(learn2pd, "decode", _fake_decode)
  threshold = learn2pd.calibrate(None, None, np.zeros((M, 4)),
                                 lambda tokens: tokens[:, 0] == 1,
                                 tolerance=0.01)
  assert threshold == 0.99
