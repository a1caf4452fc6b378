"""Vec2Face on `procedural_faces`: the FR network, the yaw regressor, then
the generator.

    python -m train --config train/configs/vec2face.py:stage=fr \
        --workdir runs/v2f_fr
    python -m train --config \
        train/configs/vec2face.py:recognizer=runs/v2f_fr --workdir runs/v2f

`stage=fr`: the ArcFace CNN (s 30, m 0.5, 64-d) learns the 200 training
identities (`train.tasks.face_arcface`), 1,500 steps of batch 64 (24
epochs of the 4,000 images). `stage=yaw`: the yaw regressor
(`train.tasks.yaw_regression`), 600 steps of batch 64. `stage=generator`
(default): the generator reconstructs images from their frozen FR features
under MAGE masking (`train.tasks.vec2face_generation`), 1,200 steps of
batch 32, with the FR network of `recognizer=W` (an FR run's workdir) or,
by default, the cached one (`train.store.faces`, trained once). Adam 1e-3,
cosine decay (generator: 100 warm-up steps). Steps and batches are ours,
sized so the claim's three runs fit 15 minutes of 2 CPU cores. `:smoke`
runs 20 steps of batch 8 with a smaller generator (width 32, one block
each side) and, unless `recognizer=W` is given, a random FR network.

Flags: `stage=fr|yaw|generator`, `recognizer=W`, `steps=N`, `seed=N`,
`smoke`.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.store import faces
from zoo.arch.vec2face import Vec2FaceConfig
from zoo.errors import ConfigError

# stage -> (task, steps, batch size, warm-up steps)
STAGES = {
    "fr": ("train.tasks.face_arcface:TASK", 1500, 64, 0),
    "yaw": ("train.tasks.yaw_regression:TASK", 600, 64, 0),
    "generator": ("train.tasks.vec2face_generation:TASK", 1200, 32, 100),
}
# The smoke runs' generator: one block each side, narrower.
SMOKE = {"embed_dim": 32, "decoder_dim": 32, "encoder_layers": 1,
         "decoder_layers": 1}


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, stage="generator",
                   recognizer="", steps=0)
  if args.stage not in STAGES:
    raise ConfigError(f"vec2face.py: stage must be one of {list(STAGES)}, "
                      f"got {args.stage!r}")
  if args.recognizer and args.stage != "generator":
    raise ConfigError("vec2face.py: recognizer= is for stage=generator")
  recognizer = ""
  if args.stage == "generator":
    recognizer = args.recognizer or ("" if args.smoke else faces.CACHED)
  try:
    model = Vec2FaceConfig(recognizer=recognizer, **(SMOKE if args.smoke
                                                      else {}))
  except ValueError as e:
    raise ConfigError(str(e)) from None
  task, default_steps, batch, warmup = STAGES[args.stage]
  steps = 20 if args.smoke else args.steps or default_steps
  if steps < 1:
    raise ConfigError(f"vec2face.py: steps must be >= 1, got {steps}")
  return TrainConfig(
      system="vec2face",
      model=model,
      task=task,
      data=DataConfig(name="procedural_faces",
                      batch_size=8 if args.smoke else batch,
                      eval_batch_size=100),
      optim=OptimConfig(name="adam", learning_rate=1e-3, schedule="cosine",
                        warmup_steps=min(warmup, steps // 2)),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
