"""Task vectors with learned scaling: aTLAS (Zhang et al., NeurIPS 2024).

A task vector is `tau_t = theta_t - theta0`, the change fine-tuning on task
t made to a pre-trained parameter tree `theta0`. The blocks b of a tree are
its leaves (one per named parameter tensor, in `jax.tree` order). A model
is re-parameterised by coefficients Lam alone:

    theta(Lam) = theta0 + sum_t sum_b Lam[t, b] tau_{t, b}

and only Lam is trained (`fit`); the network is any function of its
parameter tree. The shape of Lam selects the variant:

* `[T]`, isotropic: one scalar per task vector, i.e. task arithmetic;
* `[T, B]`, anisotropic: one scalar per task vector and block (aTLAS);
* `[T, B, K]`, aTLAS x K: each block split into K parts, one scalar each.
  Ours [recon]: part k of a block of n elements is the run of elements
  [k m, (k + 1) m) in row-major order, m = ceil(n / K) (`part_index`); the
  last part may be shorter and, where n < K, some parts are empty (their
  gradient is 0). Equal runs make the scaling a reshape and a contraction
  over T, whose gradient is a sum, not a scatter.

`linearised` gives the linearised model of the paper's linear variant,
`f(theta0) + J_f(theta0) (theta(Lam) - theta0)`, through `jax.jvp`.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
import optax
from jax import numpy as jnp

Tree = Any


def blocks(tree: Tree) -> tuple[str, ...]:
  """The block names of a parameter tree: its leaves' paths, in order."""
  flat, _ = jax.tree_util.tree_flatten_with_path(tree)
  return tuple(jax.tree_util.keystr(path) for path, _ in flat)


def _first_difference(theta0: Tree, other: Tree, lead: tuple[int, ...]
                      ) -> str | None:
  """Where `other`'s leaves differ from `theta0`'s (shapes after `lead`
  leading axes), as a message; None if they match."""
  flat0, _ = jax.tree_util.tree_flatten_with_path(theta0)
  flat1, _ = jax.tree_util.tree_flatten_with_path(other)
  paths0 = [jax.tree_util.keystr(p) for p, _ in flat0]
  paths1 = [jax.tree_util.keystr(p) for p, _ in flat1]
  for i in range(max(len(paths0), len(paths1))):
    p0 = paths0[i] if i < len(paths0) else None
    p1 = paths1[i] if i < len(paths1) else None
    if p0 != p1:
      return (f"first differing path: theta0 has {p0 or 'nothing'}, the "
              f"task vectors have {p1 or 'nothing'}")
    shape0 = tuple(np.shape(flat0[i][1]))
    shape1 = tuple(np.shape(flat1[i][1]))
    if shape1 != lead + shape0:
      return (f"at {p0}: theta0 has shape {shape0}, the task vectors "
              f"{shape1} (expected {lead + shape0})")
  return None


def check_tree(theta0: Tree, taus: Tree, num_tasks: int | None = None
               ) -> None:
  """Raises ValueError unless `taus` is `theta0`'s tree with a leading task
  axis on every leaf (of length `num_tasks` when given)."""
  leaves = jax.tree.leaves(taus)
  if not leaves:
    raise ValueError("task vectors: the tree has no leaves")
  t = np.shape(leaves[0])[0] if np.ndim(leaves[0]) else None
  if t is None or (num_tasks is not None and t != num_tasks):
    raise ValueError(f"task vectors: leaves need a leading task axis of "
                     f"length {num_tasks or 'T'}, got shape "
                     f"{np.shape(leaves[0])}")
  problem = _first_difference(theta0, taus, (t,))
  if problem:
    raise ValueError(f"task vectors do not match theta0's tree: {problem}")


def task_vectors(theta0: Tree, finetuned: Sequence[Tree]) -> Tree:
  """Stacked task vectors: leaves [T, *leaf] of `theta_t - theta0`.

  Raises:
    ValueError: no fine-tuned trees, or one whose tree differs from
      `theta0` (the message names the first differing path and shapes).
  """
  if not finetuned:
    raise ValueError("task_vectors: need at least one fine-tuned tree")
  for t, theta in enumerate(finetuned):
    problem = _first_difference(theta0, theta, ())
    if problem:
      raise ValueError(f"fine-tuned tree {t} does not match theta0's tree: "
                       f"{problem}")
  return jax.tree.map(lambda base, *thetas: jnp.stack(
      [jnp.asarray(x) - base for x in thetas]), theta0, *finetuned)


