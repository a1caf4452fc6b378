"""GPT-2 checkpoints (`GPT2LMHeadModel`).

LayerNorm with bias, a learned position table, fused query/key/value
projections, biased GELU MLP, all in `Conv1D` layout ([in, out]); the head
is tied to the token embedding unless `tie_word_embeddings` is false.
Tensor names are read with or without the `transformer.` prefix (Hugging
Face's own files of GPT-2 have none; `save_pretrained` writes it).
"""

import dataclasses

from zoo.errors import CheckpointError
from zoo.layers.mlps.plain import PlainMLP
from zoo.layers.norms.layer import LayerNorm
from zoo.layers.positions.learned import LearnedPositions
from zoo.layers.transformer import BlockOptions
from zoo.lm.decoder import DecoderConfig
from zoo.lm.families import (
  HF_ACTIVATIONS,
  Family,
  Tensor,
  linear_tensors,
  norm_tensors,
)


@dataclasses.dataclass(frozen=True)
class GPT2(Family):
  kind = "gpt2"
  architectures = ("GPT2LMHeadModel",)
  model_type = "gpt2"
  ignored = (r"transformer\.h\.\d+\.attn\.(masked_)?bias",)

  def canonical(self, name):
    if name.startswith(("transformer.", "lm_head.")):
      return name
    return f"transformer.{name}"

  def decoder_config(self, hf, dtype):
    hf.require("scale_attn_weights", True, True)
    hf.require("scale_attn_by_inverse_layer_idx", False, False)
    hf.require("add_cross_attention", False, False)
    width = hf.get("n_embd", kind=int)
    return DecoderConfig(
        vocab_size=hf.get("vocab_size", kind=int), embed_dim=width,
        num_layers=hf.get("n_layer", kind=int),
        num_heads=hf.get("n_head", kind=int),
        mlp_dim=hf.get("n_inner", 4 * width, int), dtype=dtype,
        positions=LearnedPositions(hf.get("n_positions", kind=int)),
        block=BlockOptions(
            norm=LayerNorm(hf.get("layer_norm_epsilon", 1e-5, float)),
            mlp=PlainMLP(hf.activation("activation_function", "gelu_new"),
                         bias=True),
            qkv_bias=True, out_bias=True),
        tied_embeddings=hf.get("tie_word_embeddings", True, bool))

  def hf_config(self, config: DecoderConfig):
    block = config.block
    layout = (block.norm.kind, block.mlp.kind, block.qkv_bias, block.out_bias,
              block.mlp.bias, config.kv_heads == config.num_heads,
              config.head_width in (0, config.embed_dim // config.num_heads))
    if (layout != ("layer", "plain", True, True, True, True, True)
        or config.positions.kind != "learned"):
      raise CheckpointError(
          "a GPT-2 checkpoint has LayerNorm, an ungated MLP, biases "
          "everywhere, learned positions and as many key/value heads as "
          "query heads")
    return {
        "architectures": list(self.architectures),
        "model_type": self.model_type,
        "vocab_size": config.vocab_size,
        "n_embd": config.embed_dim,
        "n_layer": config.num_layers,
        "n_head": config.num_heads,
        "n_inner": config.mlp_dim,
        "n_positions": config.positions.table_size,
        "activation_function": HF_ACTIVATIONS[block.mlp.activation],
        "layer_norm_epsilon": block.norm.eps,
        "tie_word_embeddings": config.tied_embeddings}

  def tensors(self, config):
    out = [Tensor("transformer.wte.weight", (("embedding", "embedding"),),
                  "table"),
           Tensor("transformer.wpe.weight",
                  (("position_embedding", "embedding"),), "table")]
    for i in range(config.num_layers):
      pre, ours = f"transformer.h.{i}", f"block_{i}"
      attention = (ours, "attention")
      out += norm_tensors(f"{pre}.ln_1", (ours, "attention_norm"), config)
      out += linear_tensors(f"{pre}.attn.c_attn",
                            [(*attention, p) for p in ("query", "key",
                                                       "value")],
                            True, "conv1d")
      out += linear_tensors(f"{pre}.attn.c_proj", [(*attention, "out")], True,
                            "conv1d", inputs=2)
      out += norm_tensors(f"{pre}.ln_2", (ours, "mlp_norm"), config)
      out += linear_tensors(f"{pre}.mlp.c_fc", [(ours, "mlp", "up")], True,
                            "conv1d")
      out += linear_tensors(f"{pre}.mlp.c_proj", [(ours, "mlp", "down")],
                            True, "conv1d")
    out += norm_tensors("transformer.ln_f", ("final_norm",), config)
    if not config.tied_embeddings:
      out += linear_tensors("lm_head", [("head",)], False)
    return out
