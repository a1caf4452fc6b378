"""X-Decoder's claims: open-vocabulary (zero-shot) segmentation of
classes never trained on, and referring segmentation from text queries.

The claim is about the mechanism on synthetic data (`shape_scenes`), not
the paper's datasets (COCO, ADE, RefCOCO). Setting (fixed by the issue
before any run): 5 of the 15 (colour, kind) pairs, one per colour
(`train.tasks.open_vocab_segmentation.UNSEEN`: red circle, green square,
blue triangle, yellow circle, white square), are never trained on: of the
3,000 training scenes only those whose every shape is a seen pair are
used (1,395). One model (`xdecoder.py`, seed 0: 1,500 steps of batch 32,
3 decoder layers, 8 + 1 latent queries) is trained on generic
segmentation over the 10 seen names and "background" plus referring
phrases, through the system's task on in-memory arrays
(`eval.claims.in_memory`). On the 500 test scenes
(`train.evaluators.xdecoder`), the class list is all 16 names.

Claims: (1) zero-shot mIoU over the 5 unseen classes >= 0.5x the mIoU
over the 10 seen classes (semantic labels from the last stage, IoU summed
over the test split); (2) referring mIoU (mean per-scene IoU of the last
text query's mask) >= 0.6 on the held-out test scenes whose phrase names a
seen pair (ours: the phrases of unseen pairs belong to claim 1's zero-shot
question; their referring mIoU is printed, not claimed).

Measured (2026-12-06, 2 shared cores at load 10-14; 12.6 min wall, 4.4
min of CPU): claim 1 FAILS, unseen mIoU 0.045 against seen 0.595, ratio
0.076; claim 2 passes, referring mIoU 0.851 (0.657 on the phrases of
unseen pairs, 0.784 over all; background IoU 0.975).
Diagnosis of 1 (a separate run of the same seed and settings, which
reproduced the losses of this one, traced it; nothing was changed
afterwards): (a) the masks do generalise: the best query's mask (logit >
0) covers an unseen shape with IoU 0.829 on average, a seen one 0.821;
what fails is naming them; (b) unseen shapes' pixels get the seen class
of the same colour and another kind (green square -> green circle 90%,
yellow circle -> yellow square 89%, white square -> white circle 90%, red
circle -> red square 60% and red circle 28%), so 5.5% of their pixels are
labelled right against 85% for seen classes, and the seen classes' IoU
falls too, from those false positives; (c) the class-name embeddings of
unseen names sit next to the seen name of the same colour (cosine of
"red circle" to "red square" 0.935, "yellow circle" to "yellow square"
0.895): the text encoder has seen 10 names and 10 phrases, two per
colour, so the closed-set cross-entropy is solved by colour plus a
within-colour distinction, and nothing makes an untrained (colour, kind)
combination's [EOS] state carry its kind. X-Decoder's open vocabulary
rests on a CLIP-style text encoder pre-trained on millions of image-text
pairs, which brings that compositional structure; a text encoder trained
from scratch on 11 names does not have it. The referring branch does
better on unseen phrases (0.657), since its text queries look at the
pixels themselves rather than being matched by cosine. We report the
values as measured; settings and thresholds were not changed after the
run.
"""

import sys

import numpy as np

from eval.claims import in_memory, measured
from train import config as config_lib
from train.data.builders import shape_scenes
from train.evaluators import xdecoder as evaluator
from train.tasks import open_vocab_segmentation as task

EVAL_BATCH = 100


def scenes(indices) -> dict[str, np.ndarray]:
  """The task's features of `shape_scenes` scenes `indices`, stacked."""
  drawn = [shape_scenes.generate(i) for i in indices]
  return {f: np.stack([s[f] for s in drawn]) for f in task.TASK.features}


def seen_only(examples, class_names) -> dict[str, np.ndarray]:
  """The examples whose every segment's class is in class_names."""
  keep = task.in_vocabulary(task.segment_classes(
      examples["category"], examples["area"]), class_names)
  return {k: v[keep] for k, v in examples.items()}


def test_batches(examples):
  n = len(examples["image"])
  for start in range(0, n, EVAL_BATCH):
    batch = task.prepare({k: v[start:start + EVAL_BATCH]
                          for k, v in examples.items()})
    yield {**batch, "mask": np.ones(len(batch["image"]), bool)}


def check():
  cfg = config_lib.load_config("xdecoder.py:seed=0")
  train = seen_only(scenes(range(shape_scenes.NUM_TRAIN)),
                    cfg.model.class_names)
  print(f"xdecoder: {len(train['image'])} training scenes without an "
        "unseen pair", file=sys.stderr)
  model, variables = in_memory.train(cfg, task.TASK, train)
  metrics = evaluator.evaluate(model, variables, test_batches(scenes(range(
      shape_scenes.NUM_TRAIN, shape_scenes.NUM_SCENES))))
  print(f"xdecoder test metrics: {metrics}", file=sys.stderr)
  return [
      measured("xdecoder",
               "zero-shot mIoU on 5 unseen (colour, kind) pairs >= 0.5x the "
               "seen pairs' mIoU (shape_scenes test)",
               "miou_ratio unseen / seen", metrics["zero_shot_ratio"],
               metrics["miou_seen"], 0.5),
      measured("xdecoder",
               "referring mIoU >= 0.6 on held-out scenes (phrases of seen "
               "pairs, shape_scenes test)",
               "referring_miou", metrics["referring_miou_seen"], None, 0.6),
  ]
