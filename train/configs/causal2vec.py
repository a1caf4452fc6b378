"""Causal2Vec on the zoo's code LM: stdlib code search.

    python -m train --config train/configs/causal2vec.py --workdir runs/c2v
    python -m train --config train/configs/causal2vec.py:baseline  # <eos> only
    python -m eval retrieval --dataset stdlib_code_search \
        --system causal2vec --workdir runs/c2v

Starts from the trained "code" target LM (4 layers, width 192, 2.2M
parameters; `train.store.lm.load_target("code")`, trained once into the
cache) and fine-tunes all of it, with a light bidirectional encoder (2
layers of width 64 on the same BPE, 0.29M parameters with the MLP, 13% of
the LM) that makes the contextual token C (`zoo.retrieval.causal2vec`).
Data: the (query, code) pairs of `stdlib_code_search`'s train split,
queries cut at 32 tokens and code at 96; InfoNCE over cosine scores at
temperature 0.05, in-batch negatives both ways; batch 32, AdamW lr 1e-3
(weight decay 0.01, gradient clip 1) with 10 warm-up steps and cosine decay,
100 steps (0.76 epochs, about 5 minutes on two shared cores): the claim
check's settings (`eval.claims.causal2vec`). `baseline` trains the same LM
without C, pooled at <eos>.

Args (comma-separated): baseline, seed=N, smoke (5 steps, batch 4, the
code target's smoke LM and a width-16 encoder).
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.configs import lm as lm_configs
from zoo.errors import ConfigError
from zoo.retrieval import causal2vec
from zoo.retrieval.bert import BertConfig

# Fixed from the CPU budget (2.8 s a step at batch 32 on two shared cores)
# before any test number; not tuned.
STEPS = 100
BATCH = 32
LEARNING_RATE = 1e-3
WARMUP = 10


def model_config(smoke: bool = False, baseline: bool = False
                 ) -> causal2vec.Causal2VecConfig:
  """The model the claim and `python -m train` use."""
  if smoke:
    cfg = causal2vec.Causal2VecConfig(
        lm=lm_configs.SIZES["smoke"],
        encoder=BertConfig(vocab_size=2048, hidden=16, layers=1, heads=2,
                           intermediate=32,
                           max_position=causal2vec.MAX_TOKENS),
        smoke_target=True)
  else:
    cfg = causal2vec.Causal2VecConfig(lm=lm_configs.SIZES["target"])
  return causal2vec.baseline_config(cfg) if baseline else cfg

def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, baseline=False, seed=0)
  try:
    model = model_config(args.smoke, args.baseline)
  except ValueError as e:
    raise ConfigError(f"causal2vec.py: {e}") from None
  steps = 5 if args.smoke else STEPS
  return TrainConfig(
      system="causal2vec",
      model=model,
      data=DataConfig(name="stdlib_code_search", eval_split="validation",
                      batch_size=4 if args.smoke else BATCH,
                      eval_batch_size=4 if args.smoke else 64),
      optim=OptimConfig(name="adamw", learning_rate=LEARNING_RATE,
                        weight_decay=0.01,
                        warmup_steps=1 if args.smoke else WARMUP,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=1 if args.smoke else 10,
      ckpt_every=steps,
  )
