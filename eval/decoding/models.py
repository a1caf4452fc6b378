"""Trained target and draft LMs for the decoding claims and reports.

    target = load_target("text")        # trains once, then loads
    prompts = heldout_prompts(target, num=20, length=64)

Names: "text" (the target, on `stdlib_text`), "text_draft" (a smaller draft
model on the same tokens), "code" and "code_draft" (the same on stdlib
source code). `smoke=True` gives a tiny, quickly trained model of the same
kind for tests. Models are trained with `train.loop.run` into the user
cache (a lock serialises concurrent first calls) and reused afterwards.
"""
