"""`python -m eval context` on smoke runs of arc_encoder and icv."""

import json

import jax
import numpy as np
import pytest

from eval import context
from train import config as config_lib
from train import loop
from train.store import lm as lm_store
from zoo.retrieval import arc_encoder


@pytest.mark.parametrize("system", ["arc_encoder", "icv"])
def test_smoke_run_keeps_the_decoder_and_is_evaluated(system, tmp_path,
                                                      capsys):
  cfg = config_lib.load_config(f"{system}.py:smoke")
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps and np.isfinite(summary["train_loss"])
  _, state, _ = loop.load(tmp_path, devices=jax.devices()[:1])
  start = lm_store.load_target("text", smoke=True).lm.params
  jax.tree.map(np.testing.assert_array_equal,
               state.model_state[arc_encoder.FROZEN]["lm"], start)
  assert context.main(["--system", system, "--workdir", str(tmp_path),
                       "--spans", "8", "--json"]) == 0
  result = json.loads(capsys.readouterr().out)
  assert result["spans"] == 8 and np.isfinite(result["kept_gain"])
  assert all(np.isfinite(result[f"nll_{feed}"]) for feed in context.FEEDS)
  files = sorted(p for p in tmp_path.rglob("*"))
  other = "icv" if system == "arc_encoder" else "arc_encoder"
  for argv in (["--spans", "0"], ["--spans", "513"], ["--system", other]):
    args = {"--system": system, "--workdir": str(tmp_path), "--spans": "4",
            **dict(zip(argv[::2], argv[1::2]))}
    assert context.main([x for kv in args.items() for x in kv]) == 2
    assert "error:" in capsys.readouterr().err
  assert sorted(p for p in tmp_path.rglob("*")) == files  # nothing written
