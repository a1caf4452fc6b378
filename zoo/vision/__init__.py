"""Vision models shared by systems: text recognizers that read a line image
into tokens.

`recognition` holds what the recognizers share (vocabulary, config, visual
encoder, attention layer, sequence loss); `ar_decoder` is the
autoregressive recognizer that CPPD (`zoo.decoding.cppd`, one decoder pass
per image) is compared with, on the same encoder.
"""
