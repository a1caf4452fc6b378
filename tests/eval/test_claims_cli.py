"""`python -m eval claims`: the record format and exit codes."""

import dataclasses
import json

import pytest

from eval import claims
from eval import main as eval_main
from zoo import registry


def passing_and_failing():
  return [claims.measured("fake", "a met claim", "m", 2.0, 1.0, 1.5),
          claims.measured("fake", "an unmet claim", "m", 2.0, 1.0, 1.5,
                          higher_is_better=False)]


def broken():
  raise RuntimeError("the check could not run")


def _register(monkeypatch, name, check):
  system = dataclasses.replace(registry.get("simvq"), name=name,
                               claim=f"{__name__}:{check}")
  monkeypatch.setitem(registry._all(), name, system)


def test_json_records_and_exit_zero_when_a_claim_fails(monkeypatch, capsys):
  _register(monkeypatch, "fake", "passing_and_failing")
  assert eval_main.main(["claims", "--system", "fake", "--json"]) == 0
  records = json.loads(capsys.readouterr().out)
  assert [r["passed"] for r in records] == [True, False]
  assert set(records[0]) == {"system", "claim", "metric", "value", "baseline",
                             "threshold", "passed", "seconds"}


def test_a_check_that_cannot_run_exits_nonzero(monkeypatch, capsys):
  _register(monkeypatch, "fake", "passing_and_failing")
  _register(monkeypatch, "broken", "broken")
  code = eval_main.main(["claims", "--system", "fake", "--system", "broken",
                         "--json"])
  out = capsys.readouterr()
  assert code == 1
  assert len(json.loads(out.out)) == 2  # what ran is still reported
  assert "broken: RuntimeError: the check could not run" in out.err


def test_markdown_table(monkeypatch, capsys):
  _register(monkeypatch, "fake", "passing_and_failing")
  assert eval_main.main(["claims", "--system", "fake", "--markdown"]) == 0
  table = capsys.readouterr().out.splitlines()
  assert table[0].startswith("| system | claim |")
  assert "| fake | an unmet claim |" in table[3] and "FAIL" in table[3]


@pytest.mark.slow
def test_simvq_claim_runs():
  """The real check (about 1.5 minutes, so a claim: out of CI): records
  complete, values sane.

  Whether the claim passes is what the check reports, not what this test
  requires.
  """
  records = claims.run("simvq")
  assert [r.metric for r in records] == [
      "codebook_utilization", "utilization_ratio", "mse_ratio",
      "utilization_ratio_lecun_init"]
  assert all(r.seconds > 0 and r.value > 0 for r in records)
  assert 0 < records[0].value <= 1 and 0 < records[0].baseline <= 1


def test_strict_verdicts_fail_a_tie():
  at = lambda **kw: claims.measured("fake", "c", "m", 1.0, None, 1.0, **kw)
  assert at().passed and not at(strict=True).passed
  assert at(higher_is_better=False).passed
  assert not at(higher_is_better=False, strict=True).passed
  assert claims.measured("fake", "c", "m", 1.1, None, 1.0, strict=True).passed
