"""ParallelBench's "waiting line" list tasks, generated from a seed.

A list of 4-8 distinct names (of 30) is copied, reversed, sorted, shuffled,
or edited by inserting, removing or replacing one name at a given index or
at a random one. The random tasks have several correct answers; shuffle has
n!, and an ideal model's per-position marginals are uniform over the names
not yet used, so decoding several positions in one step produces clashes.

Token layout (`VOCAB_SIZE` = 64; ids 54-63 unused):
  0-3 the reserved ids of `zoo.lm.special_tokens` (PAD, BOS, EOS, MASK),
  4 SEP, 5-14 the ten tasks, 15-23 the indices 0-8, 24-53 the names.
Canvas: the prompt `[BOS, task, index, name, names..., SEP]` (index and
name are PAD for the tasks that take none), padded on the right with PAD
to `PROMPT_LEN`, then the answer's names and EOS up to `GEN_LEN`. Fixed
slots put the input's i-th name at position `FIRST_ITEM + i` whatever the
task and length, so copying is a fixed shift.
"""

import dataclasses
import itertools

import numpy as np

from zoo.lm import special_tokens

TASKS = ("copy", "reverse", "sort", "shuffle", "insert_index",
         "insert_random", "remove_index", "remove_random", "replace_index",
         "replace_random")
NAMES = ("amy", "ann", "ben", "bob", "cal", "dan", "eve", "fay", "gus",
         "hal", "ian", "ida", "jay", "joe", "kim", "leo", "liv", "max",
         "mia", "ned", "oli", "pam", "ray", "rex", "sam", "sue", "tom",
         "uma", "val", "zoe")
SEP = 4
TASK_BASE = 5
INDEX_BASE = TASK_BASE + len(TASKS)
MAX_INDEX = 8
NAME_BASE = INDEX_BASE + MAX_INDEX + 1
VOCAB_SIZE = 64
MIN_ITEMS, MAX_ITEMS = 4, 8
PROMPT_LEN, GEN_LEN = 16, 32
FIRST_ITEM = 4

_TAKES_INDEX = ("insert_index", "remove_index", "replace_index")
_TAKES_NAME = ("insert_index", "insert_random", "replace_index",
               "replace_random")


@dataclasses.dataclass(frozen=True)
class Example:
  """One task instance; names are indices into NAMES.

  Attributes:
    task: one of TASKS.
    items: the input list (distinct names).
    index: the position argument (the *_index tasks), else None.
    name: the name to insert or write (insert_*, replace_*), not in items.
  """

  task: str
  items: tuple[int, ...]
  index: int | None = None
  name: int | None = None

  def answers(self) -> list[tuple[int, ...]]:
    """Every correct output list, without repeats."""
    items, n = list(self.items), len(self.items)
    task = self.task
    if task == "copy":
      return [tuple(items)]
    if task == "reverse":
      return [tuple(items[::-1])]
    if task == "sort":
      return [tuple(sorted(items))]
    if task == "shuffle":
      return list(itertools.permutations(items))
    insert = lambda i: tuple(items[:i] + [self.name] + items[i:])
    remove = lambda i: tuple(items[:i] + items[i + 1:])
    replace = lambda i: tuple(items[:i] + [self.name] + items[i + 1:])
    edit, count = {"insert": (insert, n + 1), "remove": (remove, n),
                   "replace": (replace, n)}[task.split("_")[0]]
    if task.endswith("_index"):
      return [edit(self.index)]
    return [edit(i) for i in range(count)]

  def is_correct(self, output: tuple[int, ...] | None) -> bool:
    if output is None:
      return False
    if self.task == "shuffle":  # n! answers: compare as multisets
      return sorted(output) == sorted(self.items)
    return tuple(output) in self.answers()

  def prompt(self, length: int = PROMPT_LEN) -> np.ndarray:
    """[length] int32, padded on the right with PAD."""
    pad = special_tokens.PAD
    tokens = [special_tokens.BOS, TASK_BASE + TASKS.index(self.task),
              pad if self.index is None else INDEX_BASE + self.index,
              pad if self.name is None else NAME_BASE + self.name]
    tokens += [NAME_BASE + i for i in self.items] + [SEP]
    if len(tokens) > length:
      raise ValueError(f"prompt of {len(tokens)} tokens exceeds length="
                       f"{length}")
    return np.array(tokens + [pad] * (length - len(tokens)), np.int32)


def parse_prompt(tokens) -> Example:
  """The Example whose `prompt()` is `tokens`."""
  tokens = np.asarray(tokens).tolist()
  end = tokens.index(SEP) if SEP in tokens else -1
  if (end < FIRST_ITEM or tokens[0] != special_tokens.BOS
      or not TASK_BASE <= tokens[1] < TASK_BASE + len(TASKS)):
    raise ValueError(f"not a list-task prompt: {tokens}")
  task = TASKS[tokens[1] - TASK_BASE]
  index = tokens[2] - INDEX_BASE if task in _TAKES_INDEX else None
  name = tokens[3] - NAME_BASE if task in _TAKES_NAME else None
  items = tuple(t - NAME_BASE for t in tokens[FIRST_ITEM:end])
  return Example(task, items, index, name)


def sample_example(rng: np.random.Generator, task: str,
                   num_items: int) -> Example:
  """A uniformly random instance of `task` with `num_items` names."""
  if task not in TASKS:
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")
  if not MIN_ITEMS <= num_items <= MAX_ITEMS:
    raise ValueError(f"num_items must be in [{MIN_ITEMS}, {MAX_ITEMS}], got "
                     f"{num_items}")
  chosen = rng.choice(len(NAMES), num_items + 1, replace=False)
  items = tuple(int(i) for i in chosen[:num_items])
  index = name = None
  if task in _TAKES_INDEX:
    index = int(rng.integers(num_items + (task == "insert_index")))
  if task in _TAKES_NAME:
    name = int(chosen[num_items])
  return Example(task, items, index, name)


def encode_answer(answer, gen_len: int = GEN_LEN) -> np.ndarray:
  """[gen_len] int32: the names, then EOS."""
  if len(answer) > gen_len:
    raise ValueError(f"answer of {len(answer)} names exceeds gen_len="
                     f"{gen_len}")
  tokens = [NAME_BASE + i for i in answer]
  return np.array(tokens + [special_tokens.EOS] * (gen_len - len(tokens)),
                  np.int32)


def decode_output(tokens) -> tuple[int, ...] | None:
  """The names before the first EOS; None if anything else is there."""
  names = []
  for token in np.asarray(tokens).tolist():
    if token == special_tokens.EOS:
      break
    if not NAME_BASE <= token < NAME_BASE + len(NAMES):
      return None
    names.append(token - NAME_BASE)
  return tuple(names)


def sample_sequence(rng: np.random.Generator, example: Example,
                    gen_len: int = GEN_LEN) -> np.ndarray:
  """[PROMPT_LEN + gen_len] int32: prompt and a uniformly drawn answer."""
  if example.task == "shuffle":  # a uniform permutation, without all n!
    answer = tuple(int(i) for i in rng.permutation(example.items))
  else:
    answers = example.answers()
    answer = answers[int(rng.integers(len(answers)))]
  return np.concatenate([example.prompt(), encode_answer(answer, gen_len)])
