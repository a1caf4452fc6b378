"""README.md stays true: its code runs and its systems table is generated."""

import pathlib
import re

from eval import claims, readme

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_library_example_runs():
  text = README.read_text()
  library, decoding, interp, _ = re.findall(r"```python\n(.*?)```", text,
                                            re.S)
  scope = {}
  exec(compile(library, "README.md", "exec"), scope)  # noqa: S102
  assert scope["idx"].shape == (1000, 4)
  scope = {}
  exec(compile(interp, "README.md", "exec"), scope)  # noqa: S102
  assert scope["steered"].shape == (2, 16)
  # The decoding example trains a target LM on first use: compiled only.
  compile(decoding, "README.md", "exec")


def test_systems_table_is_generated_from_the_registry():
  text = README.read_text()
  assert readme.render(text, claims.load(readme.CLAIMS_FILE)) == text


def test_checkpoint_example_runs(tmp_path, monkeypatch):
  """"Your own checkpoint", on the tiny Llama that transformers wrote."""
  text = README.read_text()
  *_, example = re.findall(r"```python\n(.*?)```", text, re.S)
  llama = README.parent / "tests" / "data" / "lm_checkpoints" / "llama"
  monkeypatch.chdir(tmp_path)
  exec(compile(example.replace("path/to/dir", str(llama)), "README.md",  # noqa: S102
               "exec"), {})
  assert (tmp_path / "out" / "dir" / "config.json").exists()
