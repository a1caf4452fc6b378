"""Layers run one way, and no module imports itself through others.

`pallas_kernels` <- `ops` <- `zoo` <- `train` <- `eval`: each package may
import only those before it (imports inside functions count). Each check
is also run on a small broken tree, where it must fail.
"""

import pathlib
import textwrap

from tests import import_graph

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _tree(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
  for layer in import_graph.LAYERS:
    (root / layer).mkdir(parents=True, exist_ok=True)
    (root / layer / "__init__.py").touch()
  for name, text in files.items():
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
  return root


def test_no_layer_imports_a_higher_one():
  wrong = import_graph.upward(ROOT)
  assert not wrong, "upward imports:\n" + "\n".join(map(str, wrong))


def test_no_import_cycles():
  found = import_graph.cycles(ROOT)
  assert not found, "import cycles: " + "; ".join(map(" <-> ".join, found))


def test_the_graph_sees_the_real_imports():
  edges = {(i.source, i.target) for i in import_graph.imports(ROOT)}
  assert ("train.loop", "train.plots") in edges
  assert ("eval.claims.simvq", "train.loop") in edges
  assert ("zoo.vq.quantizer", "zoo.vq.codebooks.learned") in edges


def test_an_upward_import_is_named_with_file_and_line(tmp_path):
  root = _tree(tmp_path, {
      "ops/fine.py": "import pallas_kernels\n",
      "zoo/lazy.py": """\
          def f():
            from eval import plots  # inside a function: still counts
          """,
      "eval/plots.py": "",
      "pallas_kernels/kernel.py": "from ops import fine\n",
      "train/dynamic.py": """\
          import importlib
          importlib.import_module("eval.plots")
          """,
  })
  wrong = sorted(map(str, import_graph.upward(root)))
  assert wrong == [
      f"{root / 'pallas_kernels/kernel.py'}:1: pallas_kernels.kernel imports "
      "ops.fine",
      f"{root / 'train/dynamic.py'}:2: train.dynamic imports eval.plots",
      f"{root / 'zoo/lazy.py'}:2: zoo.lazy imports eval.plots",
  ]


def test_a_cycle_is_found_through_a_third_module(tmp_path):
  root = _tree(tmp_path, {
      "zoo/a.py": "from zoo import b\n",
      "zoo/b.py": "import zoo.c\n",
      "zoo/c.py": "def f():\n  from zoo.a import x\n",
      "zoo/d.py": "from zoo import a\n",
  })
  assert import_graph.cycles(root) == [["zoo.a", "zoo.b", "zoo.c"]]
