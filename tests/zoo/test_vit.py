"""zoo.vision.vit: patches are the image's blocks in row-major order, the
block stack is permutation equivariant (positions come from the caller),
the ViT's shapes, and sizes that do not divide are refused."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.vision import vit


def test_patchify_is_the_row_major_blocks():
  rng = np.random.default_rng(0)
  images = rng.normal(size=(2, 12, 8, 3)).astype(np.float32)
  patches = np.asarray(vit.patchify(jnp.asarray(images), 4))
  assert patches.shape == (2, 6, 48)
  for b in range(2):
    for n in range(6):
      r, c = divmod(n, 2)
      np.testing.assert_array_equal(
          patches[b, n], images[b, 4 * r:4 * r + 4, 4 * c:4 * c + 4].ravel())
  with pytest.raises(ValueError, match="size 12x8 is not divisible by the "
                                       "patch size 5"):
    vit.patchify(jnp.asarray(images), 5)


def test_stack_is_permutation_equivariant():
  stack = vit.TransformerStack(2, 4, 32)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 7, 16)),
                  jnp.float32)
  params = stack.init(jax.random.key(0), x)
  perm = np.random.default_rng(2).permutation(7)
  np.testing.assert_allclose(stack.apply(params, x[:, perm]),
                             stack.apply(params, x)[:, perm], atol=1e-5)
  with pytest.raises(ValueError, match="width 16 is not divisible by 3"):
    vit.TransformerStack(1, 3, 8).init(jax.random.key(0), x)


def test_vit_shapes_and_bad_sizes():
  cfg = vit.ViTConfig()
  images = jnp.zeros((2, 28, 28, 1))
  variables = jax.eval_shape(vit.ViT(cfg).init, jax.random.key(0), images)
  out = jax.eval_shape(vit.ViT(cfg).apply, variables, images)
  assert out.shape == (2, 49, 64)
  with pytest.raises(ValueError, match="image size 30 is not divisible by "
                                       "the patch size 4"):
    vit.ViTConfig(image_size=30)
  with pytest.raises(ValueError, match=r"images must be \[B, 28, 28, 1\]"):
    jax.eval_shape(vit.ViT(cfg).init, jax.random.key(0),
                   jnp.zeros((2, 32, 32, 1)))
