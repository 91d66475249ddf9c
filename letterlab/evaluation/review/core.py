"""A person's verdict on a run's mistakes, shared by the terminal and web front ends: the queue of
misclassified images, the answers file in the run folder (written after every answer, so quitting
loses nothing and a second run resumes), and the summary of who the person agreed with."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from letterlab import LETTERS
from letterlab.errors import LetterlabError
from letterlab.evaluation.mistakes import Mistakes
from letterlab.files import write_json_atomic

UNREADABLE = "?"


@dataclass(frozen=True)
class ReviewItem:
    """One misclassified image. `id` = data source + index + image hash, stable across runs of review."""

    id: str
    index: int
    image: np.ndarray  # uint8 (28, 28)
    label: str
    predicted: str
    confidence: float


def image_id(source: str, index: int, image: np.ndarray) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]
    return f"{source}#{index}:{digest}"


def review_items(mistakes: Mistakes, limit: int | None = None) -> list[ReviewItem]:
    """The queue: mistakes most confident first, at most `limit` of them."""
    data = mistakes.data
    chosen = range(len(mistakes.index) if limit is None else min(limit, len(mistakes.index)))
    return [ReviewItem(image_id(data.source, int(mistakes.index[k]), data.images[mistakes.index[k]]), int(mistakes.index[k]),
                       data.images[mistakes.index[k]], data.classes[mistakes.labels[k]], data.classes[mistakes.predicted[k]],
                       float(mistakes.confidence[k])) for k in chosen]


class ReviewSession:
    """The queue plus the answers file. Thread-safe, so the web server may call it from any thread. The
    answers are the class names (`classes`) or '?'; `keyed`: every name is one character, one key each."""

    def __init__(self, items: list[ReviewItem], answers_path: Path, classes=LETTERS):
        self.items = items
        self.classes = tuple(classes)
        self.choices = self.classes + (UNREADABLE,)
        self.keyed = all(len(name) == 1 for name in self.classes)
        self.path = Path(answers_path)
        self.answers = _read_answers(self.path)
        self.skipped: set[str] = set()  # skipped in this session only; they come back next time
        self._lock = threading.Lock()

    def next_item(self) -> ReviewItem | None:
        """The first image neither answered nor skipped, or None when the queue is done."""
        with self._lock:
            return next((it for it in self.items if it.id not in self.answers and it.id not in self.skipped), None)

    def item(self, item_id: str) -> ReviewItem:
        found = next((it for it in self.items if it.id == item_id), None)
        if found is None:
            raise LetterlabError(f"no image {item_id!r} in this review")
        return found

    def answer(self, item_id: str, choice: str) -> None:
        """Record the person's class (a name, `resolve`d) or '?' (unreadable) and save the answers file at once."""
        answer = self.resolve(choice)
        if answer is None:
            shown = ", ".join(self.choices) if len(self.choices) <= 30 else f"{len(self.classes)} class names or ?"
            raise LetterlabError(f"answer must be one of {shown}, got {choice!r}")
        choice = answer
        item = self.item(item_id)
        with self._lock:
            self.answers[item_id] = {"answer": choice, "label": item.label, "predicted": item.predicted,
                                     "confidence": round(item.confidence, 4), "index": item.index}
            write_json_atomic(self.path, {"answers": self.answers})

    def resolve(self, text: str) -> str | None:
        """The answer `text` names: a class name or '?', exactly or else ignoring case when that is unambiguous."""
        text = text.strip()
        if text in self.choices:
            return text
        matches = [choice for choice in self.choices if choice.lower() == text.lower()]
        return matches[0] if len(matches) == 1 else None

    def skip(self, item_id: str) -> None:
        with self._lock:
            self.skipped.add(self.item(item_id).id)

    def progress(self) -> dict:
        with self._lock:
            answered = sum(it.id in self.answers for it in self.items)
        return {"answered": answered, "total": len(self.items)}

    def summary(self) -> dict:
        """Agreement of the person with the label and with the model, over this queue's answered images."""
        with self._lock:
            rows = [self.answers[it.id] | {"id": it.id} for it in self.items if it.id in self.answers]
        return summarize(rows)


def summarize(rows: list[dict]) -> dict:
    """rows: answer records. Agreement rates count only readable answers; label errors are images
    where the person and the model agree against the label."""
    readable = [r for r in rows if r["answer"] != UNREADABLE]
    n = len(readable)
    with_label = sum(r["answer"] == r["label"] for r in readable)
    with_model = sum(r["answer"] == r["predicted"] for r in readable)
    suspects = [{k: r[k] for k in ("id", "index", "label", "predicted", "confidence")}
                for r in readable if r["answer"] == r["predicted"] != r["label"]]
    return {
        "answered": len(rows), "unreadable": len(rows) - n,
        "agree_label": with_label, "agree_model": with_model, "agree_neither": n - with_label - with_model,
        "agree_label_rate": with_label / n if n else None, "agree_model_rate": with_model / n if n else None,
        "likely_label_errors": sorted(suspects, key=lambda r: -r["confidence"]),
    }


def format_summary(summary: dict) -> str:
    def rate(key):
        value = summary[key]
        return "n/a" if value is None else f"{value:.1%}"

    lines = [f"answered {summary['answered']} images ({summary['unreadable']} unreadable)",
             f"agreed with the label: {summary['agree_label']} ({rate('agree_label_rate')} of readable)",
             f"agreed with the model: {summary['agree_model']} ({rate('agree_model_rate')} of readable)",
             f"agreed with neither:   {summary['agree_neither']}"]
    suspects = summary["likely_label_errors"]
    lines.append(f"likely label errors (you and the model agree against the label): {len(suspects)}")
    lines += [f"  image {s['index']}: labelled {s['label']}, you and the model say {s['predicted']} "
              f"(model {s['confidence']:.2f})" for s in suspects]
    return "\n".join(lines)


def _read_answers(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        answers = json.loads(path.read_text())["answers"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise LetterlabError(f"{path}: not a letterlab review answers file ({error}); move it away to start afresh") from None
    if not isinstance(answers, dict):
        raise LetterlabError(f"{path}: 'answers' must be an object keyed by image id")
    return answers
