"""Runs a kernel per device under an active mesh.

Pallas kernels do not partition themselves. When a mesh is set (via
`jax.set_mesh`), ops call their kernel inside `jax.shard_map`, splitting one
axis of the inputs over the mesh's batch axes ("data", "fsdp") and
replicating the rest. Without a mesh, or when those axes have size 1, the
kernel is called directly.
"""

import math
from collections.abc import Callable, Sequence

import jax
from jax import numpy as jnp
from jax.sharding import PartitionSpec as P

BATCH_MESH_AXES = ("data", "fsdp")


def batch_mesh_axes() -> tuple[jax.sharding.AbstractMesh | None,
                               tuple[str, ...]]:
  """The active mesh and those of its batch axes that have size > 1."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh is None or mesh.empty:
    return None, ()
  axes = tuple(a for a in BATCH_MESH_AXES
               if a in mesh.axis_names and mesh.shape[a] > 1)
  return mesh, axes


def _spec(axis: int | None, ndim: int, names: tuple[str, ...]) -> P:
  if axis is None:
    return P()
  parts = [None] * ndim
  parts[axis] = names
  return P(*parts)


def shard_batch(
    fn: Callable,
    args: Sequence[jax.Array | None],
    in_axes: Sequence[int | None],
    out_axes: int | Sequence[int],
):
  """Calls `fn(*args)` per device, splitting each arg along its in_axis.

  Args:
    fn: the per-device computation; returns an array or a tuple of arrays.
    args: the inputs; None entries pass through unchanged.
    in_axes: for each arg, the axis to split or None to replicate. All split
      axes must have the same length; it is padded to a multiple of the
      device count and the padding is cut from the outputs.
    out_axes: the split axis of each output (one int for all).

  Returns:
    What `fn` returns, assembled across devices.
  """
  mesh, names = batch_mesh_axes()
  if not names:
    return fn(*args)
  devices = math.prod(mesh.shape[a] for a in names)
  lengths = {a.shape[ax] for a, ax in zip(args, in_axes)
             if a is not None and ax is not None}
  if len(lengths) != 1:
    raise ValueError(f"shard_batch: split axes disagree in length: {lengths}")
  (length,) = lengths
  pad = -length % devices

  def padded(a, ax):
    if a is None or ax is None or not pad:
      return a
    widths = [(0, 0)] * a.ndim
    widths[ax] = (0, pad)
    return jnp.pad(a, widths)

  args = [padded(a, ax) for a, ax in zip(args, in_axes)]
  in_specs = tuple(None if a is None else _spec(ax, a.ndim, names)
                   for a, ax in zip(args, in_axes))
  out_shape = jax.eval_shape(fn, *args)
  leaves, treedef = jax.tree.flatten(out_shape)
  axes = ([out_axes] * len(leaves) if isinstance(out_axes, int)
          else list(out_axes))
  out_specs = jax.tree.unflatten(
      treedef, [_spec(ax, o.ndim, names) for o, ax in zip(leaves, axes)])
  out = jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs,
                      check_vma=False)(*args)
  if not pad:
    return out
  flat, treedef = jax.tree.flatten(out)
  flat = [jax.lax.slice_in_dim(o, 0, length, axis=ax)
          for o, ax in zip(flat, axes)]
  return jax.tree.unflatten(treedef, flat)
