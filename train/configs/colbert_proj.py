"""ColBERT projection heads on frozen MiniLM states: stdlib code search.

    python -m train --config train/configs/colbert_proj.py --workdir runs/cb
    python -m train --config colbert_proj.py:head=ffn,residual,expansion=2

Trains only the head (all-MiniLM-L6-v2 stays frozen, a two-core CPU budget
choice) on the train split of `stdlib_code_search_minilm` (4,228 pairs, built
once from the stdlib in about five minutes): in-batch contrastive loss over
MaxSim, batch 32, AdamW (lr 1e-3), temperature 0.02, 300 steps (about 2.3
epochs; 40 s for a linear head on two cores), 128-d output. Evaluated by
nDCG@10 of the 521 validation queries against the 521 validation functions,
where the settings were chosen (never on test): for the linear head 0.729
(zero-shot MaxSim: 0.709 at 384-d, 0.663-0.680 through random 128-d
projections); 600 steps 0.730, lr 3e-3 0.718, temperature 0.01 / 0.05 0.726
/ 0.728.

With `finetune`, MiniLM trains too, as in the paper: token ids of
`stdlib_code_search` (code cut at 128 tokens), batch 16, AdamW 3e-5 with 30
warm-up steps, 300 steps: about 10 minutes on two cores, validation nDCG@10
0.736 for the linear head (test 0.774, one seed; the frozen-encoder linear
head: 0.761 over three seeds). The smoke variant uses a tiny random 2-layer
encoder instead of MiniLM.

Args (comma-separated): head=linear|ffn|glu, residual, expansion=F (ffn and
glu width as a multiple of 384), zero_init, finetune, seed=N, smoke (10
steps, batch 8, a 16-d head of width 96).
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.retrieval import minilm
from zoo.retrieval.bert import BertConfig
from zoo.retrieval.colbert import ColBERTConfig
from zoo.retrieval.heads import HeadConfig


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, head="linear", residual=False,
                   expansion=1.0, zero_init=False, finetune=False, seed=0)
  options = {"out_dim": 16 if args.smoke else 128,
             "expansion": 0.25 if args.smoke else args.expansion,
             "residual": args.residual, "zero_init": args.zero_init}
  try:
    kind = HeadConfig.of_kind(args.head)
    takes = {f.name for f in dataclasses.fields(kind)}
    for flag in ("residual", "zero_init"):
      if options[flag] and flag not in takes:
        raise ValueError(f"a {args.head} head takes no {flag}")
    head = kind(**{k: v for k, v in options.items() if k in takes})
  except ValueError as e:
    raise ConfigError(f"colbert_proj.py: {e}") from None
  steps = 10 if args.smoke else 300
  if args.finetune:
    return _finetune_config(head, args, steps)
  return TrainConfig(
      system="colbert_proj",
      model=ColBERTConfig(head=head),
      data=DataConfig(name="stdlib_code_search_minilm", eval_split="validation",
                      batch_size=8 if args.smoke else 32,
                      eval_batch_size=16 if args.smoke else 64),
      optim=OptimConfig(name="adamw", learning_rate=1e-3, weight_decay=1e-4),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 50,
      ckpt_every=steps,
  )


def _finetune_config(head: HeadConfig, args, steps: int) -> TrainConfig:
  """Encoder and head from token ids (see the module docstring)."""
  if args.smoke:
    encoder = BertConfig(hidden=32, layers=2, heads=2, intermediate=64,
                         max_position=256)
  else:
    encoder = BertConfig.from_hf_json(minilm.model_dir() / "config.json")
  return TrainConfig(
      system="colbert_proj",
      model=ColBERTConfig(head=head, input_dim=encoder.hidden,
                          encoder=encoder, pretrained=not args.smoke),
      task="train.tasks.colbert_finetune:TASK",
      data=DataConfig(name="stdlib_code_search", eval_split="validation",
                      batch_size=8 if args.smoke else 16,
                      eval_batch_size=16 if args.smoke else 64),
      optim=OptimConfig(name="adamw", learning_rate=3e-5, weight_decay=1e-4,
                        warmup_steps=0 if args.smoke else 30),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 25,
      ckpt_every=steps,
  )
