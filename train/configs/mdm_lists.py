"""A masked-diffusion LM on ParallelBench's list tasks.

    python -m train --config train/configs/mdm_lists.py --workdir runs/mdm

`parallelbench_lists` (10 tasks, 4-8 names) with canvases cut to 40 tokens:
the 16-token prompt and a 24-token answer (at most 9 names, then EOS), in
blocks of 8. A 4-layer, width-96 bidirectional transformer (0.45M
parameters, vocabulary 64), cross-entropy averaged over the masked
positions (see zoo/lm/diffusion.py for why not the 1/t ELBO weighting),
AdamW 2e-3 with warmup and cosine decay, batch 32, 6000 steps (about 3.4
epochs). At 3000 steps of this schedule, greedy one-token-per-step accuracy
on 500 test examples was 0.79 (copy 1.00, shuffle 0.56, reverse 0.60).
`:smoke` trains a 1-layer width-32 model for 20 steps; `:seed=N`;
`:block_causal` trains with the block-causal mask instead (the
prefix-cached sampler is then exact).
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.lm.decoder import DecoderConfig
from zoo.lm.diffusion import DiffusionConfig

VOCAB_SIZE = 64  # train.data.list_tasks.VOCAB_SIZE


def mdm_config(args, *, vocab_size: int, embed_dim: int, mlp_dim: int,
               prompt_len: int, max_len: int, block_len: int,
               data: DataConfig, learning_rate: float, warmup_steps: int,
               steps: int, log_every: int) -> TrainConfig:
  """A 4-layer masked-diffusion LM (1 layer, width 32, 20 steps with
  `args.smoke`); the setting shared by mdm_lists.py and mdm_text.py."""
  if args.smoke:
    decoder = DecoderConfig(vocab_size=vocab_size, embed_dim=32,
                            num_layers=1, num_heads=2, num_kv_heads=2,
                            mlp_dim=64)
    steps, warmup_steps, log_every = 20, 5, 5
  else:
    decoder = DecoderConfig(vocab_size=vocab_size, embed_dim=embed_dim,
                            num_layers=4, num_heads=4, num_kv_heads=4,
                            mlp_dim=mlp_dim)
  model = DiffusionConfig(
      decoder=decoder, prompt_len=prompt_len, max_len=max_len,
      block_len=block_len,
      attention="block_causal" if args.block_causal else "bidirectional")
  return TrainConfig(
      system="parallelbench",
      model=model,
      data=data,
      optim=OptimConfig(name="adamw", learning_rate=learning_rate,
                        weight_decay=0.01, warmup_steps=warmup_steps,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=log_every,
      ckpt_every=steps,
  )


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, seed=0, block_causal=False)
  return mdm_config(
      args, vocab_size=VOCAB_SIZE, embed_dim=96, mlp_dim=256, prompt_len=16,
      max_len=40, block_len=8,
      data=DataConfig(name="parallelbench_lists", eval_split="test",
                      batch_size=16 if args.smoke else 32,
                      eval_batch_size=256),
      learning_rate=2e-3, warmup_steps=100, steps=6000, log_every=200)
