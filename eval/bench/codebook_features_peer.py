"""Codebook layer fwd+bwd time: the zoo's JAX layer vs the official PyTorch
one (taufeeque9/codebook-features 0.1.2, `GroupCodebookLayer` with
`InnerProductSnapFunction`, loss "aeloss").

The official package cannot be installed here without replacing half the
environment (it pins transformer-lens 1.7.0, which pulls torch's CUDA
stack, triton 2.1, streamlit, wandb ...). Its layer needs none of that: this
script loads the wheel's own `codebook_features/models.py` (unpacked from
`pip download --no-deps codebook-features==0.1.2`) with empty stand-ins for
the modules it imports but the layer does not use (transformer_lens's
HookPoint becomes an identity module), up to its model wrappers. So the
PyTorch numbers are the official code's, not a re-implementation's.

    pip download --no-deps codebook-features==0.1.2 && unzip the wheel into DIR
    python -m eval.bench.codebook_features_peer DIR
"""

import pathlib
import sys
import types

import jax
import torch
from jax import numpy as jnp

from eval.bench.harness import median_ms
from zoo.vq import codebook_features as cf

PEER = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
REPEATS = 20
# (name, batch, tokens, heads, head dim, codes, k)
SHAPES = (
    ("tokfsm attn_preproj", 32, 64, 4, 16, 100, 1),
    ("tokfsm mlp", 32, 64, 1, 64, 100, 1),
    ("LM attn_preproj, K=10k, k=8", 4, 128, 8, 64, 10_000, 8),
)


def load_official():
  """The official layer classes: `codebook_features/models.py` up to its
  model wrappers (which need transformers' and transformer_lens's model
  classes), run verbatim with the imports it does not use stubbed."""
  stubs = {
      "transformer_lens": types.ModuleType("transformer_lens"),
      "transformer_lens.hook_points": types.ModuleType("hook_points"),
  }

  class HookPoint(torch.nn.Module):
    def forward(self, x):
      return x

  stubs["transformer_lens.hook_points"].HookPoint = HookPoint
  package = types.ModuleType("codebook_features")
  package.__path__ = [str(PEER / "codebook_features")]
  stubs["codebook_features"] = package
  for name in ("mod_model_classes", "tl_mods", "utils"):
    stubs[f"codebook_features.{name}"] = types.ModuleType(name)
  sys.modules.update(stubs)
  source = (PEER / "codebook_features" / "models.py").read_text()
  layers = source[:source.index("class CodebookWrapper")]
  models = types.ModuleType("codebook_features.models")
  exec(compile(layers, str(PEER / "codebook_features" / "models.py"),  # noqa: S102
               "exec"), models.__dict__)
  models.BaseSnapFunction.loss = "aeloss"
  return models


def median_time(fn, repeats=REPEATS) -> float:
  """Median seconds of fn() after one warm-up (which compiles)."""
  return median_ms(fn, [()], warmup=1, runs=repeats) / 1e3


def torch_step(models, b, t, h, d, k_codes, k):
  layer = models.GroupCodebookLayer(
      dim=h * d, num_codes=k_codes, key="bench", num_codebooks=h,
      snap_fn=models.InnerProductSnapFunction, kcodes=k)
  layer.train()
  x = torch.randn(b, t, h, d, requires_grad=True)
  upstream = torch.randn(b, t, h, d)

  def step():
    layer.zero_grad()
    x.grad = None
    out = layer(x)
    out.backward(upstream)
  return step


def jax_step(b, t, h, d, k_codes, k):
  cfg = cf.CodebookLayerConfig(num_codes=k_codes, k=k)
  layer = cf.CodebookLayer(cfg, groups=h, dim=d)
  x = jax.random.normal(jax.random.key(0), (b, t, h, d))
  upstream = jax.random.normal(jax.random.key(1), x.shape)
  params = jax.tree.map(jnp.asarray, layer.init(jax.random.key(2), x))

  @jax.jit
  def grads(params, x):
    return jax.grad(lambda p, x_: jnp.sum(upstream * layer.apply(p, x_)),
                    argnums=(0, 1))(params, x)

  return lambda: jax.block_until_ready(grads(params, x))


def main():
  models = load_official()
  print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"jax {jax.__version__} on {jax.devices()[0].platform}")
  print("| shape | PyTorch official (ms) | zoo JAX, jit (ms) | speed-up |")
  print("|---|---|---|---|")
  for name, *shape in SHAPES:
    peer = median_time(torch_step(models, *shape)) * 1e3
    ours = median_time(jax_step(*shape)) * 1e3
    b, t, h, d, k_codes, k = shape
    label = f"{name} [{b},{t},{h},{d}]"
    print(f"| {label} | {peer:.2f} | {ours:.2f} | {peer / ours:.2f}x |")


if __name__ == "__main__":
  main()
