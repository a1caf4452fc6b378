"""Hugging Face checkpoints in the zoo's decoder (`zoo.lm.checkpoints`).

The tiny Llama, Qwen2 and GPT-2 checkpoints under tests/data/lm_checkpoints
were written by transformers' `save_pretrained`, with transformers' own
logits and generations beside them (`tests/data/make_lm_checkpoints.py`),
so parity is checked here without torch; `test_checkpoints_live.py`
compares with transformers itself where it is installed.
"""

import functools
import json
import pathlib
import shutil

import flax.linen as nn
import jax
import numpy as np
import pytest
import safetensors.numpy
from flax import traverse_util
from jax import numpy as jnp

from ops.decoding import prefill, sampling
from ops.decoding.beam import beam_search
from zoo import sharding
from zoo.errors import CheckpointError
from zoo.layers.mlps.gated import GatedMLP
from zoo.layers.mlps.plain import PlainMLP
from zoo.layers.norms.layer import LayerNorm
from zoo.layers.norms.rms import RMSNorm
from zoo.layers.positions.learned import LearnedPositions
from zoo.layers.positions.rope_linear import LinearRope
from zoo.layers.transformer import BlockOptions
from zoo.lm import checkpoints
from zoo.lm.decoder import DecoderConfig
from zoo.lm.families import Family

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "lm_checkpoints"
FAMILIES = ("llama", "qwen2", "gpt2")


@functools.cache
def loaded(family: str) -> checkpoints.Checkpoint:
  return checkpoints.load(DATA / family)


@functools.cache
def expected(family: str) -> dict[str, np.ndarray]:
  return dict(np.load(DATA / family / "expected.npz"))


