"""`python -m eval decoding --checkpoint DIR`: a Hugging Face checkpoint as
the target of the decoding reports (`train.store.lm.load_checkpoint_target`).
"""

import json
import pathlib
import types

import numpy as np
import pytest

from eval.decoding.main import main
from train.store import lm as lm_store
from zoo.lm import checkpoints

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "lm_checkpoints"
LLAMA, GPT2 = str(DATA / "llama"), str(DATA / "gpt2")


@pytest.mark.parametrize("argv, message", [
    (["--system", "lud", "--checkpoint", LLAMA],
     "lud's report trains on its target"),
    (["--system", "pearl", "--checkpoint", LLAMA],
     "add --draft-checkpoint DIR"),
    (["--system", "aded", "--checkpoint", LLAMA, "--draft-checkpoint", GPT2],
     "aded's report takes no draft model"),
    (["--system", "aded", "--draft-checkpoint", GPT2],
     "--draft-checkpoint goes with --checkpoint"),
    (["--system", "aded", "--checkpoint", LLAMA, "--workdir", "w"],
     "not both"),
    (["--system", "aded", "--checkpoint", "/no/such/dir"],
     "checkpoint directory /no/such/dir does not exist"),
])
def test_bad_checkpoint_flags_are_one_line_errors(argv, message, capsys):
  assert main(argv) == 2
  err = capsys.readouterr().err
  assert message in err and err.count("\n") == 1


def test_prompts_from_a_file_are_its_lines_first_tokens(tmp_path):
  target = types.SimpleNamespace(
      tokenizer=checkpoints.load(LLAMA).tokenizer)
  lines = ["The quick brown fox jumps over the lazy dog.", "",
           "def main(argv): return 0", "tiny"]
  path = tmp_path / "prompts.txt"
  path.write_text("\n".join(lines), encoding="utf-8")
  prompts = lm_store.file_prompts(target, path, num=2, length=5)
  want = [target.tokenizer.encode(lines[i]).ids[:5] for i in (0, 2)]
  np.testing.assert_array_equal(prompts, want)
  with pytest.raises(ValueError, match="prompts.txt:4: 2 tokens"):
    lm_store.file_prompts(target, path, num=3, length=5)
  with pytest.raises(ValueError, match="3 non-empty lines, asked for 4"):
    lm_store.file_prompts(target, path, num=4, length=1)


def test_topic_windows_split_the_pydoc_topics():
  tokenizer = checkpoints.load(LLAMA).tokenizer
  train = lm_store.topic_windows(tokenizer, "train")
  validation = lm_store.topic_windows(tokenizer, "validation")
  assert train.shape[1] == validation.shape[1] == 257
  assert len(train) > 10 * len(validation) > 0
  assert train.max() < 128 and validation.min() >= 0


@pytest.mark.slow
def test_a_report_runs_on_a_checkpoint(tmp_path, monkeypatch, capsys):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  argv = ["--system", "pearl", "--checkpoint", LLAMA, "--draft-checkpoint",
          GPT2, "--prompts", "2", "--prompt-length", "8", "--new-tokens", "8",
          "--json"]
  assert main(argv) == 0
  out = json.loads(capsys.readouterr().out)
  assert out["model"] == "llama" and np.isfinite(out["target_val_loss"])
  assert out["pearl_equals_greedy"] == out["speculative_equals_greedy"] == 1
