"""The masked-diffusion sampler on a tiny random MDM and the list oracle."""

import functools

import flax.struct
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from eval.parallelbench import oracle
from ops.decoding.diffusion import canvas_mask, generate
from ops.decoding.learn2pd import Filter, egp_data
from ops.decoding.unmask import UnmaskRule
from train.data import list_tasks
from zoo.lm import special_tokens
from zoo.lm.decoder import DecoderConfig
from zoo.lm.diffusion import DiffusionConfig, MaskedDiffusionLM, denoiser

B, P, G, N, V = 6, 3, 8, 4, 16


@functools.cache
def _lm(attention="bidirectional", num_layers=1):
  cfg = DiffusionConfig(
      decoder=DecoderConfig(vocab_size=V, embed_dim=16, num_layers=num_layers,
                            num_heads=2, num_kv_heads=1, mlp_dim=32),
      prompt_len=P, block_len=N, attention=attention)
  tokens = jnp.zeros((1, P + G), jnp.int32)
  params = MaskedDiffusionLM(cfg).init(jax.random.key(7), tokens)["params"]
  return denoiser(cfg, params)


def _prompt(seed=0):
  return jax.random.randint(jax.random.key(seed), (B, P), 4, V)


def _run(rule, attention="bidirectional", num_layers=1, **kw):
  return generate(_lm(attention, num_layers), _prompt(), gen_len=G,
                  block_len=N, rule=rule, attention=attention, **kw)


def test_canvas_masks():
  np.testing.assert_array_equal(canvas_mask(2, 4, 2, "bidirectional"),
                                np.ones((6, 6), bool))
  block = np.array([0, 0, 1, 1, 2, 2])
  np.testing.assert_array_equal(canvas_mask(2, 4, 2, "block_causal"),
                                block[None, :] <= block[:, None])


@pytest.mark.parametrize("eot_truncation", [False, True])
def test_prefix_cache_equals_full_recompute_under_block_causal_mask(
    eot_truncation):
  # Two layers: with one, the cached keys and values depend on the tokens
  # only, and a cache built under the wrong attention would go unnoticed.
  rule = UnmaskRule("threshold", threshold=0.2)
  full, cached = (_run(rule, "block_causal", 2, cached=c, record=True,
                       eot_truncation=eot_truncation) for c in (False, True))
  np.testing.assert_array_equal(cached.tokens, full.tokens)
  np.testing.assert_array_equal(cached.nfe, full.nfe)
  # Every step's block confidences, i.e. the logits, match the recompute.
  np.testing.assert_allclose(cached.trace.confidence, full.trace.confidence,
                             atol=1e-5)
  assert (np.asarray(full.nfe) < G).any(), "some step must decode > 1"
  assert not (np.asarray(full.tokens) == special_tokens.MASK).any()


def test_bidirectional_prefix_cache_is_reused_not_recomputed():
  # Under the full mask the cached prefix keys and values are stale (they
  # predate later blocks), so the logits must differ from a recompute.
  rule = UnmaskRule("confidence", k=1)
  full, cached = (_run(rule, "bidirectional", 2, cached=c, record=True)
                  for c in (False, True))
  np.testing.assert_array_equal(cached.nfe, full.nfe)
  assert np.abs(np.asarray(cached.trace.confidence)
                - np.asarray(full.trace.confidence)).max() > 1e-3


