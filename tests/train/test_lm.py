"""Decoder LM training: the BPE dataset, next-token task and init_from."""

import jax
import numpy as np
import pytest

from train import config as config_lib
from train import loop
from train.data import sources
from train.data.builders import stdlib_bpe
from zoo.errors import ConfigError
from zoo.lm import special_tokens


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("lm") / "base"
  cfg = config_lib.load_config("lm.py:smoke", [])
  summary = loop.run(cfg, workdir, devices=jax.devices()[:1])
  return workdir, summary


def test_bpe_windows_decode_to_the_corpus_text():
  builder = sources.prepare("stdlib_text_bpe")
  tok = stdlib_bpe.tokenizer(builder)
  assert [tok.token_to_id(n) for n in special_tokens.NAMES] == [0, 1, 2, 3]
  source = sources.data_source("stdlib_text_bpe", "validation")
  row = np.concatenate([source[i]["tokens"] for i in range(len(source))])
  assert source[0]["tokens"].shape == (stdlib_bpe.WINDOW + 1,)
  starts = np.flatnonzero(row == special_tokens.BOS)
  ends = np.flatnonzero(row == special_tokens.EOS)
  start = starts[0] + 1
  end = ends[ends > start][0]
  ids = row[start:end].tolist()
  assert ids and tok.encode(tok.decode(ids)).ids == ids


def test_smoke_training_learns(smoke_run):
  _, summary = smoke_run
  assert summary["nll"] < np.log(2048) - 0.1  # below the uniform guess


def test_init_from_copies_params(smoke_run, tmp_path):
  base, _ = smoke_run
  cfg = config_lib.load_config("lm.py:smoke", [
      f"init_from={base}", "steps=1", "optim.learning_rate=0.0",
      "optim.warmup_steps=0", "optim.schedule=constant"])
  loop.run(cfg, tmp_path / "tuned", devices=jax.devices()[:1])
  _, src, _ = loop.load(base, devices=jax.devices()[:1])
  _, got, _ = loop.load(tmp_path / "tuned", devices=jax.devices()[:1])
  jax.tree.map(np.testing.assert_array_equal, got.params, src.params)


def test_init_from_refuses_another_model(smoke_run, tmp_path):
  base, _ = smoke_run
  cfg = config_lib.load_config("lm.py:smoke", [
      f"init_from={base}", "model.embed_dim=64"])
  with pytest.raises(ConfigError, match="do not fit"):
    loop.run(cfg, tmp_path / "bad", devices=jax.devices()[:1])


def test_a_loaded_target_runs_without_its_dataset(smoke_run, monkeypatch):
  # What a copy of the workdir on a host without tensorflow-datasets needs.
  from train.store import lm as lm_store  # noqa: PLC0415

  workdir, _ = smoke_run
  target = lm_store.load_target(workdir=workdir)
  prompts = lm_store.heldout_prompts(target, num=4, length=16)
  tokens = lm_store.train_tokens(target)

  def no_data(*args, **kwargs):
    raise AssertionError("read the dataset")

  for name in ("prepare", "data_source"):
    monkeypatch.setattr(sources, name, no_data)
  again = lm_store.load_target(workdir=workdir)
  np.testing.assert_array_equal(
      lm_store.heldout_prompts(again, num=4, length=16), prompts)
  np.testing.assert_array_equal(lm_store.train_tokens(again), tokens)
  assert again.tokenizer.to_str() == target.tokenizer.to_str()
  assert again.greedy_rep4 == target.greedy_rep4
