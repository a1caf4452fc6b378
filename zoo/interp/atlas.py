"""aTLAS (Zhang et al., NeurIPS 2024, "Knowledge Composition using Task
Vectors with Learned Anisotropic Scaling"; fredzzhang/atlas, no license
seen: read, not copied).

Faithful mechanism, toy scale, on scikit-learn's 8x8 `digits` (a real data
set; the domains are synthetic). The paper's theta0 is a CLIP image
encoder and its task vectors come from 22 fine-tuned data sets; here:

* theta0: `DigitsCNN` trained on clean digits;
* task vectors: theta0 fine-tuned on four domains of the same digits,
  `rot90` (90 degrees anticlockwise), `invert` (1 - x), `blur` (3x3 box
  mean, zero padding) and `noise` (x + N(0, 0.3^2), clipped to [0, 1]);
* target: the unseen composite `rot90` then `invert`.

`Atlas` is the re-parameterised classifier of `zoo.interp.task_vectors`:
its only parameter is Lam (`lam`, zero at init), and theta0 and the stacked
task vectors are the non-trainable collection "task_vectors" (filled by
the train task). `coefficients` picks isotropic [T] or anisotropic [T, B]
Lam, `parts` > 1 aTLAS x K, `linearised` the linearised model.

Ours [recon]: the CNN (two 3x3 convs of 16 and 32 maps, the second stride 2,
GELU, a 64-wide hidden layer; B = 8 blocks), the domains' parameters above,
and the training of theta0 and the task vectors (`train_classifier`: Adam
1e-3, batch 128, fresh noise per batch). The claim (eval/claims/atlas.py,
where its result and the diagnosis of its FAIL are) beats task arithmetic
by 8 pp but not full fine-tuning on the same 50 shots.
"""

import dataclasses
from collections.abc import Callable
from typing import Literal

import flax.linen as nn
import jax
import numpy as np
import optax
from jax import numpy as jnp

from zoo import registry
from zoo.errors import ConfigError
from zoo.interp import task_vectors

NUM_CLASSES = 10


def rot90(images, key=None):
  del key
  return jnp.rot90(images, 1, axes=(-2, -1))


def invert(images, key=None):
  del key
  return 1.0 - images


def blur(images, key=None):
  """3x3 box mean with zero padding."""
  del key
  padded = jnp.pad(images, [(0, 0)] * (images.ndim - 2) + [(1, 1), (1, 1)])
  h, w = images.shape[-2:]
  return sum(padded[..., i:i + h, j:j + w] for i in range(3)
             for j in range(3)) / 9.0


def noise(images, key, sigma: float = 0.3):
  return jnp.clip(images + sigma * jax.random.normal(key, images.shape),
                  0.0, 1.0)


# name -> (images [..., H, W] in [0, 1], key) -> images.
DOMAINS: dict[str, Callable] = {"rot90": rot90, "invert": invert,
                                "blur": blur, "noise": noise}


def check_domains(names, what: str) -> None:
  unknown = [n for n in names if n not in DOMAINS]
  if unknown:
    raise ConfigError(f"{what}: unknown domain(s) {unknown}; known: "
                      f"{', '.join(DOMAINS)}")


def apply_domains(names, images, key):
  """`images` [..., H, W] through the named domains in order."""
  images = jnp.asarray(images, jnp.float32)
  for i, name in enumerate(names):
    images = DOMAINS[name](images, jax.random.fold_in(key, i))
  return images


@dataclasses.dataclass(frozen=True)
class AtlasConfig:
  """Attributes:

    domains: the task vectors' domains, in order (T = len(domains)).
    target: the domains composed, in order, into the target domain.
    coefficients: "anisotropic" (Lam [T, B]) or "isotropic" (Lam [T]).
    parts: K of aTLAS x K (anisotropic only); 1 is plain aTLAS.
    linearised: the linearised model, f(theta0) + J dtheta.
    channels, hidden: the CNN's conv maps and hidden width.
    pretrain_steps: theta0's steps on clean digits (read by the task).
    finetune_steps: each task vector's fine-tuning steps (likewise).
  """

  domains: tuple[str, ...] = ("rot90", "invert", "blur", "noise")
  target: tuple[str, ...] = ("rot90", "invert")
  coefficients: Literal["isotropic", "anisotropic"] = "anisotropic"
  parts: int = 1
  linearised: bool = False
  channels: tuple[int, int] = (16, 32)
  hidden: int = 64
  pretrain_steps: int = 1000
  finetune_steps: int = 300

  def __post_init__(self):
    check_domains(self.domains, "model.domains")
    check_domains(self.target, "model.target")
    if not self.domains:
      raise ConfigError("model.domains: need at least one task vector")
    if self.coefficients not in ("isotropic", "anisotropic"):
      raise ConfigError(f"model.coefficients must be isotropic or "
                        f"anisotropic, got {self.coefficients!r}")
    if self.parts < 1 or (self.coefficients == "isotropic" and
                          self.parts != 1):
      raise ConfigError(f"model.parts must be >= 1 (1 when isotropic), got "
                        f"{self.parts}")
    if min(*self.channels, self.hidden, self.pretrain_steps,
           self.finetune_steps) < 1:
      raise ConfigError("model.channels, hidden and the step counts must "
                        "be >= 1")


