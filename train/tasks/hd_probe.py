"""The Hyperdimensional Probe's objective on `kv_analogies`.

The frozen subject LM reads each prompt "k1 : v1 = k2 :"; e_s compresses
its last-token states (`zoo.interp.hd_probe.compress`); the probe's output
is scored with 1 - cos against the bundle of bind(k1, v1) and bind(k2, v2).
Metrics: the cosine, and the accuracy of the decoded answer (v2, from the
bipolar output with k1, v1, k2 known).

The subject's params are the "subject" collection: random where the model
config names no run (`HDProbeConfig.subject_run`), else loaded from it
(`train.store.hd_probe`). Not params, so the optimizer leaves them alone.
"""

import functools

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from train.data.builders import kv_analogies
from train.store import hd_probe as subject_store
from train.store import pretrained
from train.tasks import Task
from zoo.interp import hd_probe
from zoo.lm.decoder import DecoderLM


def prepare(examples):
  tokens = np.asarray(examples["tokens"], np.int32)
  return {"prompt": tokens[:, :kv_analogies.PROMPT_LENGTH],
          "concepts": np.asarray(examples["concepts"], np.int32)}


@functools.lru_cache(maxsize=4)
def _loaded(run: str, subject) -> dict:
  return pretrained.off_trace(subject_store.subject_params, run, subject)


def init(model, key, inputs):
  cfg = model.config
  probe_key, subject_key = jax.random.split(key)
  e_s = jnp.zeros((1, cfg.subject.embed_dim), jnp.float32)
  params = model.init({"params": probe_key}, e_s)["params"]
  subject = nn.meta.unbox(DecoderLM(cfg.subject).init(
      subject_key, inputs["prompt"][:1])["params"])
  if cfg.subject_run:
    subject = pretrained.filled(subject, _loaded(cfg.subject_run,
                                                 cfg.subject),
                                f"the subject LM of {cfg.subject_run}")
  return {"params": params, "subject": subject}


def compressed(cfg, subject, prompts):
  """[B, T] prompts -> [B, d] e_s of the frozen subject."""
  states = hd_probe.layer_states(cfg, jax.lax.stop_gradient(subject),
                                 prompts)
  return hd_probe.compress(states, cfg.num_clusters)


def loss(model, variables, inputs, key):
  cfg = model.config
  e_s = compressed(cfg, variables["subject"], inputs["prompt"])
  encoded = model.apply({"params": variables["params"]}, e_s,
                        deterministic=False, rngs={"dropout": key})
  target = hd_probe.targets(cfg, inputs["concepts"])
  cos = jnp.sum(encoded * target, -1) / (
      jnp.linalg.norm(encoded, axis=-1) * jnp.sqrt(cfg.dim) + 1e-12)
  concepts = inputs["concepts"]
  decoded = hd_probe.answers(cfg, encoded, concepts[:, :3])
  return jnp.mean(1.0 - cos), ({
      "cos": jnp.mean(cos),
      "probe_accuracy": jnp.mean(decoded == concepts[:, 3])}, {})


TASK = Task(
    name="hd_probe",
    features=("tokens", "concepts"),
    prepare=prepare,
    init=init,
    loss=loss,
)
