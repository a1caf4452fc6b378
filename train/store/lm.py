"""Trained target and draft LMs for the decoding claims and reports.

    target = load_target("text")        # trains once, then loads
    prompts = heldout_prompts(target, num=20, length=64)

Names: "text" (the target, on `stdlib_text`), "text_draft" (a smaller draft
model on the same tokens), "code" and "code_draft" (the same on stdlib
source code), "lexicon" and "lexicon_draft" (the same on the characters of
the synthetic `lexicon_text` language, whose words span several tokens and
whose entropy floor is known: the fair setting of the claims that need a
target sure of multi-token units). `smoke=True` gives a tiny, quickly
trained model of the same kind for tests. `seed=N` trains the same
recipe from another seed (initialization and data order) into its own
workdir (`<name>_seed<N>`; seed 0 keeps the plain name), for claims that
report the spread over seeds. Models are trained once into the user cache
(`train.store.run_once`) and reused afterwards.

A loaded workdir keeps the tokenizer and token windows of its dataset
(`tokenizer.json`, `{train,validation}_windows.npy`), so a copy of it runs
the reports on a host without tensorflow-datasets, such as a GPU host.

    target = load_checkpoint_target("path/to/llama")   # your own checkpoint

A Hugging Face checkpoint (`zoo.lm.checkpoints`) becomes a target too. Its
corpus, for the held-out prompts, the corpus tables some reports build and
the loss and repetition diagnostics, is the running Python's reference
topics (`pydoc_data.topics`, the text `help()` shows; one document per
topic, held out when `sha1("pydoc_data.topics:<topic>") % 20 == 0` as in
`stdlib_text`) through the checkpoint's own tokenizer, cut into windows
inside each topic. These files live in the user cache, under the
checkpoint folder's name and a digest of its files; the checkpoint folder
is only read. `file_prompts` reads prompts of your own instead.
"""

import dataclasses
import functools
import hashlib
import json
import pathlib

import jax
import numpy as np
import tokenizers

from ops.decoding.metrics import continuation_nll, repeated_ngram_rate
from ops.decoding.sampling import generate
from train import config as config_lib
from train import loop, store
from train.data import sources
from train.store import pretrained
from zoo.lm import checkpoints
from zoo.lm.decoder import CachedLM

