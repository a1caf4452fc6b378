"""Codebook Features (Tamkin, Taufeeque & Goodman, ICML 2024).

A codebook layer replaces an activation a [..., G, d] by codes: x =
LayerNorm(a) (learned, one per group), the k codes of highest x . c / |c|
(`ops.vq_nearest` with metric "cos" ranks them the same), and the output is
the mean of those k codes (the official code's mean; the paper says "sum").
Gradients (the official `aeloss`): x receives the upstream gradient
unchanged (pure straight-through, no commitment term); the codebook receives
the gradient through the gather plus that of mean_tokens |y - x|^2 (sum
over the groups' dimensions), which pulls the chosen codes towards their
inputs without showing in the loss.

Groups are independent codebooks, [G, K, d]: one per attention head at the
`attn_preproj` site (the heads' outputs before the output projection), one
(G = 1) at the `mlp` site (the MLP's output). `CodebookHooks` is the
decoder's hook kind "codebook" (`zoo.layers.hooks`): `DecoderConfig(block=
BlockOptions(hooks=CodebookHooks(...)))` puts codebooks at the sites.

Interventions at inference come in the "interventions" collection
(`interventions()` builds it; the layer checks it): `code_mask` [G, K] bool
disables codes (the next best are taken), `force` [..., G] int32 sets a
token's code (-1: leave it), whose output is then exactly that code. The
chosen code ids are sown as "intermediates"/"codes" [..., G, k].

Ours (not fixed by the paper or the issue):
* codes start N(0, 1), PyTorch's `nn.Embedding` init in the official code,
  so that their norms match LayerNorm'd inputs (|x| ~ sqrt(d));
* dead-code restarts (`replace_every` > 0): every `replace_every` training
  calls, codes that fired in none of them are moved to random normalised
  inputs of the current batch plus `replace_rho` |x| N(0, I) noise (the
  official rule). Parameters cannot change inside a forward pass, so the
  move is an offset in the "codebook_stats" collection; the effective code
  is parameter + offset, and the parameter keeps learning from there.
"""

import dataclasses

import flax.linen as nn
import jax
import numpy as np
from flax import traverse_util
from jax import numpy as jnp

import ops
from zoo import registry, sharding
from zoo.errors import ConfigError
from zoo.layers.hooks import SITES, HookConfig
from zoo.layers.transformer import BlockOptions
from zoo.lm import decoder

_LN_EPS = 1e-5  # PyTorch's LayerNorm default, as in the official layer


@dataclasses.dataclass(frozen=True)
class CodebookLayerConfig:
  """Attributes:

    num_codes: K, codes per group.
    k: codes per token; the output is their mean.
    replace_every: training calls between dead-code restarts; 0 never.
    replace_rho: relative noise added to a restarted code.
  """

  num_codes: int = 100
  k: int = 1
  replace_every: int = 0
  replace_rho: float = 1e-4

  def __post_init__(self):
    if self.num_codes < 1:
      raise ConfigError(f"CodebookLayerConfig: num_codes must be >= 1, "
                        f"got {self.num_codes}")
    if not 1 <= self.k <= self.num_codes:
      raise ConfigError(f"CodebookLayerConfig: k={self.k} must be in [1, "
                        f"num_codes={self.num_codes}]")
    if self.replace_every < 0 or self.replace_rho < 0:
      raise ConfigError("CodebookLayerConfig: replace_every and "
                        "replace_rho must be >= 0")


@dataclasses.dataclass(frozen=True)
class CodebookHooks(HookConfig):
  """Codebook layers at a decoder's hook sites (`zoo.layers.hooks`).

  Attributes:
    sites: "attn_preproj" (one codebook per head, [H, K, d_head]) and/or
      "mlp" (one codebook, [1, K, embed_dim]), in every block.
    layer: the codebook layers' settings.
  """

  kind = "codebook"
  sites: tuple[str, ...] = SITES
  layer: CodebookLayerConfig = CodebookLayerConfig()

  def __post_init__(self):
    for site in self.sites:
      if site not in SITES:
        raise ConfigError(f"CodebookHooks: unknown hook {site!r}; known: "
                          f"{', '.join(SITES)}")
    if len(set(self.sites)) != len(self.sites):
      raise ConfigError(f"CodebookHooks: sites repeat: {self.sites}")

  def module(self, site, groups, dim, name):
    if site not in self.sites:
      return None
    return CodebookLayer(self.layer, groups, dim, name=name)


