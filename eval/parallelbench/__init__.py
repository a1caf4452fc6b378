"""ParallelBench at toy scale: list tasks, an ideal model, sampler sweeps.

`python -m eval parallelbench` (see main.py) decodes the list tasks with
every unmasking rule at several parallelism settings, with the perfect-
marginal oracle and with a trained masked-diffusion LM, prints accuracy
against tokens per step and saves the Pareto plot.
"""
