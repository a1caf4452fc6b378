"""Vision models: text recognizers that read a line image into tokens.

`recognition` holds what the recognizers share (vocabulary, config, visual
encoder, attention layer, sequence loss); `cppd` is the Context Perception
Parallel Decoder (one decoder pass per image) and `ar_decoder` the
autoregressive decoder it is compared with, on the same encoder.
"""
