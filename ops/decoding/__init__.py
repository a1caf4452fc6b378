"""Decoding strategies: jit-compiled, static shapes, `lax.while_loop`.

Every strategy takes a model object with `vocab_size`, `init_cache(batch,
capacity)` and `extend(tokens, cache, positions=None, qq_mask=None)` (a
`zoo.lm.decoder.CachedLM` or a `zoo.lm.table.TableLM`) and counts the
model's forward calls, prefill included.
"""

from jax import numpy as jnp

# The reserved ids of `zoo.lm.special_tokens` (a test checks they agree),
# defined here because ops import nothing from zoo. PAD fills empty token
# slots; diffusion decoding reads MASK and EOS.
PAD = 0
EOS_ID = 2
MASK_ID = 3


def check_prompt(name: str, prompt, max_new_tokens: int) -> None:
  """Raises ValueError, naming `name`, unless prompt is int [B, P] and
  max_new_tokens >= 1."""
  if prompt.ndim != 2 or not jnp.issubdtype(prompt.dtype, jnp.integer):
    raise ValueError(f"{name}: prompt must be int [B, P], got "
                     f"{prompt.dtype}{list(prompt.shape)}")
  if max_new_tokens < 1:
    raise ValueError(f"{name}: max_new_tokens must be >= 1, got "
                     f"{max_new_tokens}")
