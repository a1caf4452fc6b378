"""Mistral-SPLADE on the zoo's code LM: stdlib code search.

    python -m train --config train/configs/splade_llm.py --workdir runs/splade
    python -m train --config train/configs/splade_llm.py:echo=false  # baseline
    python -m eval retrieval --dataset stdlib_code_search \
        --system splade_llm --workdir runs/splade

Fine-tunes the whole 2.2M code decoder (`load_target("code")`) into a
SPLADE encoder over its 2,048-token vocabulary (`zoo.retrieval.splade_llm`):
texts echoed (`<bos> x <eos> <bos> x`, copy 2 pooled; `echo=false` feeds
`<bos> x`), at most 96 tokens per copy (queries 48 in training). Data: the
train split of `stdlib_code_search`, in-batch negatives, batch 16, 50 steps;
AdamW lr 1e-3 after 5 warm-up steps, gradient clipping at 1; FLOPS weights
lambda_q = lambda_d = 1e-3 warmed up quadratically over the first third of
the steps (naver/splade warms up over 50k of 150k steps). These are the
claim check's settings, fixed from the CPU budget (an echo step takes about
3.6 s on two shared cores, a plain one 1.9 s) before any test number.

Args (comma-separated): echo=true|false, lambda_q=X, lambda_d=X, steps=N,
seed=N, smoke (5 steps, batch 4, the smoke-sized code LM).
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.configs import lm
from zoo.errors import ConfigError
from zoo.retrieval import splade_llm

STEPS = 50
BATCH = 16
OPTIM = OptimConfig(name="adamw", learning_rate=1e-3, warmup_steps=5,
                    grad_clip_norm=1.0)


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, echo=True, lambda_q=1e-3, lambda_d=1e-3,
                   steps=STEPS, seed=0)
  steps = 5 if args.smoke else args.steps
  try:
    model = splade_llm.SpladeLLMConfig(
        echo=args.echo, lambda_q=args.lambda_q, lambda_d=args.lambda_d,
        flops_warmup=steps // 3)
    if args.smoke:
      model = dataclasses.replace(model, decoder=lm.SIZES["smoke"],
                                  target_smoke=True)
  except ValueError as e:
    raise ConfigError(f"splade_llm.py: {e}") from None
  return TrainConfig(
      system="splade_llm",
      model=model,
      data=DataConfig(name="stdlib_code_search", eval_split="validation",
                      batch_size=4 if args.smoke else BATCH,
                      eval_batch_size=4 if args.smoke else 64),
      optim=OPTIM,
      steps=steps,
      seed=args.seed,
      log_every=1 if args.smoke else 10,
      ckpt_every=steps,
  )
