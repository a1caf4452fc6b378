"""The import graph of the project's packages, read from the source (AST).

Every import counts, at module level or inside a function, and so does
`importlib.import_module("literal.name")`. Used by `test_layers.py`.
"""

import ast
import dataclasses
import pathlib

# Lowest first: a package may import only the packages before it.
LAYERS = ("pallas_kernels", "ops", "zoo", "train", "eval")


@dataclasses.dataclass(frozen=True)
class Import:
  source: str  # the importing module, e.g. "train.loop"
  target: str  # the imported module (or package), e.g. "eval.plots"
  path: pathlib.Path
  line: int

  def __str__(self) -> str:
    return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
  """Module name -> file, for every .py file of the layer packages."""
  found = {}
  for layer in LAYERS:
    for path in sorted((root / layer).rglob("*.py")):
      parts = list(path.relative_to(root).with_suffix("").parts)
      if parts[-1] == "__init__":
        parts.pop()
      found[".".join(parts)] = path
  return found


def _imported_names(node: ast.AST, module: str, is_package: bool,
                    known: dict) -> list[str]:
  if isinstance(node, ast.Import):
    return [alias.name for alias in node.names]
  if isinstance(node, ast.ImportFrom):
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module
      anchor = module.split(".")
      anchor = anchor[:len(anchor) - node.level + is_package]
      base = ".".join(anchor + ([base] if base else []))
    # `from pkg import name` imports the module pkg.name where there is
    # one, else an attribute of pkg (its __init__).
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known
            else base for alias in node.names]
  if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
      and node.func.attr == "import_module" and node.args
      and isinstance(node.args[0], ast.Constant)
      and isinstance(node.args[0].value, str)):
    return [node.args[0].value]
  return []


def imports(root: pathlib.Path) -> list[Import]:
  """Every import of a project module by a project module."""
  known = modules(root)
  found = []
  for module, path in known.items():
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      for name in _imported_names(node, module, is_package, known):
        if name in known and name != module:
          found.append(Import(module, name, path, node.lineno))
  return found


def upward(root: pathlib.Path) -> list[Import]:
  """Imports of a higher layer (or of `ops` by `pallas_kernels`)."""
  rank = {layer: i for i, layer in enumerate(LAYERS)}
  return [i for i in imports(root)
          if rank[i.target.split(".")[0]] > rank[i.source.split(".")[0]]
          or (i.source.startswith("pallas_kernels")
              and i.target.startswith("ops"))]


def cycles(root: pathlib.Path) -> list[list[str]]:
  """Groups of modules that import each other, directly or through others
  (strongly connected components of more than one module)."""
  graph: dict[str, set[str]] = {m: set() for m in modules(root)}
  for i in imports(root):
    graph[i.source].add(i.target)
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(node: str) -> None:  # Tarjan's algorithm
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for nxt in sorted(graph[node]):
      if nxt not in index:
        visit(nxt)
        low[node] = min(low[node], low[nxt])
      elif nxt in on_stack:
        low[node] = min(low[node], index[nxt])
    if low[node] == index[node]:
      group = []
      while True:
        member = stack.pop()
        on_stack.discard(member)
        group.append(member)
        if member == node:
          break
      if len(group) > 1:
        found.append(sorted(group))

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return found
