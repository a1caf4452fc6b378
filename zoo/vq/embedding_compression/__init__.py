"""Embedding-table compression (Zhang et al., VLDB'24), one method per kind.

The benchmark's methods share one interface, `CompressedEmbedding`: ids
[batch, fields] -> vectors [batch, fields, d], with `param_bytes` (what the
trained table stores at inference) and its compression ratio r = full bytes
/ param_bytes. Each method is a plug-in kind of `methods.CompressionConfig`
sized by its `budget` r (a table of at most full / r bytes), selected by
its tag (`--set model.compression=qr --set model.compression.budget=16`).

Built: full, hash, qr, tt_rec, robe, dhe, dpq, mgqe, mde, pep, int (INT8/16)
and alpt. Not built (the artifact's other six): Dedup, AdaptEmb, AutoDim,
OptEmbed, DeepLight and AutoSrh.

`dlrm` holds the DLRM-lite model and the system's record.
"""
