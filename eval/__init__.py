"""Evaluation: `python -m eval`, evaluators, claim checks and benchmarks.

This package is named `eval`: import from it (`from eval import claims`)
rather than `import eval`, which would shadow the builtin in that module.
"""
