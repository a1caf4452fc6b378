"""Parity of the Ettin encoder with transformers' `ModernBertModel`, where
torch and transformers are installed (the `compare` extra); skipped
otherwise. A random tiny ModernBERT config is built locally (nothing is
downloaded) and its weights are copied into ours."""

import jax
import numpy as np
import pytest
from flax import traverse_util
from jax import numpy as jnp

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from zoo.lm.ettin import Ettin, EttinConfig  # noqa: E402

CFG = EttinConfig(vocab_size=50, embed_dim=32, num_layers=4, num_heads=4,
                  mlp_dim=48, window=8)


def _peer():
  torch.manual_seed(0)
  config = transformers.ModernBertConfig(
      vocab_size=CFG.vocab_size, hidden_size=CFG.embed_dim,
      intermediate_size=CFG.mlp_dim, num_hidden_layers=CFG.num_layers,
      num_attention_heads=CFG.num_heads, local_attention=CFG.window,
      pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1,
      sep_token_id=2, attn_implementation="eager")
  model = transformers.ModernBertModel(config).eval()
  with torch.no_grad():  # random norm scales, so they are exercised too
    for name, p in model.named_parameters():
      if "norm" in name:
        p.copy_(1 + 0.1 * torch.randn_like(p))
  return model


def _ours_from(peer) -> dict:
  w = {k: v.detach().numpy() for k, v in peer.state_dict().items()}
  h, d = CFG.num_heads, CFG.embed_dim // CFG.num_heads
  params = {("embedding", "embedding"): w["embeddings.tok_embeddings.weight"],
            ("embedding_norm", "scale"): w["embeddings.norm.weight"],
            ("final_norm", "scale"): w["final_norm.weight"]}
  for i in range(CFG.num_layers):
    layer, prefix = f"layer_{i}", f"layers.{i}."
    q, k, v = np.split(w[prefix + "attn.Wqkv.weight"], 3)
    for name, m in (("query", q), ("key", k), ("value", v)):
      params[(layer, "attention", name, "kernel")] = m.T.reshape(-1, h, d)
    params[(layer, "attention", "out", "kernel")] = (
        w[prefix + "attn.Wo.weight"].T.reshape(h, d, -1))
    gate, up = np.split(w[prefix + "mlp.Wi.weight"], 2)  # act(first) * second
    params[(layer, "mlp", "gate", "kernel")] = gate.T
    params[(layer, "mlp", "up", "kernel")] = up.T
    params[(layer, "mlp", "down", "kernel")] = w[prefix + "mlp.Wo.weight"].T
    params[(layer, "mlp_norm", "scale")] = w[prefix + "mlp_norm.weight"]
    if i:
      params[(layer, "attention_norm", "scale")] = (
          w[prefix + "attn_norm.weight"])
  return traverse_util.unflatten_dict(
      {key: jnp.asarray(value) for key, value in params.items()})


def test_encoder_equals_modernbert_with_copied_weights():
  peer = _peer()
  params = _ours_from(peer)
  model = Ettin(CFG)
  tokens = np.asarray(jax.random.randint(jax.random.key(1), (2, 21), 3, 50))
  ours = model.apply({"params": params}, jnp.asarray(tokens),
                     method=Ettin.states)
  with torch.no_grad():
    theirs = peer(input_ids=torch.tensor(tokens)).last_hidden_state.numpy()
  np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-4)
