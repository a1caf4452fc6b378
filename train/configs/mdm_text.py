"""A masked-diffusion LM on stdlib text (BPE, 2048 ids).

    python -m train --config train/configs/mdm_text.py --workdir runs/mdm_text

`stdlib_text_bpe` windows cut to 96 tokens: the first 32 are the prompt
(never masked), the other 64 are masked at a rate t ~ U(0, 1), decoded in
blocks of 16. A 4-layer, width-128 bidirectional transformer, cross-entropy
averaged over the masked positions, AdamW 3e-3 with warmup and cosine
decay, batch 32, 1000 steps. `:smoke` trains a
1-layer width-32 model for 20 steps; `:seed=N`; `:block_causal` as in
mdm_lists.py.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.lm.decoder import DecoderConfig
from zoo.lm.diffusion import DiffusionConfig

VOCAB_SIZE = 2048  # train.data.builders.stdlib_bpe.VOCAB_SIZE


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
      decoder=decoder, prompt_len=32, max_len=96, block_len=16,
      attention="block_causal" if args.block_causal else "bidirectional")
  steps = 20 if args.smoke else 1000
  return TrainConfig(
      system="parallelbench",
      model=model,
      data=DataConfig(name="stdlib_text_bpe", eval_split="validation",
                      batch_size=8 if args.smoke else 32,
                      eval_batch_size=64),
      optim=OptimConfig(name="adamw", learning_rate=3e-3, weight_decay=0.01,
                        warmup_steps=5 if args.smoke else 50,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 50,
      ckpt_every=steps,
  )