def test_top_k_steps_per_block_and_nfe():
  rule = UnmaskRule("confidence", k=3)
  out = _run(rule)
  np.testing.assert_array_equal(out.nfe, np.full(B, (G // N) * 2))
  # Bidirectional with a prefix cache (Fast-dLLM's approximation): the
  # same schedule, every position decoded.
  approx = _run(rule, cached=True)
  np.testing.assert_array_equal(approx.nfe, out.nfe)
  assert not (np.asarray(approx.tokens) == special_tokens.MASK).any()


def test_learn2pd_filter_extremes_and_egp_reproduce_references():
  one = _run(UnmaskRule("confidence", k=1))
  np.testing.assert_array_equal(one.nfe, np.full(B, G))
  rule = UnmaskRule("filter", threshold=0.5)
  reject = _run(rule, learned_filter=Filter.constant(N, -jnp.inf))
  np.testing.assert_array_equal(reject.tokens, one.tokens)
  np.testing.assert_array_equal(reject.nfe, one.nfe)
  accept = _run(rule, learned_filter=Filter.constant(N, jnp.inf))
  np.testing.assert_array_equal(accept.nfe, np.full(B, G // N))
  # EGP against the one-per-step output: the same tokens, in fewer steps,
  # and a step record whose masked count falls every active step.
  egp = _run(UnmaskRule("reference"), reference=one.tokens, record=True)
  np.testing.assert_array_equal(egp.tokens, one.tokens)
  assert (np.asarray(egp.nfe) <= G).all()
  trace = jax.tree.map(np.asarray, egp.trace)
  assert trace.active.sum(0).tolist() == np.asarray(egp.nfe).tolist()
  left = trace.masked.sum(-1)  # [S, B]
  for b in range(B):
    steps = np.flatnonzero(trace.active[:, b])
    for s, t in zip(steps[:-1], steps[1:]):
      if trace.block[s] == trace.block[t]:
        assert left[t, b] < left[s, b]
  data = egp_data(egp.trace, one.tokens)
  assert float(data.weight.sum()) == float(trace.masked[
      trace.active].sum())


def test_localleap_without_relaxation_is_the_threshold_rule():
  tau = 0.2
  threshold = _run(UnmaskRule("threshold", threshold=tau))
  leap = _run(UnmaskRule("localleap", threshold=tau, relaxed_threshold=tau))
  np.testing.assert_array_equal(leap.tokens, threshold.tokens)
  np.testing.assert_array_equal(leap.nfe, threshold.nfe)


def test_end_of_text_truncation_on_the_copy_oracle():
  rng = np.random.default_rng(0)
  examples = [list_tasks.sample_example(rng, "copy", 4) for _ in range(B)]
  model = oracle.MarginalOracle.for_examples(examples, G)
  prompts = np.stack([ex.prompt() for ex in examples])
  run = functools.partial(generate, model, prompts, gen_len=G, block_len=N,
                          rule=UnmaskRule("confidence", k=1))
  plain, truncated = run(), run(eot_truncation=True)
  np.testing.assert_array_equal(truncated.tokens, plain.tokens)
  np.testing.assert_array_equal(plain.nfe, np.full(B, G))
  # Block 2 predicts EOS at its first position: one step decodes it and
  # everything after it is truncated.
  np.testing.assert_array_equal(truncated.nfe, np.full(B, 4 + 1))


class _FixedLogits(flax.struct.PyTreeNode):
  """A denoiser whose logits [L, V] do not depend on the canvas."""

  logits: jax.Array

  @property
  def vocab_size(self):
    return self.logits.shape[-1]

  def __call__(self, tokens, positions=None, qq_mask=None):
    del positions, qq_mask
    return jnp.broadcast_to(self.logits, (len(tokens), *self.logits.shape))


def test_end_of_text_prediction_cuts_at_the_surest_eos_of_the_canvas():
  # Answer offsets predict name 5 (offset 0 most surely), except EOS at
  # offset 2 (p 0.22, block 0) and offset 6 (p 0.96, block 1). The cut is
  # after the surest predicted EOS anywhere (6), not the block's only one
  # (2); offset 2 decodes EOS last in its block and cuts after itself.
  eos, name = special_tokens.EOS, 5
  logits = np.zeros((P + G, 8), np.float32)
  logits[P:, name] = 3.0
  logits[P, name] = 4.0
  logits[P + 2, name], logits[P + 2, eos] = 0.0, 0.5
  logits[P + 6, name], logits[P + 6, eos] = 0.0, 5.0
  run = functools.partial(generate, _FixedLogits(jnp.asarray(logits)),
                          _prompt()[:2] % 8, gen_len=G, block_len=N,
                          rule=UnmaskRule("confidence", k=1))
  plain, truncated = run(), run(eot_truncation=True)
  np.testing.assert_array_equal(plain.nfe, [G, G])
  np.testing.assert_array_equal(truncated.nfe, [4, 4])
  want = [name, name, eos, name, eos, eos, eos, eos]
  np.testing.assert_array_equal(truncated.tokens, [want, want])


def test_bad_arguments_are_named():
  with pytest.raises(ValueError, match="multiple of block_len"):
    generate(_lm(), _prompt(), gen_len=G + 1, block_len=N,
             rule=UnmaskRule())
  with pytest.raises(ValueError, match="needs learned_filter"):
    generate(_lm(), _prompt(), gen_len=G, block_len=N,
             rule=UnmaskRule("filter"))
  with pytest.raises(ValueError, match="needs reference"):
    generate(_lm(), _prompt(), gen_len=G, block_len=N,
             rule=UnmaskRule("reference"))
  with pytest.raises(ValueError, match="need a key"):
    generate(_lm(), _prompt(), gen_len=G, block_len=N,
             rule=UnmaskRule(), temperature=1.0)
