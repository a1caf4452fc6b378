"""Decoding systems: one module per paper, each with its `SYSTEM` record.

The algorithms live in `ops.decoding` (jitted, model-agnostic) and the
models in `zoo.lm`; a module here holds the paper's record (its configs,
claim check and `python -m eval decoding` report) and what is specific to
it: a model (`cppd`), a learned component (`learn2pd`'s filter), or nothing
more than the record when the paper is an `ops.decoding` strategy.
`sampler` decodes a trained diffusion LM with one sampler setting.
"""
