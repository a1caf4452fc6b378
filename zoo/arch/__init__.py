"""Architecture systems: models whose shape is the paper's contribution
(encoder-decoder SLMs, hybrid decoders, perception and science decoders).
One module per paper, each with its `SYSTEM` record (family "arch").
"""
