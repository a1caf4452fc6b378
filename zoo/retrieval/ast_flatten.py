"""Python syntax trees as flat sequences of markers and leaves, and back.

UniXcoder (Guo et al., ACL 2022) feeds a function's AST to the model as a
sequence, one-to-one with the tree: a node n with children c1..ck becomes
`<n::left> F(c1) .. F(ck) <n::right>`, a leaf its token. With Python's
`ast` (ours: the paper uses tree-sitter, whose leaves include keywords and
punctuation; `ast` drops them):

  - a node's children are the values of all its `_fields`, in order (its
    `_attributes`, line and column numbers, are not part of the tree);
  - a node class without fields (`Load`, `Add`, `Pass`) is a leaf: one
    marker `<Load>` (ours: it saves the left/right pair);
  - a list field is `<list::left> items <list::right>`, an empty one
    `<list::empty>`; a missing value is `<None>` (ours: these markers make
    the map invertible without knowing the fields' types);
  - every other value is a leaf: identifiers (str), constants (int, float,
    complex, str, bytes, bool, Ellipsis) and `kind` strings, kept as Python
    values; `leaf_text` spells them for the tokenizer (strings as they
    are, identifiers or not; other constants by repr).

`unflatten(flatten(t))` equals t (by `ast.dump`) for every tree `ast.parse`
builds. The inversion is over symbols (markers and leaf values); token ids
(`zoo.retrieval.unixcoder.ast_ids`) give each marker an id of its own and
each leaf the BPE ids of its text, which the model reads but does not
invert (ours: two adjacent leaves are not delimited there).
"""

import ast
import dataclasses
from collections.abc import Iterator, Sequence

from zoo.errors import DataError


@dataclasses.dataclass(frozen=True)
class Marker:
  """A structural symbol of the flat sequence, spelled `<name>`."""

  name: str

  def __str__(self) -> str:
    return f"<{self.name}>"


LIST_LEFT = Marker("list::left")
LIST_RIGHT = Marker("list::right")
EMPTY_LIST = Marker("list::empty")
NONE = Marker("None")


def _node_classes() -> dict[str, type]:
  """Every `ast` node class of the running Python, by name."""
  return {name: cls for name, cls in sorted(vars(ast).items())
          if isinstance(cls, type) and issubclass(cls, ast.AST)
          and cls is not ast.AST}


_CLASSES = _node_classes()


def _markers() -> tuple[Marker, ...]:
  out = [LIST_LEFT, LIST_RIGHT, EMPTY_LIST, NONE]
  for name, cls in _CLASSES.items():
    if cls._fields:
      out += [Marker(f"{name}::left"), Marker(f"{name}::right")]
    else:
      out.append(Marker(name))
  return tuple(out)


# Fixed per Python version: node classes sorted by name.
MARKERS = _markers()

Symbol = Marker | str | int | float | complex | bytes | bool | type(...)


def flatten(node: ast.AST) -> list[Symbol]:
  """The flat sequence F(node) (see the module docstring)."""
  if not isinstance(node, ast.AST):
    raise ValueError(f"flatten: node must be an ast.AST, got "
                     f"{type(node).__name__}")
  out: list[Symbol] = []
  _emit(node, out)
  return out


def _emit(value, out: list) -> None:
  if isinstance(value, ast.AST):
    name = type(value).__name__
    if not value._fields:  # ours: a field-less node is a leaf marker
      out.append(Marker(name))
      return
    out.append(Marker(f"{name}::left"))
    for field in value._fields:
      _emit(getattr(value, field, None), out)
    out.append(Marker(f"{name}::right"))
  elif isinstance(value, list):  # ours: list markers (for the inverse)
    if not value:
      out.append(EMPTY_LIST)
      return
    out.append(LIST_LEFT)
    for item in value:
      _emit(item, out)
    out.append(LIST_RIGHT)
  elif value is None:
    out.append(NONE)
  else:
    out.append(value)


def unflatten(symbols: Sequence[Symbol]) -> ast.AST:
  """The tree whose `flatten` is `symbols`.

  Raises:
    ValueError: `symbols` is not a whole flattened tree.
  """
  stream = iter(symbols)
  node = _read(stream, next(stream, None))
  if not isinstance(node, ast.AST):
    raise ValueError("unflatten: symbols must start with a node marker")
  if next(stream, None) is not None:
    raise ValueError("unflatten: symbols continue after the tree's end")
  return node


def _read(stream: Iterator, first):
  """The value that starts with symbol `first`, read from `stream`."""
  if not isinstance(first, Marker):
    return first
  if first == NONE:
    return None
  if first == EMPTY_LIST:
    return []
  if first == LIST_LEFT:
    items = []
    for symbol in stream:
      if symbol == LIST_RIGHT:
        return items
      items.append(_read(stream, symbol))
    raise ValueError("unflatten: a list is not closed")
  name, _, side = first.name.partition("::")
  cls = _CLASSES.get(name)
  if cls is None or side not in ("", "left") or bool(side) != bool(
      cls._fields):
    raise ValueError(f"unflatten: unexpected marker {first}")
  values = {field: _read(stream, next(stream, None)) for field in cls._fields}
  if cls._fields and next(stream, None) != Marker(f"{name}::right"):
    raise ValueError(f"unflatten: {name} is not closed by <{name}::right>")
  return cls(**values)


def leaf_text(leaf) -> str:
  """How the tokenizer spells a leaf: strings (identifiers, string
  constants) as they are, other constants by repr (`3`, `b'x'`, `...`)."""
  if leaf is ...:
    return "..."
  return leaf if isinstance(leaf, str) else repr(leaf)


def function_tree(code: str, name: str = "function") -> ast.AST:
  """The one statement of a function's source (`def` or `async def`,
  decorators included). An indented method is parsed as the body of an
  `if 1:` (so lines of a multi-line string keep their text) and taken out.

  Raises:
    DataError: naming `name`, when the source does not parse or is not
      one function definition.
  """
  indented = code[:1].isspace()
  try:
    body = ast.parse("if 1:\n" + code if indented else code).body
  except (SyntaxError, ValueError) as e:
    raise DataError(f"{name}: the source does not parse ({e})") from None
  if indented:
    body = body[0].body
  if len(body) != 1 or not isinstance(body[0], (ast.FunctionDef,
                                                ast.AsyncFunctionDef)):
    raise DataError(f"{name}: the source is not one function definition")
  return body[0]