def _gather_mean(codebook, indices):
  """[G, K, d] codes, [N, G, k] ids -> [N, G, d] mean of the k codes."""
  group = jnp.arange(codebook.shape[0])[None, :, None]
  return jnp.mean(codebook[group, indices], axis=-2)


@jax.custom_vjp
def mean_of_codes(x, codebook, indices):
  """The mean of each token's codes, with Codebook Features' gradients.

  Args:
    x: [N, G, d] float32, the normalised inputs (for the codebook's MSE).
    codebook: [G, K, d] float32.
    indices: [N, G, k] int32 in [0, K).

  Returns:
    [N, G, d] float32. Backward: x gets the upstream gradient g unchanged;
    the codebook gets d/dC [sum(g * y) + mean_N sum_{G, d} (y - x)^2].
  """
  del x
  return _gather_mean(codebook, indices)


def _mean_of_codes_fwd(x, codebook, indices):
  y = _gather_mean(codebook, indices)
  return y, (x, codebook, indices, y)


def _mean_of_codes_bwd(residuals, g):
  x, codebook, indices, y = residuals
  n, groups, k = indices.shape
  # d y_n / d c_j = 1/k for each slot holding j: scatter-add per slot.
  per_token = (g + (2.0 / n) * (y - x)) / k  # [N, G, d]
  group = jnp.broadcast_to(jnp.arange(groups)[None, :, None], indices.shape)
  g_codebook = jnp.zeros_like(codebook).at[group, indices].add(
      jnp.broadcast_to(per_token[:, :, None], (n, groups, k, x.shape[-1])))
  return g, g_codebook, np.zeros(indices.shape, jax.dtypes.float0)


mean_of_codes.defvjp(_mean_of_codes_fwd, _mean_of_codes_bwd)


def _concrete(a) -> bool:
  return not isinstance(a, jax.core.Tracer)


def check_interventions(num_codes: int, k: int, groups: int,
                        code_mask=None, force=None) -> None:
  """Refuses a code mask or forced ids the layer cannot honour.

  Raises:
    ValueError: a mask of the wrong shape, one that disables every code of
      a group (or leaves fewer than k), or a forced id outside [-1, K).
  """
  if code_mask is not None and _concrete(code_mask):
    mask = np.asarray(code_mask)
    if mask.shape != (groups, num_codes) or mask.dtype != bool:
      raise ValueError(f"code_mask must be bool [{groups}, {num_codes}] "
                       f"(groups, codes), got {mask.dtype} {mask.shape}")
    enabled = mask.sum(-1)
    if enabled.min() == 0:
      raise ValueError(f"code_mask disables all {num_codes} codes of group "
                       f"{int(np.argmin(enabled))}")
    if enabled.min() < k:
      raise ValueError(f"code_mask leaves {int(enabled.min())} codes enabled "
                       f"in group {int(np.argmin(enabled))}, fewer than "
                       f"k={k}")
  if force is not None and _concrete(force):
    ids = np.asarray(force)
    if ids.ndim < 1 or ids.shape[-1] != groups:
      raise ValueError(f"force must be int [..., {groups}] (groups), got "
                       f"shape {ids.shape}")
    if ids.size and (ids.min() < -1 or ids.max() >= num_codes):
      bad = ids[(ids < -1) | (ids >= num_codes)][0]
      raise ValueError(f"force: code id {int(bad)} is out of range [0, "
                       f"{num_codes}) (-1 leaves a token alone)")


