"""UniXcoder on the zoo's code LM: pretraining, then MCL, for code search.

    python -m train --config train/configs/unixcoder.py:pretrain \
        --workdir runs/unixcoder_pre       # MLM + ULM + DNS
    python -m train --config train/configs/unixcoder.py --workdir runs/uxc
    python -m train --config train/configs/unixcoder.py:code   # baseline
    python -m eval retrieval --dataset stdlib_code_search \
        --system unixcoder --workdir runs/uxc

The transformer has the "code" target LM's size (4 layers, width 192;
`train.store.lm.load_target("code")`) with 231 more ids (UniXcoder's
specials and the AST markers) and dropout 0.1 (`zoo.retrieval.unixcoder`).
`pretrain` starts from the target and trains MLM, ULM and DNS on the train
split of `stdlib_code_search` (comment + code and comment + flattened AST,
cut at 128 tokens; `train.tasks.unixcoder_pretrain`): batch 16 pairs (32
texts), AdamW lr 1e-3, `PRETRAIN_STEPS` steps. The default (MCL) starts
from that pretrained model, trained once into the cache
(`train.tasks.unixcoder.pretrained_params`; a `--workdir` run of
`pretrain` is the same run), and trains SimCSE over comment + flattened
AST (`code`: comment + code tokens): batch 24 pairs, temperature 0.05,
AdamW lr 5e-4, `MCL_STEPS` steps. These are the claim check's settings
(`eval.claims.unixcoder`).

Args (comma-separated): pretrain, code, seed=N, smoke (the code target's
smoke LM, a few steps; MCL with cross-modal generation and its beam-search
evaluator).
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.configs import lm as lm_configs
from zoo.errors import ConfigError
from zoo.retrieval import unixcoder

# Fixed from the CPU budget before any test number, not tuned: 6-10 s a
# step of 32 texts for either stage on two shared cores (load 8-12);
# pretraining runs once (cached), the claim's two MCL runs and their
# evaluation (about 3 min) fit 15 min.
PRETRAIN_STEPS = 100
PRETRAIN_BATCH = 16
PRETRAIN_LR = 1e-3
MCL_STEPS = 45
MCL_BATCH = 24
MCL_LR = 5e-4
WARMUP = 5


def model_config(smoke: bool = False, form: str = "ast", cmg: bool = False
                 ) -> unixcoder.UniXcoderConfig:
  """The model the claim and `python -m train` use (`cmg`: add CMG)."""
  size = lm_configs.SIZES["smoke" if smoke else "target"]
  lm = dataclasses.replace(size, vocab_size=unixcoder.VOCAB_SIZE,
                           dropout=0.1)
  return unixcoder.UniXcoderConfig(lm=lm, mcl_form=form, smoke_target=smoke,
                                   cmg_weight=1.0 if cmg else 0.0)


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, pretrain=False, code=False, seed=0)
  try:
    model = model_config(args.smoke, "code" if args.code else "ast",
                         cmg=args.smoke and not args.pretrain)
  except ValueError as e:
    raise ConfigError(f"unixcoder.py: {e}") from None
  if args.pretrain:
    steps, batch, lr = PRETRAIN_STEPS, PRETRAIN_BATCH, PRETRAIN_LR
  else:
    steps, batch, lr = MCL_STEPS, MCL_BATCH, MCL_LR
  if args.smoke:
    steps, batch = (3 if args.pretrain else 5), 4
  return TrainConfig(
      system="unixcoder",
      model=model,
      task=("train.tasks.unixcoder_pretrain:TASK" if args.pretrain
            else "train.tasks.unixcoder:TASK"),
      data=DataConfig(name="stdlib_code_search", eval_split="validation",
                      batch_size=batch,
                      eval_batch_size=4 if args.smoke else 64),
      optim=OptimConfig(name="adamw", learning_rate=lr, weight_decay=0.01,
                        warmup_steps=1 if args.smoke else WARMUP,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=1 if args.smoke else 25,
      ckpt_every=steps,
  )