def coefficients(num_tasks: int, theta0: Tree, kind: str = "anisotropic",
                 parts: int = 1) -> jax.Array:
  """Zero coefficients of a variant: "isotropic" [T], "anisotropic" [T, B],
  or "anisotropic" with parts K > 1 [T, B, K] (aTLAS x K)."""
  if kind not in ("isotropic", "anisotropic"):
    raise ValueError(f"coefficient kind must be isotropic or anisotropic, "
                     f"got {kind!r}")
  if parts < 1 or (kind == "isotropic" and parts != 1):
    raise ValueError(f"parts must be >= 1 (1 when isotropic), got {parts}")
  if kind == "isotropic":
    return jnp.zeros((num_tasks,))
  shape = (num_tasks, len(blocks(theta0)))
  return jnp.zeros(shape + ((parts,) if parts > 1 else ()))


def part_index(shape: tuple[int, ...], parts: int) -> np.ndarray:
  """[*shape] int: the part (0..parts-1) each element of a block is in."""
  size = int(np.prod(shape, dtype=np.int64))
  return (np.arange(size) // max(-(-size // parts), 1)).reshape(shape)


def _scaled_sum(tau: jax.Array, lam: jax.Array) -> jax.Array:
  """sum_t lam[t, part(i)] tau[t, i]: tau [T, *block], lam [T, K] ->
  [*block]."""
  t, k = lam.shape
  flat = tau.reshape(t, -1)
  n = flat.shape[1]
  run = max(-(-n // k), 1)
  padded = jnp.pad(flat, ((0, 0), (0, run * k - n))).reshape(t, k, run)
  summed = jnp.einsum("tk,tkr->kr", lam.astype(tau.dtype), padded)
  return summed.reshape(-1)[:n].reshape(tau.shape[1:])


def _per_block(lam: jax.Array, num_tasks: int, num_blocks: int) -> jax.Array:
  """Lam as [T, B, K], validated."""
  lam = jnp.asarray(lam)
  if lam.ndim not in (1, 2, 3) or lam.shape[0] != num_tasks or (
      lam.ndim > 1 and lam.shape[1] != num_blocks):
    raise ValueError(f"coefficients must be [T], [T, B] or [T, B, K] with "
                     f"T={num_tasks} task vectors and B={num_blocks} blocks, "
                     f"got shape {lam.shape}")
  if lam.ndim == 1:
    lam = jnp.broadcast_to(lam[:, None], (num_tasks, num_blocks))
  return lam if lam.ndim == 3 else lam[..., None]


def combine(taus: Tree, lam: jax.Array) -> Tree:
  """sum_t Lam[t, b] tau_{t, b} per block b: a tree shaped like theta0."""
  leaves, treedef = jax.tree.flatten(taus)
  lam = _per_block(lam, leaves[0].shape[0], len(leaves))
  return jax.tree.unflatten(treedef, [
      _scaled_sum(tau, lam[:, b]) for b, tau in enumerate(leaves)])


def compose(theta0: Tree, taus: Tree, lam: jax.Array) -> Tree:
  """theta(Lam) = theta0 + sum_{t,b} Lam[t, b] tau_{t, b}.

  Args:
    theta0: the pre-trained parameter tree.
    taus: stacked task vectors, leaves [T, *leaf] (`task_vectors`).
    lam: [T], [T, B] or [T, B, K] coefficients.

  Raises:
    ValueError: `taus` is not theta0's tree with a task axis, or `lam` has
      the wrong shape.
  """
  check_tree(theta0, taus)
  return jax.tree.map(jnp.add, theta0, combine(taus, lam))


def linearised(apply_fn: Callable[..., Any], theta0: Tree, taus: Tree
               ) -> Callable[..., Any]:
  """The linearised model in Lam: `(lam, *args) -> f(theta0) + J dtheta`,
  with `apply_fn(params, *args)` the network and dtheta = theta(Lam) -
  theta0; one `jax.jvp` per call."""
  check_tree(theta0, taus)

  def apply(lam, *args):
    out, tangent = jax.jvp(lambda p: apply_fn(p, *args), (theta0,),
                           (combine(taus, lam),))
    return jax.tree.map(jnp.add, out, tangent)

  return apply


def fit(loss_fn: Callable[[jax.Array], jax.Array], lam: jax.Array,
        optimizer: optax.GradientTransformation, steps: int
        ) -> tuple[jax.Array, jax.Array]:
  """Trains Lam alone: `steps` optimizer steps on `loss_fn(lam)` (all else
  fixed, closed over), as one jitted scan. `lam` may be any pytree (e.g. a
  whole parameter tree, for a fine-tuning baseline).

  Returns:
    (trained Lam, [steps] loss before each step).
  """
  def step(carry, _):
    lam, opt_state = carry
    loss, grad = jax.value_and_grad(loss_fn)(lam)
    updates, opt_state = optimizer.update(grad, opt_state, lam)
    return (optax.apply_updates(lam, updates), opt_state), loss

  @jax.jit
  def run(lam):
    (lam, _), losses = jax.lax.scan(step, (lam, optimizer.init(lam)),
                                    length=steps)
    return lam, losses

  return run(lam)
