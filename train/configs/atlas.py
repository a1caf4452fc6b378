"""aTLAS on `digits`: Lam for the rot90+invert target, from four domain
task vectors of a digits CNN.

    python -m train --config train/configs/atlas.py --workdir runs/atlas

The task's init trains theta0 (1,000 steps) and the four task vectors (300
steps each). Lam: AdamW 0.1, weight decay 0.1, cosine decay without warmup,
gradient clipping at norm 1, as aTLAS's few-shot script (its weight decay
is its default, [recon]); STEPS steps of batch 128 over the whole train
split through the target domains. `eval/claims/atlas.py` runs the paper's
few-shot setting instead (5 shots per class).

Flags: `isotropic` (Lam [T]), `parts=K` (aTLAS x K), `linearised`,
`seed=N`, `smoke` (5 steps after 5 of each pre-training).
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.interp.atlas import AtlasConfig

STEPS = 500
# Lam's optimizer, shared with the claim check.
OPTIM = OptimConfig(name="adamw", learning_rate=0.1, weight_decay=0.1,
                    schedule="cosine", grad_clip_norm=1.0)


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, isotropic=False, parts=1,
                   linearised=False)
  model = AtlasConfig(
      coefficients="isotropic" if args.isotropic else "anisotropic",
      parts=args.parts, linearised=args.linearised,
      **(dict(pretrain_steps=5, finetune_steps=5) if args.smoke else {}))
  steps = 5 if args.smoke else STEPS
  return TrainConfig(
      system="atlas",
      model=model,
      data=DataConfig(name="digits", batch_size=32 if args.smoke else 128,
                      eval_batch_size=120),
      optim=OPTIM,
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
