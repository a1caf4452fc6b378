"""Interpretability systems: capture and steering hooks, sparse autoencoders,
probes, representation matching. One module per paper, each with its
`SYSTEM` record (family "interp"); none is registered yet.
"""
