"""The Hyperdimensional Probe on `kv_analogies`: the subject LM, then the
probe.

    python -m train --config train/configs/hd_probe.py:stage=lm --workdir L
    python -m train --config train/configs/hd_probe.py:subject=L --workdir P

`stage=lm`: the subject, the zoo's decoder (4 blocks of width 64, 4 heads,
SwiGLU 256; `zoo.interp.hd_probe.SUBJECT`) trained as `decoder_lm` on the
train analogies, next-token loss on every token; AdamW 1e-3 (wd 0.01),
warmup 40, cosine, clipping 1.0, batch 32, 400 steps (6.5 epochs of the
1,960 analogies: a small budget, fixed before any run). `stage=probe` (the
default): the probe (hidden 1,024, D = 1,024, dropout 0.5) on the frozen
subject of `subject=W` (a `stage=lm` workdir) or, by default, the cached
one (`train.store.hd_probe`, trained once); AdamW 1e-3 (the paper's
`lr_find` ceiling), wd 1e-4, warmup 50, cosine, batch 64, 1,500 steps.
`:smoke`: 10 probe steps of a narrow probe (hidden 64, D 256) on a random
subject.

Flags: `stage=lm|probe`, `subject=W`, `seed=N`, `smoke`.
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.store.hd_probe import CACHED
from zoo.errors import ConfigError
from zoo.interp.hd_probe import SUBJECT, HDProbeConfig

# stage -> (system, task, steps, batch, optimizer)
STAGES = {
    "lm": ("decoder_lm", "train.tasks.lm_next_token:TASK", 400, 32,
           OptimConfig(name="adamw", learning_rate=1e-3, weight_decay=0.01,
                       warmup_steps=40, schedule="cosine",
                       grad_clip_norm=1.0)),
    "probe": ("hd_probe", "train.tasks.hd_probe:TASK", 1500, 64,
              OptimConfig(name="adamw", learning_rate=1e-3,
                          weight_decay=1e-4, warmup_steps=50,
                          schedule="cosine")),
}


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, stage="probe", subject="")
  if args.stage not in STAGES:
    raise ConfigError(f"hd_probe.py: stage must be one of {list(STAGES)}, "
                      f"got {args.stage!r}")
  if args.subject and args.stage != "probe":
    raise ConfigError("hd_probe.py: subject= is for stage=probe")
  system, task, steps, batch, optim = STAGES[args.stage]
  if args.stage == "lm":
    model = SUBJECT
  elif args.smoke:
    model = HDProbeConfig(subject_run=args.subject, hidden=64, dim=256)
  else:
    model = HDProbeConfig(subject_run=args.subject or CACHED)
  if args.smoke:
    steps, batch = 10, 16
    optim = dataclasses.replace(optim, warmup_steps=2)
  return TrainConfig(
      system=system,
      model=model,
      task=task,
      data=DataConfig(name="kv_analogies", batch_size=batch,
                      eval_batch_size=490),
      optim=optim,
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
