"""Evaluation: accuracy, confusion matrices, per-class scores, predictions of a trained run."""
