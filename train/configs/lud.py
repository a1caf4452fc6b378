"""LUD fine-tuning of the trained text LM.

    python -m train --config train/configs/lud.py --workdir runs/lud

Starts from the params of the "text" target of `train.store.lm`
(`lm.py:corpus=text,size=target`, trained once into the user cache; train it
first, e.g. with `load_target("text")`) and fine-tunes it on the same
`stdlib_text_bpe` windows with the `lud` task (units at alpha = 0.9, at most
5 tokens). AdamW 1e-3 with warmup and cosine decay, batch 16, 150 steps.
`:smoke` fine-tunes the smoke target for 10 steps; `:seed=N` changes the
seed. `--set init_from=W` starts from another decoder_lm workdir of the same
size.
"""

import dataclasses

from train import config as config_lib
from train.config import OptimConfig, parse_arg
from train.store import lm as lm_store


def get_config(arg: str = "") -> config_lib.TrainConfig:
  args = parse_arg(arg, smoke=False, seed=0)
  target = config_lib.load_config(
      lm_store.CONFIGS["text"] + (",smoke" if args.smoke else ""))
  steps = 10 if args.smoke else 150
  return dataclasses.replace(
      target,
      system="lud",
      task="",
      init_from=str(lm_store.workdir_for("text", args.smoke)),
      optim=OptimConfig(name="adamw", learning_rate=1e-3, weight_decay=0.01,
                        warmup_steps=2 if args.smoke else 15,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 25,
      ckpt_every=steps,
  )