class CodebookLayer(nn.Module):
  """Snaps [..., G, d] activations to the mean of their top-k codes.

  Variables: params "norm_scale", "norm_bias" [G, d] and "codebook"
  [G, K, d]; with restarts, "codebook_stats" (counts [G, K], calls, offset
  [G, K, d]), updated when that collection is mutable (training; the
  "restart" rng stream is then needed). Optional "interventions": code_mask
  [G, K] bool, force [..., G] int32; they are checked where concrete (under
  jit they are tracers: a mask must then leave k codes in every group).
  """

  config: CodebookLayerConfig
  groups: int  # G
  dim: int  # d

  @nn.compact
  def __call__(self, a: jax.Array) -> jax.Array:
    cfg = self.config
    g, d, num_codes = self.groups, self.dim, cfg.num_codes
    if a.ndim < 2 or a.shape[-2:] != (g, d) or a.size == 0:
      raise ValueError(f"CodebookLayer: input must be [..., {g}, {d}] "
                       f"(groups, dim) with at least one token, got shape "
                       f"{a.shape}")
    axes = (sharding.HEADS, sharding.CODE_DIM)
    scale = self.param("norm_scale", nn.with_logical_partitioning(
        nn.initializers.ones_init(), axes), (g, d), jnp.float32)
    bias = self.param("norm_bias", nn.with_logical_partitioning(
        nn.initializers.zeros_init(), axes), (g, d), jnp.float32)
    codebook = self.param("codebook", nn.with_logical_partitioning(
        nn.initializers.normal(1.0),
        (sharding.HEADS, sharding.CODES, sharding.CODE_DIM)),
        (g, num_codes, d), jnp.float32)
    # Without a "codebook_stats" collection (offsets folded in by
    # `inference_params`) the parameters are the codes.
    stats = None
    if cfg.replace_every and (self.is_initializing() or self.has_variable(
        "codebook_stats", "offset")):
      stats = self._stats()
      codebook = codebook + stats["offset"].value

    a32 = a.astype(jnp.float32).reshape(-1, g, d)  # [N, G, d]
    mean = jnp.mean(a32, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(a32 - mean), axis=-1, keepdims=True)
    x = (a32 - mean) * jax.lax.rsqrt(var + _LN_EPS) * scale + bias

    code_mask = self._intervention("code_mask")
    force = self._intervention("force")
    check_interventions(num_codes, cfg.k, g, code_mask, force)
    indices = ops.vq_nearest(
        jax.lax.stop_gradient(x), jax.lax.stop_gradient(codebook), k=cfg.k,
        metric="cos", code_mask=code_mask)[0]  # [N, G, k]
    y = mean_of_codes(x, codebook, indices)
    if force is not None:
      force = jnp.asarray(force, jnp.int32).reshape(-1, g)  # [N, G]
      forced = force >= 0
      group = jnp.arange(g)[None, :]
      # The code itself, not a mean of k copies: exactly c_j.
      y = jnp.where(forced[..., None],
                    codebook[group, jnp.maximum(force, 0)], y)
      indices = jnp.where(forced[..., None], force[..., None], indices)
    batch = a.shape[:-2]
    self.sow("intermediates", "codes", indices.reshape(*batch, g, cfg.k))
    if (stats is not None and self.is_mutable_collection("codebook_stats")
        and not self.is_initializing()):
      self._restart_dead_codes(jax.lax.stop_gradient(x), indices, codebook,
                               stats)
    return y.reshape(a.shape).astype(a.dtype)

  def _intervention(self, name):
    if self.has_variable("interventions", name):
      return self.get_variable("interventions", name)
    return None

  def _stats(self):
    """The restart statistics: codes' firings and training calls since the
    last restart, and the codes' offsets from their parameters."""
    shape = (self.groups, self.config.num_codes)
    return {
        "counts": self.variable("codebook_stats", "counts", jnp.zeros, shape,
                                jnp.int32),
        "calls": self.variable("codebook_stats", "calls", jnp.zeros, (),
                               jnp.int32),
        "offset": self.variable("codebook_stats", "offset", jnp.zeros,
                                (*shape, self.dim), jnp.float32),
    }

  def _restart_dead_codes(self, x, indices, codebook, stats):
    """Counts the codes that fired; every `replace_every` calls moves the
    ones that never did to batch inputs (see the module docstring)."""
    cfg = self.config
    g, num_codes = self.groups, cfg.num_codes
    counts, calls, offset = stats["counts"], stats["calls"], stats["offset"]
    fired = jnp.zeros((g, num_codes), jnp.int32).at[
        jnp.arange(g)[None, :, None], indices].max(1)
    counts.value = counts.value + fired
    calls.value = calls.value + 1
    key_pick, key_noise = jax.random.split(self.make_rng("restart"))
    n = x.shape[0]
    pick = jax.random.permutation(key_pick, max(n, num_codes))[:num_codes] % n
    new = x[pick].transpose(1, 0, 2)  # [G, K, d]
    norm = jnp.linalg.norm(new, axis=-1, keepdims=True)
    new = new + cfg.replace_rho * norm * jax.random.normal(key_noise,
                                                           new.shape)
    due = calls.value % cfg.replace_every == 0
    dead = due & (counts.value == 0)  # [G, K]
    offset.value = jnp.where(dead[..., None],
                             offset.value + new - codebook, offset.value)
    counts.value = jnp.where(due, 0, counts.value)


