"""Every system's record resolves; a broken record is named, not hidden."""

import dataclasses

import pytest

from eval import systems as system_checks
from train.data import builders
from train.tasks import Task
from zoo import registry

NAMES = [s.name for s in registry.systems()]


def not_a_task():
  """Referenced below as a task, which it is not."""


@pytest.mark.parametrize("name", NAMES)
def test_every_reference_of_every_system_resolves(name):
  assert system_checks.problems(registry.get(name)) == []


def test_a_broken_record_is_reported_with_its_system_and_field():
  broken = dataclasses.replace(
      registry.get("simvq"), name="broken",
      claim="eval.claims.no_such_paper:check",
      task=f"{__name__}:not_a_task",
      evaluators=("train.evaluators.vq_reconstruction:evaluat",),
      configs=("train.configs.lm:get_config",))  # trains decoder_lm
  found = system_checks.problems(broken)
  assert [line.split(" ", 2)[:2] for line in found] == [
      ["broken:", "configs"], ["broken:", "task"], ["broken:", "claim"],
      ["broken:", "evaluators"]]
  assert "trains 'decoder_lm'" in found[0]
  assert "is not a train.tasks.Task" in found[1]
  assert "no module 'eval.claims.no_such_paper'" in found[2]
  assert "has no 'evaluat'" in found[3]


def test_the_real_references_are_what_they_say():
  assert isinstance(registry.resolve(registry.get("simvq").task), Task)
  assert registry.resolve(registry.get("simvq").claim).__name__ == "check"


@pytest.mark.parametrize("fields,message", [
    ({"family": "vision"}, "family 'vision' is not one of"),
    ({"name": "Sim-VQ"}, "must be lower case"),
    ({"claim": "eval/claims/simvq.py"}, "must look like"),
    ({"configs": ("simvq.py",)}, "configs reference 'simvq.py'"),
    ({"builder": None}, "give both builder and default_config"),
])
def test_malformed_records_are_refused(fields, message):
  with pytest.raises(ValueError, match=message):
    dataclasses.replace(registry.get("simvq"), **fields)


def test_datasets_come_from_the_records():
  assert builders.dataset_name("x.y:StdlibCodeSearchMinilm") == (
      "stdlib_code_search_minilm")
  refs = builders.references()
  assert refs["digits"] == "train.data.builders.digits:Digits"
  with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
    builders.builder_class("mnist")


def test_two_builders_for_one_dataset_are_refused(monkeypatch):
  other = dataclasses.replace(registry.get("vqvae"), name="other",
                              datasets=("tests.fake:Digits",))
  monkeypatch.setitem(registry._all(), "other", other)
  with pytest.raises(ValueError, match="dataset 'digits' has two builders"):
    builders.references()


def test_unknown_system_lists_the_known_ones():
  with pytest.raises(KeyError, match="unknown system 'simvqq'; known: .*simvq"):
    registry.get("simvqq")
