"""Decoding strategies: jit-compiled, static shapes, `lax.while_loop`.

Every strategy takes a model object with `vocab_size`, `init_cache(batch,
capacity)` and `extend(tokens, cache, positions=None, qq_mask=None)` (a
`zoo.lm.decoder.CachedLM` or a `zoo.lm.table.TableLM`) and counts the
model's forward calls, prefill included.
"""

# The reserved ids of `zoo.lm.special_tokens` (a test checks they agree),
# defined here because ops import nothing from zoo. PAD fills empty token
# slots; diffusion decoding reads MASK and EOS.
PAD = 0
EOS_ID = 2
MASK_ID = 3
