"""SAE detoxification's subject LM on `bad_token_lm`, and its SAEs.

    python -m train --config train/configs/sae_detox.py --workdir L

`stage=lm` (the default): the subject, the zoo's decoder (2 blocks of
width 64, 4 heads, SwiGLU 256; `zoo.interp.sae_detox.subject_config`)
trained on next-token loss over every word. AdamW 3e-3 (wd 0.01), warmup
50, cosine, clipping 1.0, batch 64, `LM_STEPS` steps (about 5 epochs of
the 20,000 train sequences; fixed from the 3-minute budget of a subject
LM before any claim was run).

`stage=sae`: a TopK SAE (k = 16) on the subject's "block_0/resid_post"
activations, width 512 (`zoo.interp.sae_detox.NARROW`) or, with `wide`,
2,048 (`WIDE`). Adam 1e-3, constant (ours, as top_afa's toy SAEs), batch
1,024, `SAE_STEPS` steps (about 3 epochs of the 640k train activations).
The shared loop reads them from `bad_token_activations` (the cached
subject's residual, trained on first use); the claim check trains the same
SAEs in memory on activations it collects (eval/claims/sae_detox.py).

`:smoke`: 10 steps of a 1-block width-16 subject (or a width-64 SAE over
16-d activations).

Flags: `stage=lm|sae`, `wide`, `seed=N`, `smoke`.
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.data.builders import bad_token_lm
from zoo.errors import ConfigError
from zoo.interp.sae_detox import NARROW, WIDE, subject_config

LM_STEPS = 1500
SAE_STEPS = 2000
SUBJECT = subject_config(bad_token_lm.RECIPE.vocab_size)
SMOKE_SUBJECT = dataclasses.replace(SUBJECT, embed_dim=16, num_layers=1,
                                    num_heads=2, mlp_dim=32)
SMOKE_SAE = dataclasses.replace(NARROW, d_in=16, width=64, k=4, aux_k=8)


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, stage="lm", wide=False)
  if args.stage not in ("lm", "sae"):
    raise ConfigError(f"sae_detox.py: stage must be lm or sae, got "
                      f"{args.stage!r}")
  if args.wide and args.stage != "sae":
    raise ConfigError("sae_detox.py: wide is for stage=sae")
  if args.stage == "lm":
    model = SMOKE_SUBJECT if args.smoke else SUBJECT
    task = "train.tasks.lm_next_token:TASK"
    data = DataConfig(name="bad_token_lm", eval_split="test",
                      batch_size=64, eval_batch_size=500)
    optim = OptimConfig(name="adamw", learning_rate=3e-3, weight_decay=0.01,
                        warmup_steps=2 if args.smoke else 50,
                        schedule="cosine", grad_clip_norm=1.0)
    steps = LM_STEPS
  else:
    model = SMOKE_SAE if args.smoke else (WIDE if args.wide else NARROW)
    task = "train.tasks.sae:TASK"
    data = DataConfig(name="bad_token_activations", batch_size=1024,
                      eval_batch_size=1024)
    optim = OptimConfig(name="adam", learning_rate=1e-3)
    steps = SAE_STEPS
  steps = 10 if args.smoke else steps
  return TrainConfig(
      system="sae_detox",
      model=model,
      task=task,
      data=data,
      optim=optim,
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 250,
      ckpt_every=steps,
  )
