"""Observable Propagation's subject LM on `pronoun_templates`.

    python -m train --config train/configs/obsprop.py

A 2-layer attention-only `DecoderLM` (width 64, 4 heads of 16, RoPE,
RMSNorm, tied head; `zoo.interp.obsprop.subject_config`) scored only on
the pronoun. AdamW 3e-3, warmup 50, cosine, clipping 1.0, batch 64,
`STEPS` steps (fixed from the 3-minute budget of a subject LM, before any
claim was run). `:smoke`: 10 steps of a 1-layer width-16 model.
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.data.builders import pronoun_templates
from zoo.interp.obsprop import subject_config

STEPS = 1500
SUBJECT = dataclasses.replace(
    subject_config(), vocab_size=pronoun_templates.RECIPE.vocab_size)
SMOKE = dataclasses.replace(SUBJECT, embed_dim=16, num_layers=1,
                            num_heads=2)


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0)
  return TrainConfig(
      system="obsprop",
      model=SMOKE if args.smoke else SUBJECT,
      data=DataConfig(name="pronoun_templates", eval_split="test",
                      batch_size=64, eval_batch_size=500),
      optim=OptimConfig(name="adamw", learning_rate=3e-3, weight_decay=0.01,
                        warmup_steps=2 if args.smoke else 50,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=10 if args.smoke else STEPS,
      seed=args.seed,
      log_every=5 if args.smoke else 250,
      ckpt_every=10 if args.smoke else STEPS,
  )
