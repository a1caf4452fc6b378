"""Retrieval evaluation: datasets as (queries, corpus, qrels), rankers,
ranking metrics, and `python -m eval retrieval`."""
