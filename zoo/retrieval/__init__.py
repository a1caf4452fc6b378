"""Retrieval systems: encoders, heads and indexes for single- and
multi-vector search, and LIMIT's experiments on what single vectors can
represent.

One module per paper (`colbert`, `crisp`, `muvera`, `limit`), each with its
`SYSTEM` record; shared pieces beside them: the BERT encoder and MiniLM
weights (`bert`, `minilm`), rankers and ranking metrics (`rankers`,
`metrics`, `bm25`) and the named baseline rankers (`baselines`).
"""
