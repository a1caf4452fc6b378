"""Test set-up: 8 simulated CPU devices and a persistent compile cache.

Both must be configured before JAX initialises its backend, so this runs at
import time, ahead of any test module.
"""

import gc
import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "")
    + " --xla_force_host_platform_device_count=8"
)

import jax  # noqa: E402
import pytest  # noqa: E402

# One cache per xdist worker: JAX writes a cache entry in place, so a process
# reading another's entry mid-write can crash on the torn executable.
_CACHE = os.path.join(
    os.environ.get(
        "ZOO_TEST_COMPILE_CACHE",
        str(pathlib.Path(__file__).resolve().parent.parent / ".jax_cache")),
    os.environ.get("PYTEST_XDIST_WORKER", "main"),
)
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


_MAPS = pathlib.Path("/proc/self/maps")
# Well under Linux's default vm.max_map_count (65,530).
_MAX_MAPPINGS = 30_000


def _release_executables():
  jax.clear_caches()
  gc.collect()


@pytest.fixture(scope="module", autouse=True)
def _per_module():
  """Drops every compiled executable once a test module is done.

  Each XLA:CPU executable holds its own memory mappings until it is freed; a
  worker that keeps a whole suite's executables passes the kernel's
  `vm.max_map_count` and segfaults inside the compiler. Later modules
  recompile what they share, mostly from the disk cache.
  """
  yield
  _release_executables()


@pytest.fixture(autouse=True)
def _per_test_when_many():
  """The same inside a module whose tests alone compile enough to matter."""
  yield
  if _MAPS.exists():
    with _MAPS.open() as f:
      if sum(1 for _ in f) > _MAX_MAPPINGS:
        _release_executables()


@pytest.fixture
def mesh1():
  from zoo import sharding

  return sharding.make_mesh(sharding.MeshConfig(data=1), jax.devices()[:1])


@pytest.fixture
def mesh8():
  from zoo import sharding

  return sharding.make_mesh(sharding.MeshConfig(data=4, tensor=2))
