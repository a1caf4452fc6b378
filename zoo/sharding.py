"""The one place that maps logical axis names to the device mesh.

Model code names logical axes only (`nn.with_logical_partitioning` on params,
`nn.with_logical_constraint` on activations). The mesh has three axes,
("data", "fsdp", "tensor"), all `AxisType.Auto` so that linen's logical
constraints act as hints rather than assertions.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import numpy as np

from zoo.errors import ConfigError

MESH_AXES = ("data", "fsdp", "tensor")

# Logical axis names used by model code.
BATCH = "batch"
LENGTH = "length"
EMBED = "embed"
MLP = "mlp"
HEADS = "heads"
KV = "kv"
VOCAB = "vocab"
CODES = "codes"
CODE_DIM = "code_dim"

RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    (BATCH, ("data", "fsdp")),
    (LENGTH, None),
    (EMBED, "fsdp"),
    (MLP, "tensor"),
    (HEADS, "tensor"),
    (KV, None),
    (VOCAB, "tensor"),
    (CODES, "tensor"),
    (CODE_DIM, None),
)


@dataclasses.dataclass(frozen=True)
class MeshConfig:
  """Mesh shape; one axis may be -1 to take the remaining devices."""

  data: int = -1
  fsdp: int = 1
  tensor: int = 1


def mesh_shape(cfg: MeshConfig, num_devices: int) -> tuple[int, int, int]:
  """Resolves -1 and checks that the mesh uses exactly `num_devices`."""
  sizes = [cfg.data, cfg.fsdp, cfg.tensor]
  unknown = [i for i, s in enumerate(sizes) if s == -1]
  if len(unknown) > 1 or any(s == 0 or s < -1 for s in sizes):
    raise ConfigError(f"mesh: sizes must be positive with at most one -1, got "
                      f"data={cfg.data} fsdp={cfg.fsdp} tensor={cfg.tensor}")
  known = math.prod(s for s in sizes if s != -1)
  if unknown:
    if num_devices % known:
      raise ConfigError(f"mesh: {num_devices} devices are not divisible by "
                        f"the fixed axes' product {known}")
    sizes[unknown[0]] = num_devices // known
  if math.prod(sizes) != num_devices:
    raise ConfigError(
        f"mesh: data*fsdp*tensor = {sizes[0]}*{sizes[1]}*{sizes[2]} = "
        f"{math.prod(sizes)}, but {num_devices} devices are available")
  return tuple(sizes)


def make_mesh(cfg: MeshConfig, devices=None) -> jax.sharding.Mesh:
  """Builds the ("data", "fsdp", "tensor") mesh with Auto axis types."""
  devices = list(jax.devices() if devices is None else devices)
  shape = mesh_shape(cfg, len(devices))
  return jax.sharding.Mesh(
      np.asarray(devices).reshape(shape), MESH_AXES,
      axis_types=(jax.sharding.AxisType.Auto,) * len(MESH_AXES))


def logical_shardings(abstract_tree, mesh, rules=RULES):
  """NamedShardings for a tree of (possibly LogicallyPartitioned) leaves.

  Leaves without logical annotations are replicated.
  """
  specs = nn.get_partition_spec(abstract_tree)
  return nn.logical_to_mesh_sharding(specs, mesh, rules)


def batch_sharding(mesh: jax.sharding.Mesh, ndim: int):
  """Sharding of a batch: leading axis over ("data", "fsdp")."""
  spec = nn.logical_to_mesh_axes((BATCH,) + (None,) * (ndim - 1), RULES)
  return jax.sharding.NamedSharding(mesh, spec)


def replicated(mesh: jax.sharding.Mesh):
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
