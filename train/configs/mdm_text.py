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

from train.config import DataConfig, TrainConfig, parse_arg
from train.configs.mdm_lists import mdm_config

VOCAB_SIZE = 2048  # train.data.builders.stdlib_bpe.VOCAB_SIZE


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, seed=0, block_causal=False)
  return mdm_config(
      args, vocab_size=VOCAB_SIZE, embed_dim=128, mlp_dim=384, prompt_len=32,
      max_len=96, block_len=16,
      data=DataConfig(name="stdlib_text_bpe", eval_split="validation",
                      batch_size=8 if args.smoke else 32,
                      eval_batch_size=64),
      learning_rate=3e-3, warmup_steps=50, steps=1000, log_every=50)
