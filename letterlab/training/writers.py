"""Epoch-end hooks that record a run: the metrics file, the timing file and TensorBoard.

`metrics.jsonl` holds only numbers that follow from config and seed (byte-identical across runs);
wall-clock times go to `timing.jsonl`. These files and the event files only grow; a checkpoint
records their sizes so that a resumed run first cuts them back (`runs.APPEND_ONLY`)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.record_writer import RecordWriter
from torch.utils.tensorboard import SummaryWriter

from letterlab.runs import METRICS, TIMING
from letterlab.training.loop import EpochResult, TrainingState

QUEUE_SIZE = 4096  # events the writer may hold: an epoch's batches without waiting for the disk


def open_writer(run_dir: Path, fast_records: bool = True) -> SummaryWriter:
    """The run's TensorBoard writer, with room in its queue for a whole epoch of batch events, and
    (`fast_records`, the `fast_paths` switch) its records written by `RecordFile`."""
    writer = SummaryWriter(log_dir=str(run_dir), max_queue=QUEUE_SIZE)
    if fast_records:
        write_records_fast(writer)
    return writer


class RecordFile:
    """A fast path for one writer: what TensorBoard's RecordWriter does (without TensorFlow), with
    the same bytes, at about a fifth of the cost, on the writer thread that holds the GIL the
    training loop needs. TensorBoard computes each record's CRC-32C in pure Python (~0.17 us a byte
    here: 25 us a batch event, 12 ms a heat map) and its file object opens and closes the file for
    every record; this takes the checksums from google-crc32c's C function and keeps one buffered
    handle, flushed whenever TensorBoard flushes (a checkpoint flushes before it records sizes)."""

    def __init__(self, path: str, crc32c):
        self.path, self.crc32c, self.handle = path, crc32c, None

    def write(self, data: bytes) -> None:
        if self.handle is None:  # opened by the writer thread, after any record TensorBoard wrote itself
            self.handle = open(self.path, "ab")
        self.handle.write(tf_record(data, self.crc32c))

    def flush(self) -> None:
        if self.handle is not None:
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def write_records_fast(writer: SummaryWriter) -> None:
    """Make `writer`'s record writer a `RecordFile` (this writer only); left as it is when
    google-crc32c is not compiled here or TensorBoard's writer is not built the way this expects."""
    try:
        import google_crc32c
        records = writer.file_writer.event_writer._async_writer._writer
        path = records._writer.filename.decode()
    except (ImportError, AttributeError):
        return
    if google_crc32c.implementation == "c" and type(records) is RecordWriter:
        fast = RecordFile(path, google_crc32c.value)
        records.write, records.flush, records.close = fast.write, fast.flush, fast.close


def tf_record(data: bytes, crc32c) -> bytes:
    """`data` framed as a TFRecord, the event file's format: its length, the length's masked
    CRC-32C, the data, the data's masked CRC-32C."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked(crc32c(length))) + data + struct.pack("<I", _masked(crc32c(data)))


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


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
    """train/loss and train/accuracy every batch; epoch means and validation numbers every epoch.

    Each batch is one event holding both values (half the events of two add_scalar calls), and the
    writer's queue (`QUEUE_SIZE`) holds a whole epoch, so handing events to its disk thread does not
    wait on every call (the default queue of 10 blocked on nearly every event; docs/performance.md).
    No flush here: the writer's thread encodes the events while training goes on, and a run's
    checkpoint thread flushes them before it records the file's size."""

    def __init__(self, writer: SummaryWriter):
        self.writer = writer

    def __call__(self, state: TrainingState, r: EpochResult) -> None:
        events = self.writer.file_writer
        for offset, (loss, accuracy) in enumerate(zip(r.batch_loss.tolist(), r.batch_accuracy.tolist())):
            events.add_summary(Summary(value=[Summary.Value(tag="train/loss", simple_value=loss),
                                              Summary.Value(tag="train/accuracy", simple_value=accuracy)]), r.first_step + offset)
        values = [("train/loss_epoch", r.train_loss), ("train/accuracy_epoch", r.train_accuracy),
                  ("grad/first_layer_mean_abs", r.first_layer_grad)]
        if len(r.val_predictions):  # a run trained without a validation part has no validation numbers
            values += [("val/loss", r.val_loss), ("val/accuracy", r.val_accuracy)]
        events.add_summary(Summary(value=[Summary.Value(tag=tag, simple_value=value) for tag, value in values]), r.epoch)
