"""Named activations of any zoo model: read them, or edit them mid-forward.

A point is one of a model's `HookPoint`s (`zoo.layers.hook_point`), named by
its enclosing block and its own name, as TransformerLens names its hooks:
`block_{i}/resid_pre|attn_out|resid_mid|mlp_out|resid_post|z` in a
`DecoderLM` (`z`: the attention's per-head outputs [B, T, H, Dh]).

    names = hooks.points(model, tokens)
    logits, acts = hooks.capture(model, variables, tokens,
                                 points=["block_1/resid_post"])
    with hooks.intervene({"block_0/resid_post": lambda x: x + 4.0 * v}):
      logits = model.apply(variables, tokens)   # or lm.extend, generate(...)

`capture` records the points' outputs with flax's `capture_intermediates`;
`intervene` replaces them through `nn.intercept_methods`, so it edits every
apply traced inside the `with` block: plain calls, jitted functions,
`CachedLM.extend` and the decoding loops. Its edits are also part of jit's
cache key (a `jax.make_user_context`), so a function jitted before the
block is traced again inside it instead of reusing its unedited trace.
Neither changes a param tree.
"""

import contextlib
import functools
from collections.abc import Callable, Mapping, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from zoo.layers.hook_point import HookPoint
from zoo.layers.transformer import Block


class _Identity:
  """A callable as a cache-key part: equal only to itself, and kept alive
  by the jit cache, so a later callable never reuses its id and trace."""

  def __init__(self, fn):
    self.fn = fn

  def __hash__(self):
    return id(self.fn)

  def __eq__(self, other):
    return isinstance(other, _Identity) and other.fn is self.fn


# The edits in force: ((point, _Identity(fn)), ...), part of jit's cache key.
_EDITS = jax.make_user_context(default_value=())


def point_name(module: HookPoint) -> str:
  """"block_0/resid_mid": the enclosing block's path and the point's name
  (the full module path where no `Block` encloses it)."""
  owner = module.parent
  while owner is not None and not isinstance(owner, Block):
    owner = getattr(owner, "parent", None)
  path = owner.path if isinstance(owner, Block) else module.path[:-1]
  return "/".join((*path, module.name))


def _hook_call(context) -> bool:
  return (isinstance(context.module, HookPoint)
          and context.method_name == "__call__")


def points(model: nn.Module, *inputs, method=None, **kwargs) -> tuple[str, ...]:
  """The model's points, in call order, for a forward on `inputs` (traced
  abstractly: nothing is computed)."""
  names = []

  def record(next_fun, args, kw, context):
    if _hook_call(context):
      names.append(point_name(context.module))
    return next_fun(*args, **kw)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda: model.init(jax.random.key(0), *inputs,
                                      method=method, **kwargs))
  return tuple(dict.fromkeys(names))


def _unknown(kind: str, asked, known) -> ValueError:
  return ValueError(f"{kind}: unknown hook point(s) {sorted(asked)}; the "
                    f"model has {list(known)}")


def capture(model: nn.Module, variables, *inputs, points: Sequence[str],
            method=None, **kwargs):
  """Runs `model.apply(variables, *inputs, method=method, **kwargs)` and
  records the outputs of the named points.

  `points` is a name or a sequence of names.

  Returns:
    (the apply's output, {point: activation}); a point called more than
    once in the forward gives a tuple of its outputs.

  Raises:
    ValueError: a name that is no point of this forward (the message lists
      them), or a NaN in a captured activation outside jit.
  """
  wanted = {points} if isinstance(points, str) else set(points)
  paths = {}

  def keep(module, method_name):
    if not isinstance(module, HookPoint) or method_name != "__call__":
      return False
    name = point_name(module)
    paths[module.path] = name
    return name in wanted

  out, state = model.apply(variables, *inputs, method=method,
                           capture_intermediates=keep,
                           mutable=["intermediates"], **kwargs)
  flat = jax.tree_util.tree_flatten_with_path(
      state.get("intermediates", {}), is_leaf=lambda x: isinstance(x, tuple))[0]
  acts = {}
  for key_path, values in flat:
    path = tuple(k.key for k in key_path[:-1])  # drop "__call__"
    acts[paths[path]] = values[0] if len(values) == 1 else values
  if missing := wanted - acts.keys():
    raise _unknown("capture", missing, dict.fromkeys(paths.values()))
  for name, act in acts.items():
    for x in (act if isinstance(act, tuple) else (act,)):
      if not isinstance(x, jax.core.Tracer) and jnp.isnan(x).any():
        raise ValueError(f"capture: NaN activations at {name}")
  return out, acts


@functools.partial(jax.jit, static_argnames=("model", "point", "method"))
def _capture_point(model, variables, inputs, point, method):
  return capture(model, variables, inputs, points=point, method=method)[1][
      point]


def capture_in_chunks(model: nn.Module, variables, inputs, point: str,
                      chunk: int, method=None) -> np.ndarray:
  """The activation at `point` for every row of inputs [N, ...], `chunk`
  rows per jitted forward (traced once per chunk shape, the variables an
  argument rather than constants), gathered on the host: [N, ...]."""
  return np.concatenate([
      np.asarray(_capture_point(model, variables, inputs[i:i + chunk], point,
                                method))
      for i in range(0, len(inputs), chunk)])


@contextlib.contextmanager
def intervene(edits: Mapping[str, Callable[[jax.Array], jax.Array]]):
  """Replaces the activation x at each named point by `edits[point](x)`
  (same shape; cast back to x's dtype) in every forward traced inside.

  A name that no forward traced inside the block reaches is an error at
  its exit (the message lists the points it met). Nested blocks compose:
  the outer block's edit applies to the inner one's result.
  """
  for name, fn in edits.items():
    if not callable(fn):
      raise ValueError(f"intervene: the edit at {name} is not callable: "
                       f"{type(fn).__name__}")
  edits = dict(edits)
  reached, seen = set(), {}

  def edit(next_fun, args, kwargs, context):
    x = next_fun(*args, **kwargs)
    if not _hook_call(context):
      return x
    name = point_name(context.module)
    seen[name] = None
    if name not in edits:
      return x
    reached.add(name)
    y = edits[name](x)
    if getattr(y, "shape", None) != x.shape:
      got = getattr(y, "shape", type(y).__name__)
      raise ValueError(f"intervene: the edit at {name} must keep the shape "
                       f"{x.shape}, got {got}")
    return jnp.asarray(y).astype(x.dtype)

  key = _EDITS.value + tuple(
      (name, _Identity(fn)) for name, fn in sorted(edits.items()))
  with _EDITS(key), nn.intercept_methods(edit):
    yield
  if seen and (missing := edits.keys() - reached):
    raise _unknown("intervene", missing, seen)
