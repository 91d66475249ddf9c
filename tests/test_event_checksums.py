"""TensorBoard records written by letterlab.training.writers.RecordFile (checksums in C, one buffered file): the same bytes, read back by TensorBoard."""

import io
import os

import google_crc32c
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.summary.writer.record_writer import RecordWriter

from letterlab.training.writers import open_writer, tf_record


@pytest.mark.parametrize("length", [0, 1, 7, 60, 4096, 40_000])
def test_records_are_framed_byte_for_byte_as_tensorboard_frames_them(length):
    data = os.urandom(length)
    theirs = io.BytesIO()
    RecordWriter(theirs).write(data)
    assert tf_record(data, google_crc32c.value) == theirs.getvalue()


def _record_writer(writer):
    return writer.file_writer.event_writer._async_writer._writer


@pytest.mark.parametrize("fast", [True, False])
def test_tensorboard_reads_back_what_either_writer_wrote(tmp_path, fast):
    writer = open_writer(tmp_path, fast_records=fast)
    assert ("write" in vars(_record_writer(writer))) == fast  # RecordFile only with the fast path
    for step in range(5):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
    writer.add_image("val/confusion", np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8), 4, dataformats="HWC")
    writer.close()
    # TensorBoard's reader checks both checksums of every record and drops what does not match
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "images": 0}).Reload()
    assert [round(e.value, 6) for e in events.Scalars("train/loss")] == [round(1.0 / (s + 1), 6) for s in range(5)]
    assert [e.step for e in events.Images("val/confusion")] == [4]


def _records(path):
    """The records of an event file, each with its framing, split by their length fields."""
    data, records = path.read_bytes(), []
    while data:
        length = int.from_bytes(data[:8], "little")
        records.append(data[:16 + length])
        data = data[16 + length:]
    return records


def test_the_fast_writer_writes_tensorboards_bytes_and_a_flush_puts_them_on_disk(tmp_path):
    files = {}
    for fast in (True, False):
        folder = tmp_path / str(fast)
        writer = open_writer(folder, fast_records=fast)
        for step in range(50):
            writer.add_scalar("train/loss", step / 7, step, walltime=1000.0 + step)
        writer.flush()  # what a checkpoint does before it records the file's size
        (path,) = folder.glob("events.out.tfevents.*")
        flushed = path.stat().st_size
        writer.close()
        assert path.stat().st_size == flushed  # nothing was left in a buffer at the flush
        files[fast] = _records(path)
    assert len(files[True]) == len(files[False]) == 51
    assert files[True][1:] == files[False][1:]  # the first record holds the file's own creation time
