"""ParallelBench's list tasks, the perfect-marginal oracle and the report."""

import math

import jax
import numpy as np
import pytest

from eval.parallelbench import main as bench
from eval.parallelbench import oracle, sweep
from ops.decoding.unmask import KINDS, UnmaskRule
from train.data import list_tasks

COUNTS = {"shuffle": math.factorial, "insert_random": lambda n: n + 1,
          "remove_random": lambda n: n, "replace_random": lambda n: n}


@pytest.mark.parametrize("task", list_tasks.TASKS)
def test_task_answers_prompts_and_sequences(task):
  rng = np.random.default_rng(0)
  for n in (list_tasks.MIN_ITEMS, 6, list_tasks.MAX_ITEMS):
    ex = list_tasks.sample_example(rng, task, n)
    answers = ex.answers()
    assert len(set(answers)) == len(answers) == COUNTS.get(
        task, lambda n: 1)(n)
    assert all(ex.is_correct(a) for a in answers)
    assert list_tasks.parse_prompt(ex.prompt()) == ex
    seq = list_tasks.sample_sequence(rng, ex)
    assert seq.shape == (list_tasks.PROMPT_LEN + list_tasks.GEN_LEN,)
    out = list_tasks.decode_output(seq[list_tasks.PROMPT_LEN:])
    assert ex.is_correct(out) and out in answers
    # The i-th input name always sits at FIRST_ITEM + i.
    np.testing.assert_array_equal(
        ex.prompt()[list_tasks.FIRST_ITEM:list_tasks.FIRST_ITEM + n],
        np.array(ex.items) + list_tasks.NAME_BASE)
    assert not ex.is_correct((answers[0][0],) * n)  # a repeated name
  assert not ex.is_correct(None)
  assert list_tasks.decode_output(
      [list_tasks.NAME_BASE, 3, list_tasks.NAME_BASE]) is None


def test_shuffle_closed_form_values():
  assert oracle.shuffle_accuracy(4, 1) == 1.0
  assert oracle.shuffle_accuracy(4, 2) == pytest.approx(0.375)
  assert oracle.shuffle_accuracy(4, 4) == pytest.approx(0.09375)
  assert oracle.shuffle_accuracy(6, 6) == pytest.approx(0.0154, abs=1e-4)


def test_oracle_accuracy_follows_the_closed_form():
  rows = oracle.sampled_accuracy(jax.random.key(0), num_examples=600)
  for row in rows:
    p = row["closed_form"]
    error = math.sqrt(p * (1 - p) / 600)
    assert abs(row["accuracy"] - p) <= 4 * error + 1e-9, row
  assert [r["accuracy"] for r in rows if r["task"] == "copy"] == [1.0] * 3


def test_builder_is_seeded_and_splits_by_prompt():
  from train.data.builders import parallelbench_lists

  first = list(parallelbench_lists.generate(num=400))
  again = list(parallelbench_lists.generate(num=400))
  assert all(a[1] == b[1] and np.array_equal(a[2]["tokens"], b[2]["tokens"])
             for a, b in zip(first, again))
  prompts = {split: {r["tokens"][:list_tasks.PROMPT_LEN].tobytes()
                     for _, s, r in first if s == split}
             for split in ("train", "test")}
  assert prompts["test"] and not prompts["test"] & prompts["train"]
  for _, _, record in first:
    ex = list_tasks.parse_prompt(record["tokens"][:list_tasks.PROMPT_LEN])
    assert ex.is_correct(list_tasks.decode_output(
        record["tokens"][list_tasks.PROMPT_LEN:]))


def _result(rule, accuracy, nfe):
  correct = np.arange(10) < accuracy * 10
  return sweep.Result(sweep.Sampler(rule), correct, np.full(10, nfe),
                      np.array(list_tasks.TASKS), list_tasks.GEN_LEN)


def test_summary_pareto_table_and_plot(tmp_path):
  results = [_result(UnmaskRule("confidence", k=k), acc, 32 / k)
             for k, acc in ((1, 1.0), (2, 0.8), (4, 0.8), (8, 0.3))]
  assert results[2].tokens_per_step == pytest.approx(4.0)
  assert bench.pb_summary(results, (90, 80, 20)) == {
      "PB90": 1.0, "PB80": 4.0, "PB20": 8.0}
  front = bench.pareto_front([(r.tokens_per_step, r.accuracy)
                              for r in results])
  assert front == [(1.0, 1.0), (4.0, 0.8), (8.0, 0.3)]
  lines = bench.table(results).splitlines()
  assert len(lines) == 2 + len(results) and "confidence@4" in lines[4]
  assert {s.rule.kind for s in bench.samplers()} == set(KINDS) - {
      "reference"}
  bench.plot(results, tmp_path / "pareto.png")
  assert (tmp_path / "pareto.png").stat().st_size > 0


def test_per_task_tokens_per_step():
  result = sweep.Result(sweep.Sampler(UnmaskRule("threshold")),
                        correct=np.array([1, 0, 1, 1]),
                        nfe=np.array([3, 8, 6, 2]),
                        tasks=np.array(["copy", "shuffle", "shuffle", "copy"]),
                        gen_len=24)
  assert result.task_tokens_per_step("copy") == pytest.approx(48 / 5)
  assert result.task_tokens_per_step("shuffle") == pytest.approx(48 / 14)
  assert result.tokens_per_step == pytest.approx(96 / 19)
  assert result.task_accuracy("shuffle") == 0.5
