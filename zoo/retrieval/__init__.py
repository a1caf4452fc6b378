"""Retrieval models: encoders for single- and multi-vector search."""
