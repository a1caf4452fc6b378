"""Vector quantization systems."""

from zoo import registry
from zoo.vq import autoencoder
from zoo.vq.quantizer import QuantizerConfig

registry.register(registry.System(
    name="vqvae",
    family="vq",
    paper="Neural Discrete Representation Learning (VQ-VAE)",
    default_config=autoencoder.VQAutoencoderConfig,
    builder=autoencoder.build,
    configs=("vqvae.py",),
    task="vq_autoencoder",
    evaluators=("vq_reconstruction",),
    summary="Classic VQ-VAE baseline: learned or EMA codebook, k-means init, "
            "dead-code restarts, rotation trick.",
))

registry.register(registry.System(
    name="simvq",
    family="vq",
    paper="Addressing Representation Collapse in Vector Quantized Models "
          "with One Linear Layer (SimVQ)",
    default_config=lambda: autoencoder.VQAutoencoderConfig(
        quantizer=QuantizerConfig(codebook="simvq")),
    builder=autoencoder.build,
    configs=("simvq.py",),
    task="vq_autoencoder",
    evaluators=("vq_reconstruction",),
    claim="eval.claims.simvq:check",
    summary="Frozen random codebook seen through one trained linear layer, "
            "so every code moves each step.",
))
