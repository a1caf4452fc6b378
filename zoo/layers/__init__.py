"""Shared transformer blocks: rotary embeddings, attention with a cache, MLP."""
