"""ParallelBench (ICLR 2026): the trade-offs of parallel decoding in dLLMs.

The model is `zoo.lm.diffusion.MaskedDiffusionLM` (trained by
`train.tasks.masked_diffusion`, configs `mdm_lists.py` and `mdm_text.py`);
the samplers are `ops.decoding.diffusion.generate` with the unmasking rules
of `ops.decoding.unmask` (`zoo.decoding.sampler`); the benchmark's list
tasks are `train.data.list_tasks`, and its perfect-marginal oracle and the
accuracy-versus-parallelism sweep live in `eval.parallelbench`
(`python -m eval parallelbench`).
"""

from zoo import registry
from zoo.lm import diffusion

SYSTEM = registry.System(
    name="parallelbench",
    family="decoding",
    paper="ParallelBench: Understanding the Trade-offs of Parallel Decoding "
          "in Diffusion LLMs",
    summary="A masked-diffusion LM decoded k tokens per step: accuracy "
            "holds on copy and collapses on shuffle, as the marginals "
            "predict.",
    default_config=diffusion.DiffusionConfig,
    builder=diffusion.build,
    configs=("train.configs.mdm_lists:get_config",
             "train.configs.mdm_text:get_config"),
    task="train.tasks.masked_diffusion:TASK",
    claim="eval.claims.parallelbench:check",
    datasets=("train.data.builders.parallelbench_lists:ParallelbenchLists",),
)