def random_params(config: DecoderConfig, seed: int = 0):
  """N(0, 0.5) params of `config`'s shapes, boxed as `DecoderLM.init`'s."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: rng.normal(0, 0.5, s.shape).astype(np.float32),
      checkpoints.abstract_params(config))


@jax.jit
def _prefill_logits(lm, prompt, lengths):
  return prefill("test", lm, prompt, lengths, prompt.shape[1]).logits


def real_logits(lm, e) -> np.ndarray:
  """[sum(lengths), V] the prompts' logits through the decoders' prefill
  (left-padded rows, moved to the cache's start)."""
  logits = _prefill_logits(lm, jnp.asarray(e["prompt"]),
                           jnp.asarray(e["lengths"]))
  real = np.arange(e["prompt"].shape[1]) < e["lengths"][:, None]
  return np.asarray(logits)[real]


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_match_transformers(family):
  e = expected(family)
  np.testing.assert_allclose(real_logits(loaded(family).lm, e), e["logits"],
                             atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_and_beam_match_generate(family):
  e, lm = expected(family), loaded(family).lm
  prompt, lengths = jnp.asarray(e["prompt"]), jnp.asarray(e["lengths"])
  new, beams = e["beams"].shape[2], e["beams"].shape[1]
  greedy = sampling.generate(lm, prompt, new, prompt_lengths=lengths)
  np.testing.assert_array_equal(greedy.tokens, e["greedy"])
  beam = beam_search(lm, prompt, new, num_beams=beams, prompt_lengths=lengths)
  np.testing.assert_array_equal(beam.tokens, e["beams"])
  np.testing.assert_allclose(beam.scores, e["beam_scores"], atol=1e-4)


def test_configs_are_read_as_their_families():
  llama, qwen2, gpt2 = (loaded(f).config for f in FAMILIES)
  assert (llama.positions.kind, llama.kv_heads, llama.tied_embeddings,
          llama.block.norm) == ("rope_llama3", 2, False, RMSNorm(1e-5))
  assert (qwen2.block.qkv_bias, qwen2.block.out_bias, qwen2.tied_embeddings,
          qwen2.rope_base) == (True, False, True, 1e6)
  assert (gpt2.positions, gpt2.block.norm, gpt2.block.mlp) == (
      LearnedPositions(64), LayerNorm(1e-5), PlainMLP("gelu_tanh", True))


@pytest.mark.parametrize("config, family", [
    (DecoderConfig(vocab_size=11, embed_dim=16, num_layers=2, num_heads=2,
                   mlp_dim=8), "llama"),
    (DecoderConfig(vocab_size=11, embed_dim=16, num_layers=1, num_heads=4,
                   num_kv_heads=2, head_width=6, mlp_dim=8,
                   positions=LinearRope(2.0), tied_embeddings=False,
                   block=BlockOptions(mlp=GatedMLP(bias=True), qkv_bias=True,
                                      out_bias=True)), "llama"),
    (DecoderConfig(vocab_size=11, embed_dim=16, num_layers=1, num_heads=2,
                   mlp_dim=8, block=BlockOptions(qkv_bias=True)), "qwen2"),
    (DecoderConfig(vocab_size=11, embed_dim=16, num_layers=2, num_heads=2,
                   mlp_dim=8, positions=LearnedPositions(9),
                   tied_embeddings=False,
                   block=BlockOptions(norm=LayerNorm(),
                                      mlp=PlainMLP("gelu", bias=True),
                                      qkv_bias=True, out_bias=True)), "gpt2"),
])
def test_export_and_load_any_config_of_a_family(config, family, tmp_path):
  """Every param in exactly one tensor; save then load is the identity."""
  tokens = jnp.arange(6)[None] % config.vocab_size
  params = random_params(config)
  flat = traverse_util.flatten_dict(nn.meta.unbox(params))
  covered = [p for t in Family.of_kind(family)().tensors(config)
             for p in t.params]
  assert sorted(covered) == sorted(flat)
  checkpoints.save(tmp_path / "ckpt", config, params, family=family,
                   max_shard_bytes=1000)
  back = checkpoints.load(tmp_path / "ckpt", tokenizer=False)
  assert back.config == config
  jax.tree.map(np.testing.assert_array_equal, nn.meta.unbox(back.params),
               nn.meta.unbox(params))
  forward = jax.jit(lambda lm: lm(tokens))
  np.testing.assert_array_equal(forward(back.lm),
                                forward(checkpoints.Checkpoint(
                                    family, config, params, None, {}).lm))


@pytest.mark.parametrize("family", FAMILIES)
def test_export_writes_the_tensors_back(family, tmp_path):
  ckpt = loaded(family)
  stored = checkpoints.weight_files(DATA / family)
  dtype = {"BF16": "bfloat16", "F16": "float16"}[
      next(iter(stored.values())).dtype]
  shards = {"max_shard_bytes": 60_000} if family == "qwen2" else {}
  out = checkpoints.save(tmp_path / family, ckpt.config, ckpt.params,
                         family=family, tokenizer=ckpt.tokenizer, dtype=dtype,
                         hf_config=ckpt.hf_config, **shards)

  def tensors(folder):
    found = {}
    for path in sorted(folder.glob("*.safetensors")):
      found.update(safetensors.numpy.load_file(path))
    return found

  original, written = tensors(DATA / family), tensors(out)
  assert sorted(original) == sorted(written)
  for name, value in original.items():
    assert written[name].dtype == value.dtype
    np.testing.assert_array_equal(written[name], value, err_msg=name)
  assert (out / checkpoints.INDEX).exists() == (family == "qwen2")
  assert (out / checkpoints.TOKENIZER).read_text() == (
      DATA / family / checkpoints.TOKENIZER).read_text()
  assert checkpoints.load(out).config == ckpt.config


def test_export_refuses_a_non_empty_directory(tmp_path):
  (tmp_path / "x").mkdir()
  (tmp_path / "x" / "keep.txt").write_text("mine")
  ckpt = loaded("gpt2")
  with pytest.raises(CheckpointError, match="not an empty directory"):
    checkpoints.save(tmp_path / "x", ckpt.config, ckpt.params, family="gpt2")
  assert [p.name for p in (tmp_path / "x").iterdir()] == ["keep.txt"]
  with pytest.raises(CheckpointError, match="GPT-2 checkpoint has LayerNorm"):
    checkpoints.save(tmp_path / "y", loaded("llama").config,
                     loaded("llama").params, family="gpt2")
  assert not (tmp_path / "y").exists()


def _rewrite(folder: pathlib.Path, change) -> None:
  """Applies change(tensors) to the single weights file of `folder`."""
  path = folder / checkpoints.WEIGHTS
  tensors = safetensors.numpy.load_file(path)
  change(tensors)
  safetensors.numpy.save_file(tensors, path, metadata={"format": "pt"})


def _edit_config(folder: pathlib.Path, **values) -> None:
  path = folder / checkpoints.CONFIG
  path.write_text(json.dumps({**json.loads(path.read_text()), **values}))


BROKEN = {
    "no directory": ("llama", lambda d: shutil.rmtree(d),
                     "does not exist"),
    "no config": ("llama", lambda d: (d / "config.json").unlink(),
                  "config.json is missing"),
    "no tokenizer": ("llama", lambda d: (d / "tokenizer.json").unlink(),
                     "tokenizer.json is missing"),
    "no weights": ("llama", lambda d: (d / "model.safetensors").unlink(),
                   "no model.safetensors"),
    "no shard": ("qwen2",
                 lambda d: (d / "model-00002-of-00003.safetensors").unlink(),
                 "missing: model-00002-of-00003.safetensors"),
    "unknown architecture": (
        "llama", lambda d: _edit_config(d, architectures=["MambaForCausalLM"]),
        "unknown architecture \\['MambaForCausalLM'\\]"),
    "unsupported rope": (
        "llama", lambda d: _edit_config(d, rope_parameters={
            "rope_type": "yarn", "factor": 4.0}), "rope type 'yarn'"),
    "sliding window": ("qwen2",
                       lambda d: _edit_config(d, use_sliding_window=True),
                       "use_sliding_window=True is not supported"),
    "missing tensor": ("llama", lambda d: _rewrite(
        d, lambda t: t.pop("model.norm.weight")),
                       "missing: model.norm.weight"),
    "unexpected tensor": ("gpt2", lambda d: _rewrite(
        d, lambda t: t.update(extra=np.zeros(3, np.float16))),
                          "unexpected: extra"),
    "wrong shape": ("llama", lambda d: _edit_config(d, intermediate_size=80),
                    "wrong shape or dtype: model.layers.0.mlp.gate_proj"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_directory_is_one_error_naming_the_problem(case, tmp_path):
  family, breaks, message = BROKEN[case]
  folder = tmp_path / family
  shutil.copytree(DATA / family, folder)
  breaks(folder)
  with pytest.raises(CheckpointError, match=message):
    checkpoints.load(folder)


def test_old_buffers_and_a_tied_heads_copy_are_ignored(tmp_path):
  """GPT-2's causal-mask buffers, names without `transformer.`, a tied
  head saved anyway: as in the files Hugging Face ships."""
  folder = tmp_path / "gpt2"
  shutil.copytree(DATA / "gpt2", folder)

  def change(tensors):
    for name in list(tensors):
      tensors[name.removeprefix("transformer.")] = tensors.pop(name)
    tensors["h.0.attn.bias"] = np.ones((1, 1, 4, 4), np.float16)
    tensors["lm_head.weight"] = tensors["wte.weight"]

  _rewrite(folder, change)
  e = expected("gpt2")
  np.testing.assert_allclose(
      real_logits(checkpoints.load(folder).lm, e), e["logits"], atol=1e-4)


def test_a_mesh_shards_params_by_their_logical_axes(mesh8):
  ckpt = checkpoints.load(DATA / "qwen2", mesh=mesh8)
  want = sharding.logical_shardings(ckpt.params, mesh8)
  got = jax.tree.map(lambda a: a.sharding, nn.meta.unbox(ckpt.params))
  for path, s in traverse_util.flatten_dict(got).items():
    expected_sharding = traverse_util.flatten_dict(want)[path]
    assert s.is_equivalent_to(expected_sharding, 3), path
  query = ckpt.params["block_0"]["attention"]["query"]["kernel"]
  assert query.names == (sharding.EMBED, sharding.HEADS, sharding.KV)
  assert query.value.sharding.spec == jax.sharding.PartitionSpec(
      "fsdp", "tensor", None)
  e = expected("qwen2")
  np.testing.assert_allclose(real_logits(ckpt.lm, e), e["logits"], atol=1e-4)


def test_bfloat16_params_and_computation():
  ckpt = checkpoints.load(DATA / "llama", dtype="bfloat16")
  assert {a.dtype for a in jax.tree.leaves(nn.meta.unbox(ckpt.params))} == {
      jnp.dtype(jnp.bfloat16)}
  e = expected("llama")
  logits = real_logits(ckpt.lm, e)
  assert np.abs(logits - e["logits"]).max() < 0.1 * np.abs(e["logits"]).max()
