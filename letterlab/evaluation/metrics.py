"""Classification metrics as pure numpy functions."""

from __future__ import annotations

import numpy as np

from letterlab import LETTERS, NUM_CLASSES


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = NUM_CLASSES) -> np.ndarray:
    """counts[true, predicted], int64 (classes, classes); sums to len(labels)."""
    return np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def accuracy(confusion: np.ndarray) -> float:
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def per_class_scores(confusion: np.ndarray, classes=LETTERS) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support for each class, by name (0 where undefined)."""
    true_positive = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(0), confusion.sum(1)
    precision = np.divide(true_positive, predicted, out=np.zeros(len(confusion)), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros(len(confusion)), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(confusion)), where=precision + recall > 0)
    return {
        classes[i]: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(actual[i])}
        for i in range(len(confusion))
    }


def format_confusion(confusion: np.ndarray, classes=LETTERS) -> str:
    """A text table: rows are true classes, columns predicted classes."""
    width = max(5, len(str(confusion.max())) + 1, max(len(name) for name in classes) + 1)
    first = max(9, max(len(name) for name in classes) + 1)
    header = f"{'true' + chr(92) + 'pred':<{first}}" + "".join(f"{name:>{width}}" for name in classes)
    rows = [f"{classes[i]:<{first}}" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(confusion)]
    return "\n".join([header, *rows])
