"""`python -m eval decoding`'s derived numbers."""

import pytest

from eval.decoding.main import with_speedups


def test_speedups_are_tokens_per_second_over_greedys():
  report = {"greedy_tokens_per_second": 200.0, "tr64_tokens_per_second": 500.0,
            "pl_tokens_per_second": 100.0, "tr64_tokens_per_forward": 2.5}
  out = with_speedups(report)
  assert out["tr64_speedup_vs_greedy"] == pytest.approx(2.5)
  assert out["pl_speedup_vs_greedy"] == pytest.approx(0.5)
  assert "greedy_speedup_vs_greedy" not in out
  assert "tr64_tokens_per_forward" in out


def test_no_greedy_rate_adds_nothing():
  report = {"spd_tokens_per_second": 10.0}
  assert with_speedups(report) == report
