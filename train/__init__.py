"""Training: `python -m train`, configs, tasks, data pipelines."""
