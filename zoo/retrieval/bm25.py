"""BM25 ranking (rank_bm25's BM25Okapi, k1=1.5, b=0.75) with the tokenizers
that matter: LIMIT's queries end in "?" and its documents separate items with
",", so splitting on whitespace alone loses most matches."""

import re
from collections.abc import Callable, Sequence

import numpy as np
import rank_bm25


def alnum_lower(text: str) -> list[str]:
  return re.findall(r"[a-z0-9]+", text.lower())


def whitespace_lower(text: str) -> list[str]:
  return text.lower().split()


def code_identifiers(text: str) -> list[str]:
  """Identifiers, each whole and split on "_" and camelCase, lower-cased."""
  tokens = []
  for ident in re.findall(r"[A-Za-z0-9_]+", text):
    parts = [p for chunk in ident.split("_") for p in
             re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", chunk)]
    tokens.extend(p.lower() for p in parts)
    if len(parts) != 1:
      tokens.append(ident.lower())
  return tokens


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "alnum_lower": alnum_lower,
    "whitespace_lower": whitespace_lower,
    "code_identifiers": code_identifiers,
}


def scores(queries: Sequence[str], docs: Sequence[str], *, tokenizer: str
           ) -> np.ndarray:
  """BM25 score of every document for every query [Q, N], float64."""
  tokenize = TOKENIZERS[tokenizer]
  index = rank_bm25.BM25Okapi([tokenize(d) for d in docs])
  return np.array([index.get_scores(tokenize(q)) for q in queries],
                  np.float64).reshape(len(queries), len(docs))


def rank(queries: Sequence[str], docs: Sequence[str], *, tokenizer: str,
         depth: int = 100) -> np.ndarray:
  """Indices of the top `depth` documents per query [Q, depth], best first."""
  matrix = scores(queries, docs, tokenizer=tokenizer)
  # Stable order: higher score first, then lower document index.
  order = np.argsort(-matrix, axis=1, kind="stable")
  return order[:, :min(depth, len(docs))]
