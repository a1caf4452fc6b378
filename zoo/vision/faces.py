"""Small face networks: an ArcFace recogniser, a yaw regressor, and the
verification metric (TAR at a fixed FAR).

Both networks are CNNs on grey images [B, H, W, 1] in [0, 1]: 3x3 convs of
widths (16, 32, 64), the last two with stride 2, each with GroupNorm and
GELU. The recogniser flattens the last map into a Dense embedding; ArcFace
(Deng et al. 2019) scores it against one learned centre per training
identity with the additive angular margin: logit_j = s cos(theta_j), and
s cos(theta_y + m) for the label y (where theta_y + m > pi, insightface's
fallback s (cos theta_y - m sin m)). The yaw regressor pools the last map
and regresses one number.
"""

import math

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

WIDTHS = (16, 32, 64)


def unit(x: jax.Array) -> jax.Array:
  """Rows of x [..., D] scaled to unit length."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class ConvTrunk(nn.Module):
  """[B, H, W, 1] in [0, 1] -> [B, H / 4, W / 4, 64]."""

  @nn.compact
  def __call__(self, images):
    if images.ndim != 4 or images.shape[-1] != 1 or any(
        s % 4 for s in images.shape[1:3]):
      raise ValueError(f"face networks: images must be [B, H, W, 1] with H "
                       f"and W divisible by the stride 4, got shape "
                       f"{images.shape}")
    x = images - 0.5
    for i, width in enumerate(WIDTHS):
      x = nn.Conv(width, (3, 3), strides=1 if i == 0 else 2, padding="SAME",
                  name=f"conv_{i}")(x)
      x = nn.gelu(nn.GroupNorm(8, name=f"norm_{i}")(x))
    return x


class FaceRecognizer(nn.Module):
  """Images -> [B, feature_dim] embeddings (not normalised); `logits`
  adds ArcFace's margin against `num_identities` learned centres."""

  feature_dim: int
  num_identities: int

  def setup(self):
    self.trunk = ConvTrunk()
    self.project = nn.Dense(self.feature_dim)
    self.centres = self.param("centres", nn.initializers.normal(1.0),
                              (self.num_identities, self.feature_dim))

  def __call__(self, images):
    x = self.trunk(images)
    return self.project(x.reshape(x.shape[0], -1))

  def logits(self, images, labels, scale: float, margin: float):
    """[B, num_identities] ArcFace logits for labels [B]."""
    cos = unit(self(images)) @ unit(self.centres).T
    return arcface_logits(cos, labels, scale, margin)


def arcface_logits(cos: jax.Array, labels: jax.Array, scale: float,
                   margin: float) -> jax.Array:
  """s cos(theta + m) at each row's label, s cos(theta) elsewhere.

  Args:
    cos: [B, C] cosines between embeddings and class centres.
    labels: [B] int class of each row.
    scale: s.
    margin: m, in radians.
  """
  cos = jnp.clip(cos, -1.0, 1.0)
  sin = jnp.sqrt(jnp.clip(1.0 - cos**2, 0.0, 1.0))
  with_margin = cos * math.cos(margin) - sin * math.sin(margin)
  # Past theta = pi - m, cos(theta + m) would rise again: insightface's
  # monotone fallback.
  with_margin = jnp.where(cos > math.cos(math.pi - margin), with_margin,
                          cos - math.sin(math.pi - margin) * margin)
  target = jax.nn.one_hot(labels, cos.shape[-1], dtype=bool)
  return scale * jnp.where(target, with_margin, cos)


class YawRegressor(nn.Module):
  """Images -> [B] yaw."""

  @nn.compact
  def __call__(self, images):
    x = ConvTrunk(name="trunk")(images).mean(axis=(1, 2))
    x = nn.gelu(nn.Dense(32, name="hidden")(x))
    return nn.Dense(1, name="out")(x)[:, 0]


def pair_scores(embeddings: np.ndarray, labels: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
  """Cosines of all unordered pairs (i < j): (genuine, impostor) scores."""
  x = np.asarray(embeddings, np.float64)
  x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  i, j = np.triu_indices(len(x), k=1)
  scores = np.einsum("nd,nd->n", x[i], x[j])
  same = np.asarray(labels)[i] == np.asarray(labels)[j]
  return scores[same], scores[~same]


def tar_at_far(embeddings: np.ndarray, labels: np.ndarray, far: float
               ) -> float:
  """True accept rate at a false accept rate, over all pairs.

  The threshold t is the smallest impostor score such that at most `far` of
  impostor pairs score above it; TAR is the share of genuine pairs scoring
  above t.

  Args:
    embeddings: [N, D] features (cosine similarity is the score).
    labels: [N] identities.
    far: the false accept rate, in (0, 1).

  Raises:
    ValueError: far is outside (0, 1), or there are no genuine or no
      impostor pairs.
  """
  if not 0 < far < 1:
    raise ValueError(f"tar_at_far: far must be in (0, 1), got {far}")
  genuine, impostor = pair_scores(embeddings, labels)
  if not len(genuine) or not len(impostor):
    raise ValueError("tar_at_far: needs both same-label and different-label "
                     "pairs")
  ranked = np.sort(impostor)[::-1]
  allowed = int(math.floor(far * len(ranked)))  # impostors allowed above t
  threshold = ranked[allowed] if allowed < len(ranked) else -np.inf
  return float(np.mean(genuine > threshold))
