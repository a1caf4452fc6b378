"""Llama checkpoints (`LlamaForCausalLM`): Llama 2 and 3, and others that
share its tensor names.

RMSNorm, rotary positions ("default", "linear" and "llama3" rope types),
grouped-query attention, a SwiGLU MLP, optional attention and MLP biases
(`attention_bias`, `mlp_bias`), a tied or separate head. The rotary layout
is Hugging Face's half-split one, which `zoo.layers.rope` uses too.
"""

import dataclasses

from zoo.errors import CheckpointError
from zoo.layers.mlps.gated import GatedMLP
from zoo.layers.norms.rms import RMSNorm
from zoo.layers.positions import PositionConfig
from zoo.layers.transformer import BlockOptions
from zoo.lm.decoder import DecoderConfig
from zoo.lm.families import (
  HF_ACTIVATIONS,
  Family,
  HFConfig,
  Tensor,
  linear_tensors,
  norm_tensors,
)

# Hugging Face rope types -> position kinds, and field names that differ.
ROPE_TYPES = {"default": "rope", "linear": "rope_linear",
              "llama3": "rope_llama3"}
_ROPE_FIELDS = {"original_max_positions": "original_max_position_embeddings"}


def rope_of(hf: HFConfig) -> tuple[float, PositionConfig]:
  """(rope base, position kind) from `rope_parameters` (transformers 5),
  else `rope_scaling` and `rope_theta` (transformers 4)."""
  params = dict(hf.get("rope_parameters", hf.values.get("rope_scaling") or {},
                       dict))
  base = params.pop("rope_theta", hf.values.get("rope_theta", 10_000.0))
  rope_type = params.pop("rope_type", params.pop("type", "default"))
  if rope_type not in ROPE_TYPES:
    raise CheckpointError(f"{hf.source}: rope type {rope_type!r} is not "
                          f"supported (supported: {', '.join(ROPE_TYPES)})")
  if params.get("partial_rotary_factor", 1.0) != 1.0:
    raise CheckpointError(f"{hf.source}: partial_rotary_factor is not "
                          f"supported (only 1.0)")
  kind = PositionConfig.of_kind(ROPE_TYPES[rope_type])
  params.setdefault("original_max_position_embeddings",
                    hf.values.get("max_position_embeddings"))
  fields = {}
  for field in dataclasses.fields(kind):
    key = _ROPE_FIELDS.get(field.name, field.name)
    if params.get(key) is None:
      raise CheckpointError(f"{hf.source}: rope type {rope_type!r} needs "
                            f"{key!r}")
    fields[field.name] = type(field.default)(params[key])
  return float(base), kind(**fields)


def rope_keys(config: DecoderConfig) -> dict:
  """The config.json keys of `config`'s rotary positions."""
  types = {kind: name for name, kind in ROPE_TYPES.items()}
  if config.positions.kind not in types:
    raise CheckpointError(f"a {config.positions.kind!r} position kind has "
                          f"no Llama rope type")
  scaling = {"rope_type": types[config.positions.kind]}
  for field in dataclasses.fields(config.positions):
    scaling[_ROPE_FIELDS.get(field.name, field.name)] = getattr(
        config.positions, field.name)
  return {"rope_theta": config.rope_base,
          "rope_scaling": None if len(scaling) == 1 else scaling,
          "rope_parameters": {**scaling, "rope_theta": config.rope_base}}


@dataclasses.dataclass(frozen=True)
class Llama(Family):
  kind = "llama"
  architectures = ("LlamaForCausalLM",)
  model_type = "llama"
  ignored = (r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",)

  def biases(self, hf: HFConfig) -> dict[str, bool]:
    """BlockOptions' bias fields."""
    attention = hf.get("attention_bias", False, bool)
    return {"qkv_bias": attention, "out_bias": attention}

  def mlp_bias(self, hf: HFConfig) -> bool:
    return hf.get("mlp_bias", False, bool)

  def bias_keys(self, config: DecoderConfig) -> dict:
    """The config.json keys of `config`'s biases."""
    block = config.block
    if block.qkv_bias != block.out_bias:
      raise CheckpointError("a Llama checkpoint's attention_bias covers the "
                            "query/key/value and output projections alike")
    return {"attention_bias": block.qkv_bias, "mlp_bias": block.mlp.bias}

  def decoder_config(self, hf, dtype):
    hf.require("pretraining_tp", 1, 1)
    heads = hf.get("num_attention_heads", kind=int)
    width = hf.get("hidden_size", kind=int)
    head_dim = hf.get("head_dim", width // heads, int)
    kv_heads = hf.get("num_key_value_heads", heads, int)
    base, positions = rope_of(hf)
    return DecoderConfig(
        vocab_size=hf.get("vocab_size", kind=int), embed_dim=width,
        num_layers=hf.get("num_hidden_layers", kind=int), num_heads=heads,
        num_kv_heads=kv_heads if kv_heads != heads else 0,
        mlp_dim=hf.get("intermediate_size", kind=int), rope_base=base,
        dtype=dtype, head_width=0 if head_dim * heads == width else head_dim,
        positions=positions,
        block=BlockOptions(
            norm=RMSNorm(hf.get("rms_norm_eps", 1e-6, float)),
            mlp=GatedMLP(hf.activation("hidden_act", "silu"),
                         self.mlp_bias(hf)),
            **self.biases(hf)),
        tied_embeddings=hf.get("tie_word_embeddings", False, bool))

  def hf_config(self, config):
    block = config.block
    if (block.norm.kind, block.mlp.kind) != ("rms", "gated"):
      raise CheckpointError(f"a {self.kind} checkpoint has an rms norm and a "
                            f"gated MLP, not {block.norm.kind!r} and "
                            f"{block.mlp.kind!r}")
    return {
        "architectures": list(self.architectures[:1]),
        "model_type": self.model_type,
        "vocab_size": config.vocab_size,
        "hidden_size": config.embed_dim,
        "intermediate_size": config.mlp_dim,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "num_key_value_heads": config.kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": HF_ACTIVATIONS[block.mlp.activation],
        "rms_norm_eps": block.norm.eps,
        "tie_word_embeddings": config.tied_embeddings,
        **self.bias_keys(config), **rope_keys(config)}

  def tensors(self, config):
    block = config.block
    out = [Tensor("model.embed_tokens.weight", (("embedding", "embedding"),),
                  "table")]
    for i in range(config.num_layers):
      pre, ours = f"model.layers.{i}", f"block_{i}"
      out += norm_tensors(f"{pre}.input_layernorm", (ours, "attention_norm"),
                          config)
      for name, param in (("q", "query"), ("k", "key"), ("v", "value")):
        out += linear_tensors(f"{pre}.self_attn.{name}_proj",
                              [(ours, "attention", param)], block.qkv_bias)
      out += linear_tensors(f"{pre}.self_attn.o_proj",
                            [(ours, "attention", "out")], block.out_bias,
                            inputs=2)
      out += norm_tensors(f"{pre}.post_attention_layernorm",
                          (ours, "mlp_norm"), config)
      for name in ("gate", "up", "down"):
        out += linear_tensors(f"{pre}.mlp.{name}_proj", [(ours, "mlp", name)],
                              block.mlp.bias)
    out += norm_tensors("model.norm", ("final_norm",), config)
    if not config.tied_embeddings:
      out += linear_tensors("lm_head", [("head",)], False)
    return out
