"""Helpers shared by the builders: stable hashing and the stdlib walker.

The stdlib datasets read the source of the running Python's standard library
(`sysconfig.get_paths()["stdlib"]`) with `ast`; nothing is imported or
executed. Their content depends on the Python release, so each such builder
has one config per release (`python_config`) and a different Python builds a
separate dataset next to the old one instead of reusing it.
"""

import ast
import contextlib
import dataclasses
import gc
import hashlib
import pathlib
import platform
import sys
import sysconfig
from collections.abc import Iterator

import tensorflow_datasets as tfds

# Directories whose files are left out: test suites, IDLE, installed packages.
SKIP_PARTS = frozenset({"test", "tests", "idlelib", "site-packages"})

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
DefinitionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def stable_hash(key: str) -> int:
  """The SHA-1 of `key` (UTF-8) as an integer; the same on every machine."""
  return int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16)


def python_version() -> str:
  """The running interpreter, e.g. "CPython 3.11.7"."""
  return f"{platform.python_implementation()} {platform.python_version()}"


def python_config() -> tfds.core.BuilderConfig:
  """The builder config of the running Python release, e.g. "cpython3_11_7"."""
  info = sys.version_info
  release = "_".join(str(n) for n in info[:3])
  if info.releaselevel != "final":
    release += f"{info.releaselevel}{info.serial}"
  return tfds.core.BuilderConfig(
      name=f"{sys.implementation.name}{release}",
      description=f"The standard library of {python_version()}.",
  )


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
  """Pauses the cyclic garbage collector inside the block.

  Parsing the stdlib creates millions of AST nodes, none of them in reference
  cycles; with the collector on, its repeated full passes over them take
  three quarters of the build time.
  """
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if enabled:
      gc.enable()


def stdlib_root() -> pathlib.Path:
  return pathlib.Path(sysconfig.get_paths()["stdlib"])


@dataclasses.dataclass(frozen=True)
class Module:
  """One parsed stdlib file.

  Attributes:
    path: POSIX path relative to the stdlib root, e.g. "json/decoder.py".
    lines: the source split at line feeds only, so that `lines[n - 1]` is
      the line that `ast` numbers n (`str.splitlines` would also split at
      form feeds and other separators).
    tree: the parsed module.
  """

  path: str
  lines: list[str]
  tree: ast.Module


@dataclasses.dataclass(frozen=True)
class Stdlib:
  """The parsed stdlib: the modules in path order and the unreadable files."""

  modules: list[Module]
  skipped: list[str]


def parse_stdlib(root: pathlib.Path | None = None) -> Stdlib:
  """Parses every `.py` file under `root` outside `SKIP_PARTS`, sorted."""
  root = stdlib_root() if root is None else root
  modules, skipped = [], []
  for file in sorted(root.rglob("*.py")):
    relative = file.relative_to(root)
    if SKIP_PARTS.intersection(relative.parts[:-1]):
      continue
    try:
      source = file.read_text(encoding="utf-8")
      tree = ast.parse(source, filename=str(relative))
    except (SyntaxError, UnicodeDecodeError, ValueError):
      skipped.append(relative.as_posix())
      continue
    modules.append(Module(relative.as_posix(), source.split("\n"), tree))
  return Stdlib(modules, skipped)


def definitions(
    tree: ast.AST, prefix: str = ""
) -> Iterator[tuple[str, DefinitionNode]]:
  """Yields `(qualname, node)` for every function and class, in source order.

  Qualified names follow `__qualname__`: methods are "Class.method" and
  functions nested in a function are "outer.<locals>.inner".
  """
  for child in ast.iter_child_nodes(tree):
    if isinstance(child, FunctionNode):
      qualname = prefix + child.name
      yield qualname, child
      yield from definitions(child, qualname + ".<locals>.")
    elif isinstance(child, ast.ClassDef):
      qualname = prefix + child.name
      yield qualname, child
      yield from definitions(child, qualname + ".")
    else:
      yield from definitions(child, prefix)


def docstring_node(node: ast.AST) -> ast.Expr | None:
  """The statement holding `node`'s docstring, if it has one."""
  if not isinstance(node, DefinitionNode | ast.Module) or not node.body:
    return None
  first = node.body[0]
  if (
      isinstance(first, ast.Expr)
      and isinstance(first.value, ast.Constant)
      and isinstance(first.value.value, str)
  ):
    return first
  return None
