"""Parameter-tree surgery: copying trained subtrees into another model.

Reusing a pre-trained backbone inside a different model (as ×Net reuses a
classifier's stages as its decoder) is a copy of whole subtrees from one
params tree into another, at other paths. The copy is exact (the very
arrays), and refused when the two subtrees do not match leaf for leaf.

    pairs = reversed_stage_pairs(("encoder",), ("decoder",), 4)
    params = copy_subtrees(params, pretrained, pairs)
"""

from collections.abc import Mapping, Sequence

import jax

Path = tuple[str, ...]


def subtree(tree: Mapping, path: Path, name: str = "tree") -> Mapping:
  """The subtree of `tree` at `path` (keys, outermost first)."""
  node = tree
  for depth, key in enumerate(path):
    if not isinstance(node, Mapping) or key not in node:
      known = sorted(node) if isinstance(node, Mapping) else []
      raise ValueError(f"{name} has no {'/'.join(path[:depth + 1])!r} "
                       f"(keys there: {', '.join(known)})")
    node = node[key]
  return node


def _replaced(tree: Mapping, path: Path, value) -> dict:
  if not path:
    return value
  head, *rest = path
  return {**tree, head: _replaced(tree[head], tuple(rest), value)}


def _signature(tree) -> tuple:
  leaves, structure = jax.tree.flatten_with_path(tree)
  return structure, tuple((jax.tree_util.keystr(p), leaf.shape,
                           leaf.dtype) for p, leaf in leaves)


def copy_subtrees(target: Mapping, source: Mapping,
                  pairs: Sequence[tuple[Path, Path]]) -> dict:
  """`target` with the subtree at each `source_path` of `source` placed at
  `target_path`.

  Args:
    target: the params tree to fill (not modified).
    source: the params tree copied from (e.g. a checkpoint's).
    pairs: (source_path, target_path) pairs.

  Returns:
    A new tree; every other subtree of `target` is kept as it was.

  Raises:
    ValueError: a path is missing, or a source subtree differs from the
      target subtree it replaces in structure, shapes or dtypes (naming
      both paths).
  """
  out = dict(target)
  for source_path, target_path in pairs:
    new = subtree(source, source_path, "source")
    old = subtree(out, target_path, "target")
    if _signature(new) != _signature(old):
      raise ValueError(f"source {'/'.join(source_path)!r} does not fit "
                       f"target {'/'.join(target_path)!r}: different "
                       "structure, shapes or dtypes")
    out = _replaced(out, target_path, new)
  return out


def reversed_stage_pairs(source: Path, target: Path, num_stages: int,
                         prefix: str = "stage_") -> list[tuple[Path, Path]]:
  """Pairs mapping each stage of a backbone onto a decoder that runs the
  same stages deepest first.

  A decoder stage is named by the backbone stage it reuses (its input and
  output widths are that stage's), so stage k maps to stage k; the decoder
  applies them in the order num_stages - 1, ..., 0.
  """
  return [(source + (f"{prefix}{k}",), target + (f"{prefix}{k}",))
          for k in reversed(range(num_stages))]
