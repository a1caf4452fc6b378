"""WAVE on `synthetic_fmri`.

    python -m train --config train/configs/fmri_wave.py

Pre-training (in the task's init): 300 steps for the frozen stand-ins, 300
CSM steps on the rest runs. WAVE: 800 steps of batch 64 (about 36 epochs
of the 1,437 training trials), Adam 1e-3 with a cosine decay (ours; the
paper: lr 1e-5, wd 0.03, 50k steps). Eval: retrieval of the image
embedding among the 360 test trials. `:smoke` runs 10 steps after 5 of each
pre-training.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.arch.fmri_wave import FmriWaveConfig

STEPS = 800


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0)
  model = (FmriWaveConfig(standin_steps=5, csm_steps=5) if args.smoke
           else FmriWaveConfig())
  steps = 10 if args.smoke else STEPS
  return TrainConfig(
      system="fmri_wave",
      model=model,
      data=DataConfig(name="synthetic_fmri", batch_size=64,
                      eval_batch_size=120),
      optim=OptimConfig(name="adam", learning_rate=1e-3, schedule="cosine"),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
