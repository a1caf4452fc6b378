"""Vector quantization systems.

`quantizer` is the shared vector quantizer, `codebooks/` its codebook kinds
(one module each; SimVQ's holds its record), `autoencoder` the digits
autoencoder around it (and the VQ-VAE record). A VQ paper is one module
here: its record and its model, or a codebook kind under `codebooks/`.
"""
