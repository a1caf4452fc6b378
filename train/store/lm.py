"""Trained target and draft LMs for the decoding claims and reports.

    target = load_target("text")        # trains once, then loads
    prompts = heldout_prompts(target, num=20, length=64)

Names: "text" (the target, on `stdlib_text`), "text_draft" (a smaller draft
model on the same tokens), "code" and "code_draft" (the same on stdlib
source code). `smoke=True` gives a tiny, quickly trained model of the same
kind for tests. Models are trained once into the user cache
(`train.store.run_once`) and reused afterwards.

A loaded workdir keeps the tokenizer and token windows of its dataset
(`tokenizer.json`, `{train,validation}_windows.npy`), so a copy of it runs
the reports on a host without tensorflow-datasets, such as a GPU host.
"""

import dataclasses
import json
import pathlib

import jax
import numpy as np
import tokenizers

from ops.decoding.metrics import repeated_ngram_rate
from ops.decoding.sampling import generate
from train import config as config_lib
from train import loop, store
from train.data import sources
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM

CONFIGS = {
    "text": "lm.py:corpus=text,size=target",
    "text_draft": "lm.py:corpus=text,size=draft",
    "code": "lm.py:corpus=code,size=target",
    "code_draft": "lm.py:corpus=code,size=draft",
}
# The degeneracy diagnostic: greedy continuations of held-out prompts.
_REP4_PROMPTS, _REP4_PROMPT_LEN, _REP4_NEW = 20, 64, 128


@dataclasses.dataclass(frozen=True)
class Target:
  """A trained LM ready for decoding.

  Attributes:
    name: "text", "text_draft", ... or the workdir's name.
    lm: the model and params.
    tokenizer: its BPE tokenizer.
    dataset: the token dataset it was trained on.
    val_loss: held-out next-token loss, nats/token.
    greedy_rep4: repeated-4-gram rate of its greedy continuations of 20
      held-out prompts (64 tokens, 128 new).
    workdir: where it was trained.
  """

  name: str
  lm: CachedLM
  tokenizer: tokenizers.Tokenizer
  dataset: str
  val_loss: float
  greedy_rep4: float
  workdir: pathlib.Path


def workdir_for(name: str, smoke: bool = False) -> pathlib.Path:
  """Where `load_target(name)` trains and keeps the model."""
  return store.cache_dir("decoding_lms") / (name + ("_smoke" if smoke else ""))


def _train_once(name: str, smoke: bool) -> pathlib.Path:
  if name not in CONFIGS:
    raise ValueError(f"load_target: unknown model {name!r}; known: "
                     f"{', '.join(CONFIGS)}")
  arg = CONFIGS[name] + (",smoke" if smoke else "")
  return store.run_once(lambda: config_lib.load_config(arg, []),
                        workdir_for(name, smoke), f"the {name!r} LM")


def load_target(name: str = "text", smoke: bool = False,
                workdir: str | pathlib.Path | None = None) -> Target:
  """A trained decoder LM: from `workdir`, or trained once into the cache.

  Args:
    name: one of `CONFIGS` (ignored when `workdir` is given).
    smoke: a tiny, quickly trained model of the same kind (tests).
    workdir: a `decoder_lm` training workdir to load instead.
  """
  if workdir is None:
    workdir = _train_once(name, smoke)
  else:
    workdir = pathlib.Path(workdir)
    name = workdir.name
  run, state, _ = loop.load(workdir, devices=jax.devices()[:1])
  if run.cfg.system != "decoder_lm":
    raise ValueError(f"{workdir} holds a {run.cfg.system!r} run, not a "
                     f"decoder_lm")
  lm = CachedLM(jax.device_get(state.params), run.model)
  dataset = run.cfg.data.name
  tok = tokenizers.Tokenizer.from_str(_kept(
      workdir / "tokenizer.json", lambda: _dataset_tokenizer(dataset),
      pathlib.Path.read_text, pathlib.Path.write_text))
  val_loss = json.loads((workdir / "eval.json").read_text())["nll"]
  target = Target(name, lm, tok, dataset, val_loss, float("nan"), workdir)
  return dataclasses.replace(target, greedy_rep4=_greedy_rep4(target))


def _greedy_rep4(target: Target) -> float:
  """Measured once per trained model; the file names what it measured."""
  stats = target.workdir / "greedy_rep4.json"
  setting = {"val_loss": target.val_loss, "prompts": _REP4_PROMPTS,
             "prompt_length": _REP4_PROMPT_LEN, "new_tokens": _REP4_NEW}
  if stats.exists():
    saved = json.loads(stats.read_text())
    if saved.get("setting") == setting:
      return saved["greedy_rep4"]
  prompts = heldout_prompts(target, _REP4_PROMPTS, _REP4_PROMPT_LEN)
  out = generate(target.lm, prompts, _REP4_NEW).tokens
  rate = repeated_ngram_rate(np.asarray(out), 4)
  stats.write_text(json.dumps({"greedy_rep4": rate, "setting": setting}))
  return rate


def _dataset_tokenizer(dataset: str) -> str:
  """The BPE tokenizer (JSON) stored with `dataset`."""
  # Imported here: the builder needs tensorflow-datasets, which a host that
  # only runs a copied workdir may lack.
  from train.data.builders import stdlib_bpe  # noqa: PLC0415

  return stdlib_bpe.tokenizer(sources.prepare(dataset)).to_str()


def _kept(path: pathlib.Path, make, read, write):
  """read(path) if it exists; else make(), written to path first (whole or
  not at all: through a partial file that is then renamed)."""
  if not path.exists():
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    write(partial, make())
    partial.replace(path)
  return read(path)


def _split_windows(target: Target, split: str) -> np.ndarray:
  """[num_windows, WINDOW + 1] int32, in storage order (TFDS shuffles)."""

  def load():
    source = sources.data_source(target.dataset, split)
    rows = source.__getitems__(list(range(len(source))))
    return np.stack([np.asarray(r["tokens"], np.int32) for r in rows])

  return _kept(target.workdir / f"{split}_windows.npy", load, np.load,
               np.save)


def train_tokens(target: Target) -> np.ndarray:
  """[N] int32: the target's training windows, concatenated.

  Each window is contiguous text; consecutive windows are not (the dataset
  stores them shuffled), which adds one spurious junction per window.
  """
  return _split_windows(target, "train").reshape(-1)


def heldout_prompts(target: Target, num: int, length: int,
                    seed: int = 0) -> np.ndarray:
  """[num, length] int32 windows of held-out text, inside one document.

  Prompts are drawn (seeded, without replacement) among the spans of the
  validation windows that hold `length` tokens with no document boundary
  or special token.
  """
  windows = _split_windows(target, "validation")
  special = windows < len(special_tokens.NAMES)
  if length > windows.shape[1]:
    raise ValueError(f"heldout_prompts: length {length} exceeds the "
                     f"dataset's windows of {windows.shape[1]} tokens")
  # Spans of `length` tokens without a special token: (row, start) pairs.
  kernel = np.ones(length, int)
  bad = np.stack([np.convolve(r, kernel, mode="valid") > 0 for r in special])
  rows, starts = np.nonzero(~bad)
  if len(rows) < num:
    raise ValueError(f"heldout_prompts: only {len(rows)} spans of {length} "
                     f"tokens, asked for {num}")
  chosen = np.sort(np.random.default_rng(seed).choice(len(rows), num,
                                                      replace=False))
  return np.stack([windows[rows[i], starts[i]:starts[i] + length]
                   for i in chosen])
