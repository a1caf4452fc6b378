"""On-policy distillation of an encoder-decoder student from a decoder-only
teacher (Mu's recipe; GKD-like).

Per batch the student samples a target from BOS (temperature 0.9, top-k
min(128, V), no gradient); the teacher scores [source; sampled target]; its
logits at source_len .. source_len + n - 1 (those predicting the n sampled
tokens, `teacher_slice`) are cut to the student's vocabulary and align with
the student's teacher-forced logits on the sample. Loss:
kl_weight * KL(teacher || student) + (1 - kl_weight) * CE(student, gold).
ours: the teacher's sequence puts BOS between source and target (as the
`digit_frequency` decoder-only view does), so its slice starts one later
than Mu's enc_len - 1. The teacher is an argument, so the task is built by
`task(teacher, teacher_params)` rather than named in a config.
"""

import functools

import jax
from jax import numpy as jnp

from ops.decoding import sampling
from train.tasks import Task, seq2seq
from zoo.lm import special_tokens
from zoo.lm.encdec import EncodedLM

KL_WEIGHT, TEMPERATURE, TOP_K = 0.9, 0.9, 128


def teacher_slice(logits, source_len: int, n: int):
  """Teacher logits [B, source_len + 1 + n, V] over [source; BOS; target
  1..n] -> [B, n, V], the positions predicting target tokens 1..n."""
  return logits[:, source_len:source_len + n]


def kl(teacher_logits, student_logits):
  """Mean over [B, n] positions of KL(teacher || student)."""
  log_t = jax.nn.log_softmax(teacher_logits, -1)
  log_s = jax.nn.log_softmax(student_logits, -1)
  return jnp.mean(jnp.sum(jnp.exp(log_t) * (log_t - log_s), -1))


def kd_objective(teacher_logits, student_logits, gold_ce, kl_weight):
  """kl_weight * KL + (1 - kl_weight) * CE; teacher_logits may have the
  larger vocabulary (cut to the student's)."""
  v = student_logits.shape[-1]
  divergence = kl(teacher_logits[..., :v], student_logits)
  return kl_weight * divergence + (1 - kl_weight) * gold_ce, divergence


def loss(model, variables, inputs, key, *, teacher, teacher_params,
         kl_weight, temperature, top_k):
  source, target = inputs["source"], inputs["target"]
  b, n = target.shape[0], target.shape[1] - 1
  frozen = jax.lax.stop_gradient(variables["params"])
  bos = jnp.full((b, 1), special_tokens.BOS, jnp.int32)
  drawn = sampling.generate(EncodedLM.for_source(frozen, model, source), bos,
                            n, key, temperature=temperature,
                            top_k=top_k).tokens
  sample = jnp.concatenate([bos, drawn], 1)  # [B, n + 1]
  student = model.apply(variables, source, sample[:, :-1])
  teacher_logits = teacher_slice(teacher.apply(
      {"params": teacher_params}, jnp.concatenate([source, sample], 1)),
                                 source.shape[1], n)
  gold = model.apply(variables, source, target[:, :-1])
  ce = seq2seq.cross_entropy(gold, target)
  total, divergence = kd_objective(jax.lax.stop_gradient(teacher_logits),
                                   student, ce, kl_weight)
  accuracy = jnp.mean(jnp.argmax(gold, -1) == target[:, 1:])
  return total, ({"kl": divergence, "nll": ce, "accuracy": accuracy}, {})


def task(teacher, teacher_params, student_vocab: int,
         kl_weight: float = KL_WEIGHT, temperature: float = TEMPERATURE
         ) -> Task:
  """The KD task for a student of `student_vocab` ids and a decoder-only
  `teacher` module with its params."""
  teacher_vocab = teacher.config.vocab_size
  if teacher_vocab < student_vocab:
    raise ValueError(f"seq2seq_kd: teacher vocabulary {teacher_vocab} is "
                     f"smaller than the student's {student_vocab}")
  return Task(
      name="seq2seq_kd",
      features=seq2seq.TASK.features,
      prepare=seq2seq.prepare,
      init=seq2seq.init,
      loss=functools.partial(loss, teacher=teacher,
                             teacher_params=teacher_params,
                             kl_weight=kl_weight, temperature=temperature,
                             top_k=min(TOP_K, student_vocab)),
  )
