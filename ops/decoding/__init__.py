"""Decoding strategies: jit-compiled, static shapes, `lax.while_loop`.

Every strategy takes a model object with `vocab_size`, `init_cache(batch,
capacity)` and `extend(tokens, cache, positions=None, qq_mask=None)` (a
`zoo.lm.decoder.CachedLM` or a `zoo.lm.table.TableLM`) and counts the
model's forward calls, prefill included.
"""

# Filler for empty token slots; equal to `zoo.lm.special_tokens.PAD` (a test
# checks it), defined here because ops import nothing from zoo.
PAD = 0
