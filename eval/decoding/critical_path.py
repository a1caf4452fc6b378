"""Dependent matrix products of a function: a latency model for accelerators.

At batch 1 a small model's layers are far too narrow to fill an
accelerator, so a forward's time is set by how many kernels must run one
after another, not by its arithmetic. `dependent_matmuls` counts the
matrix products (`dot_general`) on the longest chain of data dependencies
through a function's jaxpr: products that could run at the same time
(the key and value projections of one memory, say) count once. Counted
per call and multiplied by the number of sequential calls (an AR decoder's
steps), it is the cost model beside the CPU wall clock in the claims; the
arithmetic itself is `flops`.
"""

from collections.abc import Callable

import jax
from jax.extend import core as jex_core


def _sub_jaxprs(eqn):
  """The jaxprs an equation calls, with inputs mapped one-to-one."""
  for name in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
    sub = eqn.params.get(name)
    if sub is not None:
      return getattr(sub, "jaxpr", sub)
  return None


def _depth(jaxpr, in_depths: list[int]) -> list[int]:
  depth = dict(zip(jaxpr.invars, in_depths, strict=True))
  get = lambda v: 0 if isinstance(v, jex_core.Literal) else depth.get(v, 0)
  for eqn in jaxpr.eqns:
    ins = [get(v) for v in eqn.invars]
    sub = _sub_jaxprs(eqn)
    if eqn.primitive.name in ("while", "scan", "cond"):
      raise ValueError(f"dependent_matmuls: {eqn.primitive.name} has a "
                       "data-dependent count; count one iteration")
    if sub is not None and len(sub.invars) == len(ins):
      outs = _depth(sub, ins)
    else:
      here = max(ins, default=0) + (eqn.primitive.name == "dot_general")
      outs = [here] * len(eqn.outvars)
    depth.update(zip(eqn.outvars, outs, strict=True))
  return [get(v) for v in jaxpr.outvars]


def dependent_matmuls(fn: Callable, *args) -> int:
  """Matrix products on the longest dependency chain of fn(*args)."""
  closed = jax.make_jaxpr(fn)(*args)
  return max(_depth(closed.jaxpr, [0] * len(closed.jaxpr.invars)),
             default=0)


def flops(fn: Callable, *args) -> float:
  """XLA's count of the floating-point operations of jit(fn)(*args)."""
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  if isinstance(analysis, list):
    analysis = analysis[0]
  return float(analysis["flops"])
