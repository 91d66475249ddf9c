"""Epoch-end hooks that record a run: the metrics file, the timing file and TensorBoard.

`metrics.jsonl` holds only numbers that follow from config and seed (byte-identical across runs);
wall-clock times go to `timing.jsonl`. These files and the event files only grow; a checkpoint
records their sizes so that a resumed run first cuts them back (`APPEND_ONLY`)."""

from __future__ import annotations

import json
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from letterlab.training.loop import EpochResult, TrainingState

METRICS, TIMING = "metrics.jsonl", "timing.jsonl"
APPEND_ONLY = (METRICS, TIMING, "events.out.tfevents.*")


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append(path: Path, record: dict) -> None:
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


class MetricsFile:
    """Appends one JSON line per epoch: epoch numbers and every batch's loss and accuracy."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / METRICS

    def __call__(self, state: TrainingState, r: EpochResult) -> None:
        _append(self.path, {
            "epoch": r.epoch, "first_step": r.first_step, "last_step": state.step,
            "train_loss": r.train_loss, "train_accuracy": r.train_accuracy,
            "val_loss": r.val_loss, "val_accuracy": r.val_accuracy,
            "first_layer_grad": r.first_layer_grad,
            "batch_loss": r.batch_loss.tolist(), "batch_accuracy": r.batch_accuracy.tolist(),
        })


class TimingFile:
    """Appends wall-clock seconds and training images per second for each epoch."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / TIMING

    def __call__(self, state: TrainingState, r: EpochResult) -> None:
        _append(self.path, {"epoch": r.epoch, "seconds": r.seconds, "images_per_second": r.images / r.seconds})


class TensorBoardScalars:
    """train/loss and train/accuracy every batch; epoch means and validation numbers every epoch."""

    def __init__(self, writer: SummaryWriter):
        self.writer = writer

    def __call__(self, state: TrainingState, r: EpochResult) -> None:
        add = self.writer.add_scalar
        for offset, (loss, accuracy) in enumerate(zip(r.batch_loss.tolist(), r.batch_accuracy.tolist())):
            add("train/loss", loss, r.first_step + offset)
            add("train/accuracy", accuracy, r.first_step + offset)
        for tag, value in [("train/loss_epoch", r.train_loss), ("train/accuracy_epoch", r.train_accuracy),
                           ("val/loss", r.val_loss), ("val/accuracy", r.val_accuracy),
                           ("grad/first_layer_mean_abs", r.first_layer_grad)]:
            add(tag, value, r.epoch)
        self.writer.flush()