CONFIGS = {
    "text": "lm.py:corpus=text,size=target",
    "text_draft": "lm.py:corpus=text,size=draft",
    "code": "lm.py:corpus=code,size=target",
    "code_draft": "lm.py:corpus=code,size=draft",
    "lexicon": "lm.py:corpus=lexicon,size=target",
    "lexicon_draft": "lm.py:corpus=lexicon,size=draft",
}
# The degeneracy diagnostic: greedy continuations of held-out prompts.
_REP4_PROMPTS, _REP4_PROMPT_LEN, _REP4_NEW = 20, 64, 128
# A checkpoint target's windows (as the BPE datasets'), how many of the
# held-out ones measure its loss, and how many share a forward.
_WINDOW, _LOSS_WINDOWS, _LOSS_BATCH = 257, 8, 2


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
    seed: the training seed.
  """

  name: str
  lm: CachedLM
  tokenizer: tokenizers.Tokenizer
  dataset: str
  val_loss: float
  greedy_rep4: float
  workdir: pathlib.Path
  seed: int = 0


def workdir_for(name: str, smoke: bool = False,
                seed: int = 0) -> pathlib.Path:
  """Where `load_target(name, smoke, seed=seed)` trains and keeps the
  model."""
  if seed < 0:
    raise ValueError(f"workdir_for: seed must be >= 0, got {seed}")
  return store.cache_dir("decoding_lms") / (
      name + (f"_seed{seed}" if seed else "") + ("_smoke" if smoke else ""))


def _train_once(name: str, smoke: bool, seed: int) -> pathlib.Path:
  if name not in CONFIGS:
    raise ValueError(f"load_target: unknown model {name!r}; known: "
                     f"{', '.join(CONFIGS)}")
  arg = CONFIGS[name] + f",seed={seed}" + (",smoke" if smoke else "")
  return store.run_once(lambda: config_lib.load_config(arg, []),
                        workdir_for(name, smoke, seed),
                        f"the {name!r} LM (seed {seed})")


def load_target(name: str = "text", smoke: bool = False,
                workdir: str | pathlib.Path | None = None, *,
                seed: int = 0) -> Target:
  """A trained decoder LM: from `workdir`, or trained once into the cache.

  Args:
    name: one of `CONFIGS` (ignored when `workdir` is given).
    smoke: a tiny, quickly trained model of the same kind (tests).
    workdir: a `decoder_lm` training workdir to load instead.
    seed: the training seed of `name` (see `workdir_for`).
  """
  if workdir is None:
    workdir = _train_once(name, smoke, seed)
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
  target = Target(name, lm, tok, dataset, val_loss, float("nan"), workdir,
                  run.cfg.seed)
  return dataclasses.replace(target, greedy_rep4=_greedy_rep4(target))


@functools.cache
def target_params(name: str, smoke: bool = False, seed: int = 0):
  """(DecoderConfig, host params) of the stored LM `name`, loaded (or
  trained once) outside any JAX trace: for a task's `init` that starts
  from it (`train.store.pretrained`)."""
  def load():
    lm = load_target(name, smoke=smoke, seed=seed).lm
    return lm.module.config, jax.device_get(lm.params)

  return pretrained.off_trace(load)


def _greedy_rep4(target: Target) -> float:
  """Measured once per trained model; the file names what it measured.
  A model whose context is shorter than the prompts and continuations
  gets both shortened to fit."""
  stats = target.workdir / "greedy_rep4.json"
  length, new = _REP4_PROMPT_LEN, _REP4_NEW
  room = _context(target.lm, length + new)
  if room < length + new:
    length, new = room // 3, room - room // 3
  setting = {"val_loss": target.val_loss, "prompts": _REP4_PROMPTS,
             "prompt_length": length, "new_tokens": new}
  if stats.exists():
    saved = json.loads(stats.read_text())
    if saved.get("setting") == setting:
      return saved["greedy_rep4"]
  prompts = heldout_prompts(target, _REP4_PROMPTS, length)
  out = generate(target.lm, prompts, new).tokens
  rate = repeated_ngram_rate(np.asarray(out), 4)
  stats.write_text(json.dumps({"greedy_rep4": rate, "setting": setting}))
  return rate


@functools.cache
def corpus_tokenizer(dataset: str) -> tokenizers.Tokenizer:
  """The tokenizer stored with an LM corpus ("stdlib_code_bpe": the code
  LM's; "stdlib_text_bpe": the text LM's; "lexicon_text": the lexicon LM's
  characters), the corpus built if needed."""
  # Imported here: the builder needs tensorflow-datasets, which a host that
  # only runs a copied workdir may lack.
  from train.data.builders import stdlib_bpe  # noqa: PLC0415

  return stdlib_bpe.tokenizer(sources.prepare(dataset))


def _dataset_tokenizer(dataset: str) -> str:
  """The tokenizer (JSON) stored with `dataset`."""
  return corpus_tokenizer(dataset).to_str()


def _kept(path: pathlib.Path, make, read, write):
  """read(path) if it exists; else make(), written to path first (whole or
  not at all: through a partial file that is then renamed)."""
  if not path.exists():
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    write(partial, make())
    partial.replace(path)
  return read(path)


def split_windows(target: Target, split: str) -> np.ndarray:
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
  return split_windows(target, "train").reshape(-1)


def heldout_prompts(target: Target, num: int, length: int,
                    seed: int = 0) -> np.ndarray:
  """[num, length] int32 windows of held-out text, inside one document.

  Prompts are drawn (seeded, without replacement) among the spans of the
  validation windows that hold `length` tokens with no document boundary
  or special token.
  """
  windows = split_windows(target, "validation")
  special = np.isin(windows, _special_ids(target.tokenizer))
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


def _special_ids(tokenizer: tokenizers.Tokenizer) -> list[int]:
  """Ids of the tokenizer's special tokens (the zoo's: those of
  `special_tokens`)."""
  return sorted(i for i, token in tokenizer.get_added_tokens_decoder().items()
                if token.special)


def _context(lm: CachedLM, tokens: int) -> int:
  """min(tokens, the cache slots the model can hold)."""
  return lm.init_cache(1, tokens).capacity


def _checkpoint_workdir(directory: pathlib.Path) -> pathlib.Path:
  """The cache folder of a checkpoint: its name and a digest of the names,
  sizes and times of its files (a changed checkpoint gets a new one)."""
  digest = hashlib.sha1(str(directory.resolve()).encode())
  for path in sorted(directory.iterdir()):
    stat = path.stat()
    digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
  return store.cache_dir("checkpoint_targets") / (
      f"{directory.resolve().name}-{digest.hexdigest()[:12]}")


def topic_windows(tokenizer: tokenizers.Tokenizer, split: str) -> np.ndarray:
  """[num, 257] int32 windows of the pydoc topics of one split, tokenized
  by `tokenizer`, cut inside each topic (tails dropped)."""
  from pydoc_data import topics  # noqa: PLC0415 (a large module)

  chosen = sorted(t for t in topics.topics if (int(hashlib.sha1(
      f"pydoc_data.topics:{t}".encode()).hexdigest(), 16) % 20 == 0) == (
          split == "validation"))
  rows = []
  for encoding in tokenizer.encode_batch(
      [topics.topics[t].strip() for t in chosen]):
    ids = np.asarray(encoding.ids, np.int32)
    n = len(ids) // _WINDOW
    rows.append(ids[:n * _WINDOW].reshape(n, _WINDOW))
  return np.concatenate(rows)


def load_checkpoint_target(directory: str | pathlib.Path, *,
                           dtype: str = "float32") -> Target:
  """A Hugging Face checkpoint as a decoding target (see the module doc).

  Args:
    directory: a Llama, Qwen2 or GPT-2 checkpoint (`zoo.lm.checkpoints`).
    dtype: "float32" or "bfloat16".

  Raises:
    CheckpointError: the directory cannot be loaded.
  """
  directory = pathlib.Path(directory)
  ckpt = checkpoints.load(directory, dtype=dtype)
  workdir = _checkpoint_workdir(directory)
  workdir.mkdir(parents=True, exist_ok=True)
  for split in ("train", "validation"):
    _kept(workdir / f"{split}_windows.npy",
          lambda split=split: topic_windows(ckpt.tokenizer, split), np.load,
          np.save)
  target = Target(directory.resolve().name, ckpt.lm, ckpt.tokenizer,
                  "pydoc_topics", float("nan"), float("nan"), workdir)

  def loss():
    windows = split_windows(target, "validation")[:_LOSS_WINDOWS]
    windows = windows[:, :_context(target.lm, windows.shape[1])]
    nll = [continuation_nll(target.lm, w[:, :1], w[:, 1:]) for w in
           np.split(windows, range(_LOSS_BATCH, len(windows), _LOSS_BATCH))]
    return json.dumps({"nll": float(np.mean(np.concatenate(nll)))})

  saved = _kept(workdir / "eval.json", loss, pathlib.Path.read_text,
                pathlib.Path.write_text)
  target = dataclasses.replace(target, val_loss=json.loads(saved)["nll"])
  return dataclasses.replace(target, greedy_rep4=_greedy_rep4(target))


def file_prompts(target: Target, path: str | pathlib.Path, num: int,
                 length: int) -> np.ndarray:
  """[num, length] int32: the first `length` tokens of each of the first
  `num` non-empty lines of a UTF-8 file, by the target's tokenizer.

  Raises:
    ValueError: fewer lines, or a line of fewer tokens, naming it.
  """
  lines = [(i + 1, line) for i, line in enumerate(
      pathlib.Path(path).read_text(encoding="utf-8").splitlines())
           if line.strip()]
  if len(lines) < num:
    raise ValueError(f"{path}: {len(lines)} non-empty lines, asked for "
                     f"{num} prompts")
  prompts = []
  for number, line in lines[:num]:
    ids = target.tokenizer.encode(line).ids
    if len(ids) < length:
      raise ValueError(f"{path}:{number}: {len(ids)} tokens, fewer than the "
                       f"prompt length {length}")
    prompts.append(ids[:length])
  return np.asarray(prompts, np.int32)