class DigitsCNN(nn.Module):
  """[B, 8, 8] images -> [B, 10] logits."""

  channels: tuple[int, int] = (16, 32)
  hidden: int = 64

  @nn.compact
  def __call__(self, images):
    x = nn.gelu(nn.Conv(self.channels[0], (3, 3))(images[..., None]))
    x = nn.gelu(nn.Conv(self.channels[1], (3, 3), strides=2)(x))
    x = nn.gelu(nn.Dense(self.hidden)(x.reshape(x.shape[0], -1)))
    return nn.Dense(NUM_CLASSES)(x)


def cnn(cfg: AtlasConfig) -> DigitsCNN:
  return DigitsCNN(cfg.channels, cfg.hidden, parent=None)


def classifier(cfg: AtlasConfig) -> Callable:
  """(params, images [B, 8, 8]) -> logits [B, 10]."""
  net = cnn(cfg)
  return lambda params, images: net.apply({"params": params}, images)


def init_cnn(cfg: AtlasConfig, key, image_shape=(8, 8)):
  return cnn(cfg).init(key, jnp.zeros((1, *image_shape)))["params"]


def cross_entropy(logits, labels):
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      logits, labels))


def train_classifier(cfg: AtlasConfig, params, images, labels, domains,
                     steps: int, key, batch_size: int = 128,
                     learning_rate: float = 1e-3):
  """Adam on the CNN's cross-entropy over `images` [N, 8, 8] through
  `domains` (fresh draws per batch), batches sampled with replacement;
  returns the trained params."""
  apply = classifier(cfg)
  tx = optax.adam(learning_rate)
  images, labels = jnp.asarray(images), jnp.asarray(labels)

  def step(carry, step_key):
    params, opt_state = carry
    rows_key, domain_key = jax.random.split(step_key)
    rows = jax.random.randint(rows_key, (batch_size,), 0, len(labels))
    x = apply_domains(domains, images[rows], domain_key)
    grads = jax.grad(lambda p: cross_entropy(apply(p, x), labels[rows]))(
        params)
    updates, opt_state = tx.update(grads, opt_state)
    return (optax.apply_updates(params, updates), opt_state), None

  run = jax.jit(lambda p, keys: jax.lax.scan(step, (p, tx.init(p)), keys))
  (params, _), _ = run(params, jax.random.split(key, steps))
  return params


def pretrain(cfg: AtlasConfig, images, labels, key):
  """theta0 (clean digits) and the stacked task vectors of `cfg.domains`,
  each fine-tuned from theta0: (theta0, taus with leaves [T, *leaf])."""
  init_key, base_key, *task_keys = jax.random.split(key, 2 + len(
      cfg.domains))
  theta0 = train_classifier(cfg, init_cnn(cfg, init_key), images, labels, (),
                            cfg.pretrain_steps, base_key)
  finetuned = [train_classifier(cfg, theta0, images, labels, (domain,),
                                cfg.finetune_steps, k)
               for domain, k in zip(cfg.domains, task_keys)]
  return theta0, task_vectors.task_vectors(theta0, finetuned)


class Atlas(nn.Module):
  """The CNN at theta(Lam); only Lam is a parameter."""

  cfg: AtlasConfig

  @nn.compact
  def __call__(self, images):  # [B, 8, 8] -> [B, 10]
    cfg = self.cfg
    shapes = jax.eval_shape(lambda: init_cnn(cfg, jax.random.key(0),
                                             images.shape[1:]))
    num_tasks = len(cfg.domains)
    theta0 = self.variable("task_vectors", "theta0", lambda: jax.tree.map(
        lambda s: jnp.zeros(s.shape, s.dtype), shapes)).value
    taus = self.variable("task_vectors", "taus", lambda: jax.tree.map(
        lambda s: jnp.zeros((num_tasks, *s.shape), s.dtype), shapes)).value
    lam = self.param("lam", nn.initializers.zeros, task_vectors.coefficients(
        num_tasks, shapes, cfg.coefficients, cfg.parts).shape)
    apply = classifier(cfg)
    if cfg.linearised:
      return task_vectors.linearised(apply, theta0, taus)(lam, images)
    return apply(task_vectors.compose(theta0, taus, lam), images)


def build(cfg: AtlasConfig) -> Atlas:
  return Atlas(cfg)


def num_blocks(cfg: AtlasConfig) -> int:
  return len(task_vectors.blocks(init_cnn(cfg, jax.random.key(0))))


def few_shot_rows(labels: np.ndarray, shots: int, seed: int) -> np.ndarray:
  """`shots` indices of each class, drawn without replacement (sorted)."""
  rng = np.random.default_rng(seed)
  return np.sort(np.concatenate([
      rng.choice(np.flatnonzero(labels == c), shots, replace=False)
      for c in range(NUM_CLASSES)]))


SYSTEM = registry.System(
    name="atlas",
    family="interp",
    paper="Knowledge Composition using Task Vectors with Learned "
          "Anisotropic Scaling (aTLAS; Zhang et al., NeurIPS 2024)",
    summary="a digits CNN re-parameterised as theta0 + sum Lam[t,b] "
            "tau[t,b] over 4 domain task vectors; only Lam trains",
    default_config=AtlasConfig,
    builder=build,
    configs=("train.configs.atlas:get_config",),
    task="train.tasks.task_vector_coefficients:TASK",
    claim="eval.claims.atlas:check",
    datasets=("train.data.builders.digits:Digits",),
)
