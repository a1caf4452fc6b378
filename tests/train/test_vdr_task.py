"""vdr_semi: ids from the pairs' texts, and a smoke run on the fake
`stdlib_code_search_minilm` of test_colbert_task (MiniLM's vocabulary
rows and tokenizer, no MiniLM forward pass)."""

import jax
import numpy as np
import pytest

from tests.train.test_colbert_task import _pairs, data_dir  # noqa: F401
from train import config as config_lib
from train import loop
from train.data import sources
from train.data.builders import stdlib_code_search_minilm
from train.tasks import vdr_semi


@pytest.fixture
def fake_texts(monkeypatch):
  pairs = _pairs()
  keys = stdlib_code_search_minilm.unique_keys(pairs)
  texts = {k: (p.query, p.code) for k, p in zip(keys, pairs)}
  monkeypatch.setattr(vdr_semi, "_texts", lambda: texts)
  return texts


def test_prepare_reads_each_pairs_own_text(data_dir, fake_texts):  # noqa: F811
  source = sources.data_source(stdlib_code_search_minilm.StdlibCodeSearchMinilm
                               .name, "train", data_dir)
  records = source.__getitems__(range(6))
  batch = vdr_semi.prepare({f: np.stack([r[f] for r in records]) for f in
                            vdr_semi.TASK.features})
  for i, r in enumerate(records):
    query, code = fake_texts[r["key"].decode()]
    tokens = vdr_semi._tokenizer(vdr_semi.QUERY_LEN).tokenize([query])
    want = tokens["input_ids"][0][:vdr_semi.QUERY_LEN]
    np.testing.assert_array_equal(batch["query_ids"][i, :len(want)], want)
    assert batch["code_ids"].shape[1] == vdr_semi.DOC_LEN
  assert batch["code"].shape[1] == vdr_semi.DOC_LEN


@pytest.mark.parametrize("spec", ["vdr.py:smoke", "vdr.py:smoke,head=mean"])
def test_smoke_config_trains(spec, data_dir, fake_texts, tmp_path):  # noqa: F811
  cfg = config_lib.load_config(spec, [f"data.data_dir={data_dir}"])
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