def interventions(sites: dict[str, dict[str, np.ndarray]]) -> dict:
  """The "interventions" collection for the codebook layers at `sites`.

  Args:
    sites: a codebook layer's module path (in `zoo.lm.decoder`,
      "block_<i>/mlp_hook" or "block_<i>/attention/attn_preproj_hook") ->
      {"code_mask": [G, K] bool, "force": [..., G] int32}; either may be
      left out.

  Returns:
    A nested dict to pass as `variables["interventions"]`.
  """
  tree: dict = {}
  for path, values in sites.items():
    unknown = set(values) - {"code_mask", "force"}
    if unknown:
      raise ValueError(f"interventions at {path!r}: unknown {sorted(unknown)}"
                       "; known: code_mask, force")
    node = tree
    for part in path.split("/"):
      node = node.setdefault(part, {})
    node.update({name: jnp.asarray(v) for name, v in values.items()})
  return tree


def inference_params(variables: dict) -> dict:
  """A model's params with the restart offsets folded into the codebooks,
  so that the params alone (e.g. a `CachedLM`) give the trained codes."""
  params = traverse_util.flatten_dict(nn.meta.unbox(variables["params"]))
  stats = traverse_util.flatten_dict(dict(variables.get("codebook_stats",
                                                        {})))
  for path, value in stats.items():
    if path[-1] == "offset":
      codes = path[:-1] + ("codebook",)
      params[codes] = params[codes] + value
  return traverse_util.unflatten_dict(params)


# The TokFSM toy (train/configs/codebook_features.py): tokfsm's 14 ids (4
# reserved, 10 digits), 2 blocks of width 64, codebooks of 100 codes, k=1,
# at both sites.
TOKFSM_MODEL = decoder.DecoderConfig(
    vocab_size=14, embed_dim=64, num_layers=2, num_heads=4, mlp_dim=192,
    block=BlockOptions(hooks=CodebookHooks(
        layer=CodebookLayerConfig(num_codes=100, k=1))))

SYSTEM = registry.System(
    name="codebook_features",
    family="vq",
    paper="Codebook Features: Sparse and Discrete Interpretability for "
          "Neural Networks",
    summary="Top-k cosine codebooks on a decoder's head and MLP outputs: "
            "discrete codes that name states and steer generation.",
    default_config=lambda: TOKFSM_MODEL,
    builder=decoder.build,
    configs=("train.configs.codebook_features:get_config",),
    task="train.tasks.codebook_lm:TASK",
    evaluators=("train.evaluators.fsm_transitions:evaluate",),
    claim="eval.claims.codebook_features:check",
    datasets=("train.data.builders.tokfsm:Tokfsm",),
)
