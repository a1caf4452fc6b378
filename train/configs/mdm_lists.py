"""A masked-diffusion LM on ParallelBench's list tasks.

    python -m train --config train/configs/mdm_lists.py --workdir runs/mdm

`parallelbench_lists` (10 tasks, 4-8 names, canvas of a 16-token prompt and
a 32-token answer with EOS padding): a 4-layer, width-128 bidirectional
transformer (0.8M parameters, vocabulary 64), the ELBO-weighted masked loss,
AdamW 2e-3 with warmup and cosine decay, batch 64, 2000 steps.
`:smoke` trains a 1-layer width-32 model for 20 steps; `:seed=N`;
`:block_causal` trains with the block-causal mask instead (the
prefix-cached sampler is then exact).
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.lm.decoder import DecoderConfig
from zoo.lm.diffusion import DiffusionConfig

VOCAB_SIZE = 64  # eval.parallelbench.lists.VOCAB_SIZE


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, seed=0, block_causal=False)
  if args.smoke:
    decoder = DecoderConfig(vocab_size=VOCAB_SIZE, embed_dim=32,
                            num_layers=1, num_heads=2, num_kv_heads=2,
                            mlp_dim=64)
  else:
    decoder = DecoderConfig(vocab_size=VOCAB_SIZE, embed_dim=128,
                            num_layers=4, num_heads=4, num_kv_heads=4,
                            mlp_dim=384)
  model = DiffusionConfig(
      decoder=decoder, prompt_len=16, block_len=8,
      attention="block_causal" if args.block_causal else "bidirectional")
  steps = 20 if args.smoke else 2000
  return TrainConfig(
      system="parallelbench",
      model=model,
      data=DataConfig(name="parallelbench_lists", eval_split="test",
                      batch_size=16 if args.smoke else 64,
                      eval_batch_size=256),
      optim=OptimConfig(name="adamw", learning_rate=2e-3, weight_decay=0.01,
                        warmup_steps=5 if args.smoke else 100,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
