"""Chooses which implementation of an op runs.

Implementations:
  "xla":       the pure-jnp reference, compiled by XLA; runs everywhere.
  "pallas":    the portable `pl.pallas_call` kernel on the current backend
               (Mosaic on TPU, the Triton lowering on GPU).
  "interpret": the portable Pallas kernel in interpret mode (CPU tests).

Order of preference per backend comes from `_DEFAULT_ORDER`. The environment
variable `ZOO_IMPL` overrides it, either for every op (`ZOO_IMPL=xla`) or per
op (`ZOO_IMPL=maxsim=interpret,vq_nearest=xla`). An explicit
`implementation=` argument beats both.
"""

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import jax

Implementation = Literal["xla", "pallas", "interpret"]
IMPLEMENTATIONS: tuple[str, ...] = ("xla", "pallas", "interpret")

_DEFAULT_ORDER: Mapping[str, tuple[str, ...]] = {
    "tpu": ("pallas", "xla"),
    "gpu": ("pallas", "xla"),
    "cpu": ("xla",),
}


def _env_override(op: str) -> tuple[str, ...] | None:
  spec = os.environ.get("ZOO_IMPL", "").strip()
  if not spec:
    return None
  if "=" not in spec:
    return (spec,)
  for item in spec.split(","):
    name, _, impl = item.partition("=")
    if name.strip() == op:
      return (impl.strip(),)
  return None


def order(
    op: str,
    implementation: str | Sequence[str] | None,
    backend: str | None = None,
) -> tuple[str, ...]:
  """Returns the implementations to try, in order.

  A single named implementation (argument or ZOO_IMPL) that cannot handle the
  input is an error, not a silent fallback: the list has only that entry.
  """
  if implementation is not None:
    chosen = (
        (implementation,)
        if isinstance(implementation, str)
        else tuple(implementation)
    )
  elif (env := _env_override(op)) is not None:
    chosen = env
  else:
    backend = backend or jax.default_backend()
    chosen = _DEFAULT_ORDER.get(backend, ("xla",))
  for impl in chosen:
    if impl not in IMPLEMENTATIONS:
      raise ValueError(
          f"{op}: unknown implementation {impl!r}; expected one of "
          f"{IMPLEMENTATIONS}"
      )
  return chosen


def call(
    op: str,
    impls: Mapping[str, Callable[[], object]],
    implementation: str | Sequence[str] | None,
):
  """Runs the first implementation in `order(...)` that accepts the input.

  `impls` maps implementation names to zero-argument thunks; a thunk raises
  `NotImplementedError` when its kernel does not support the input (shape,
  dtype or backend), and the next implementation is tried.
  """
  chosen = order(op, implementation)
  errors = []
  for impl in chosen:
    thunk = impls.get(impl)
    if thunk is None:
      errors.append(NotImplementedError(f"{op} has no {impl!r} kernel"))
      continue
    try:
      return thunk()
    except NotImplementedError as e:
      errors.append(e)
  reasons = "; ".join(f"{c}: {e}" for c, e in zip(chosen, errors))
  raise NotImplementedError(f"{op}: no implementation ran ({reasons})")
