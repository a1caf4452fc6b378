"""A frame network (VFN or IPA-lite attention) on `peptide_backbones`.

    python -m train --config train/configs/vfn.py --workdir runs/vfn
    python -m train --config train/configs/vfn.py:attention=ipa_lite
    python -m train --config train/configs/vfn.py:objective=labels

Objective `denoise` (default): recover frames perturbed per residue by a
rotation of |N(0, 0.3)| rad and N(0, 1 Angstrom^2) translations
(`train.tasks.frame_denoise`); `labels`: H/E/C per residue from clean
frames (`train.tasks.frame_labels`). Two blocks, c_s 32, c_z 16, 4 heads;
Adam 1e-3 with a cosine schedule, batch 16. The evaluator reports label
accuracy and CA RMSD before and after denoising on the 60 test chains.

Flags: `attention=vfn|ipa_lite`, `objective=denoise|labels`, `steps=N`,
`seed=N`, `smoke` (10 steps, batch 8, one block). Default: 1500 steps.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.protein.attention import FrameAttentionConfig
from zoo.protein.frame_net import FrameNetConfig

TASKS = {"denoise": "train.tasks.frame_denoise:TASK",
         "labels": "train.tasks.frame_labels:TASK"}
STEPS = 1500


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, attention="vfn",
                   objective="denoise", steps=STEPS)
  if args.objective not in TASKS:
    raise ConfigError(f"vfn.py: objective must be one of {list(TASKS)}, got "
                      f"{args.objective!r}")
  try:
    attention = FrameAttentionConfig.of_kind(args.attention)()
  except ValueError as e:
    raise ConfigError(f"vfn.py: {e}") from None
  steps = 10 if args.smoke else args.steps
  if steps < 1:
    raise ConfigError(f"vfn.py: steps must be >= 1, got {steps}")
  return TrainConfig(
      system="vfn",
      # Smoke: one block, to halve what CI compiles.
      model=FrameNetConfig(attention=attention,
                           num_blocks=1 if args.smoke else 2),
      task=TASKS[args.objective],
      data=DataConfig(name="peptide_backbones",
                      batch_size=8 if args.smoke else 16,
                      eval_batch_size=60),
      optim=OptimConfig(name="adam", learning_rate=1e-3, schedule="cosine",
                        warmup_steps=0 if args.smoke else 50),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=10 if args.smoke else steps,
  )
