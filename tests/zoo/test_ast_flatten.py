"""AST flattening: one-to-one on every stdlib code-search function."""

import ast

import pytest

from train.data import sources
from zoo.errors import DataError
from zoo.retrieval import ast_flatten
from zoo.retrieval.ast_flatten import Marker


def test_unflatten_inverts_flatten_on_every_code_search_function():
  count = 0
  for split in ("train", "validation", "test"):
    source = sources.data_source("stdlib_code_search", split)
    for row in source.__getitems__(range(len(source))):
      count += 1
      _check_round_trip(row["code"].decode(),
                        f"{row['path'].decode()}::{row['qualname'].decode()}")
  assert count > 5000


def _check_round_trip(code: str, name: str):
  tree = ast_flatten.function_tree(code, name)
  symbols = ast_flatten.flatten(tree)
  assert ast.dump(ast_flatten.unflatten(symbols)) == ast.dump(tree), name
  # Every structural symbol has an id in the fixed marker vocabulary.
  assert {s for s in symbols if isinstance(s, Marker)} <= set(
      ast_flatten.MARKERS)


def test_flatten_follows_the_left_children_right_rule():
  tree = ast.parse("def f(x=None):\n  return g(x, 'a', ...)").body[0]
  symbols = ast_flatten.flatten(tree)
  text = " ".join(str(s) if isinstance(s, Marker) else
                  ast_flatten.leaf_text(s) for s in symbols)
  assert text.startswith("<FunctionDef::left> f <arguments::left> "
                         "<list::empty> <list::left> <arg::left> x <None> "
                         "<None> <arg::right> <list::right>")
  assert ("<Call::left> <Name::left> g <Load> <Name::right> <list::left> "
          "<Name::left> x <Load> <Name::right> <Constant::left> a <None> "
          "<Constant::right> <Constant::left> ... <None> <Constant::right> "
          "<list::right> <list::empty> <Call::right>") in text
  assert text.endswith("<FunctionDef::right>")
  # Balanced: every left marker is closed by its own right marker.
  stack = []
  for s in symbols:
    if isinstance(s, Marker) and s.name.endswith("::left"):
      stack.append(s.name[:-6])
    elif isinstance(s, Marker) and s.name.endswith("::right"):
      assert stack.pop() == s.name[:-7]
  assert not stack


def test_constants_keep_their_types_through_the_round_trip():
  source = "def f():\n  return (1, 1.0, 1j, '1', b'1', True, None, ...)"
  tree = ast.parse(source).body[0]
  back = ast_flatten.unflatten(ast_flatten.flatten(tree))
  values = [c.value for c in back.body[0].value.elts]
  assert [type(v) for v in values] == [int, float, complex, str, bytes, bool,
                                       type(None), type(...)]


def test_indented_methods_parse_and_keep_multiline_strings():
  code = ('    def m(self):\n        s = """a\nb"""\n'
          '        return s\n')
  tree = ast_flatten.function_tree(code, "mod.py::C.m")
  assert tree.name == "m" and tree.body[0].value.value == "a\nb"


def test_bad_input_is_named():
  with pytest.raises(DataError, match="mod.py::broken"):
    ast_flatten.function_tree("def broken(:\n  pass", "mod.py::broken")
  with pytest.raises(DataError, match="mod.py::x"):
    ast_flatten.function_tree("x = 1", "mod.py::x")
  with pytest.raises(ValueError, match="node"):
    ast_flatten.flatten("def f(): pass")
  symbols = ast_flatten.flatten(ast.parse("def f(): pass").body[0])
  with pytest.raises(ValueError, match="not closed"):
    ast_flatten.unflatten(symbols[:-1])
  with pytest.raises(ValueError, match="after the tree"):
    ast_flatten.unflatten(symbols + symbols)
