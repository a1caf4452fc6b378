"""Decoding reports: speed and faithfulness of each decoding system.

`python -m eval decoding --system NAME` loads a target LM
(`train.store.lm`), takes held-out prompts, and calls the system's report
(its record's `report`, `eval.decoding.<NAME>:report`) as
`report(target, prompts, new_tokens)`, which returns a flat dict of
metrics (tokens/s, target forwards per token, mean accepted length,
equals_greedy, ...). The target's held-out loss and greedy repeated-4-gram
rate are printed beside every number: a speed claim on a target that loops
(rate > 0.5) is not evidence.
"""
