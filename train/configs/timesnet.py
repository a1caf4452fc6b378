"""×Net: classifier pre-training on `shape_scenes`, depth on `depth_scenes`.

    python -m train --config train/configs/timesnet.py:stage=classify \
        --workdir runs/timesnet_cls
    python -m train --config \
        train/configs/timesnet.py:pretrained=runs/timesnet_cls \
        --workdir runs/timesnet_depth

`stage=classify`: the 4-stage CNN (16/32/64/128) learns which of the 15
colour-kind classes a scene holds (`train.tasks.scene_classification`),
1,000 steps of batch 32 (about 11 epochs of the 3,000 scenes).
`stage=depth` (default): the full model regresses depth
(`train.tasks.depth_regression`), 600 steps of batch 16; with
`pretrained=W` (a classify run's workdir) the encoder starts from W's
stages, and the decoder too unless `decoder=random`. Without it, every
weight starts random. `mixing=false` turns input mixing off (alpha = 0).
Adam 1e-3 with a cosine decay; steps and batches are ours, sized so the
claim (3 seeds x 3 depth runs) fits 15 minutes of 2 CPU cores. `:smoke`
runs 20 steps of batch 8 (depth from random weights).

Flags: `stage=depth|classify`, `pretrained=W`, `decoder=copy|random`,
`mixing=true|false`, `steps=N`, `seed=N`, `smoke`.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.arch.timesnet import TimesNetConfig
from zoo.errors import ConfigError

# stage -> (dataset, task, steps, batch size)
STAGES = {
    "depth": ("depth_scenes", "train.tasks.depth_regression:TASK", 600, 16),
    "classify": ("shape_scenes", "train.tasks.scene_classification:TASK",
                 1000, 32),
}


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, stage="depth", pretrained="",
                   decoder="copy", mixing=True, steps=0)
  if args.stage not in STAGES:
    raise ConfigError(f"timesnet.py: stage must be one of {list(STAGES)}, "
                      f"got {args.stage!r}")
  if args.stage == "classify" and args.pretrained:
    raise ConfigError("timesnet.py: pretrained= is for stage=depth; the "
                      "classifier starts random")
  try:
    model = TimesNetConfig(pretrained=args.pretrained,
                           decoder_init=args.decoder,
                           input_mixing=args.mixing)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  dataset, task, default_steps, batch = STAGES[args.stage]
  steps = 20 if args.smoke else args.steps or default_steps
  if steps < 1:
    raise ConfigError(f"timesnet.py: steps must be >= 1, got {steps}")
  return TrainConfig(
      system="timesnet",
      model=model,
      task=task,
      data=DataConfig(name=dataset, batch_size=8 if args.smoke else batch,
                      eval_batch_size=100),
      optim=OptimConfig(name="adam", learning_rate=1e-3, schedule="cosine"),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
