"""Retrieval evaluation: datasets as (queries, corpus, qrels), the claim
checks' helpers on stored token states, and `python -m eval retrieval`.
Rankers and ranking metrics are library code, in `zoo.retrieval`."""
