"""Loaders for every format, checked against files written here by other routes (Pillow, struct, pickle)."""

import gzip
import io
import logging
import os
import pickle
import struct
import tarfile
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from letterlab import LETTERS
from letterlab.data import folder as folder_module
from letterlab.data.registry import load_data
from letterlab.errors import DataError

RNG = np.random.default_rng(7)
IMAGES = RNG.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
LABELS = np.arange(20, dtype=np.int64) % 10
ONE_HOT = np.eye(10, dtype=np.float32)[LABELS]


def write_png_folder(root, images=IMAGES, labels=LABELS, letter_case=str.upper):
    """root/A/img00.png ... with Pillow; returns the arrays in the loader's order (label, then file name)."""
    for index, (image, label) in enumerate(zip(images, labels)):
        (root / letter_case(LETTERS[label])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / letter_case(LETTERS[label]) / f"img{index:02d}.png")
    order = np.lexsort((np.arange(len(labels)), labels))
    return images[order], labels[order]


def write_idx(path, magic, dims, body):
    payload = struct.pack(f">I{len(dims)}I", magic, *dims) + body
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)


def write_pickle(path, record, protocol=4):
    path.write_bytes(pickle.dumps(record, protocol=protocol))
    return path


# --- formats read correctly -------------------------------------------------------------------------

def test_png_folder_with_unreadable_and_odd_images(tmp_path, caplog):
    images, labels = write_png_folder(tmp_path / "letters")
    (tmp_path / "letters" / "B" / "empty.png").write_bytes(b"")
    good = io.BytesIO()
    Image.fromarray(IMAGES[0]).save(good, format="PNG")
    (tmp_path / "letters" / "C" / "cut.png").write_bytes(good.getvalue()[:40])
    Image.new("RGB", (56, 40), (200, 200, 200)).save(tmp_path / "letters" / "J" / "zz_rgb.png")
    with caplog.at_level(logging.WARNING, logger="letterlab"):
        data = load_data(tmp_path / "letters")
    assert data.test is None and data.train.skipped == 2
    np.testing.assert_array_equal(data.train.images[:-1], images)
    np.testing.assert_array_equal(data.train.labels, np.append(labels, 9))
    assert (data.train.images[-1] == 200).all()
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [f"skipped 2 unreadable images in {tmp_path / 'letters'}"]


def test_parent_folder_lowercase_letters_and_train_test_layout(tmp_path):
    images, labels = write_png_folder(tmp_path / "outer" / "notMNIST_small", letter_case=str.lower)
    data = load_data(tmp_path / "outer")
    np.testing.assert_array_equal(data.train.images, images)
    write_png_folder(tmp_path / "split" / "train")
    write_png_folder(tmp_path / "split" / "test", IMAGES[:10], LABELS[:10])
    split = load_data(tmp_path / "split")
    assert (len(split.train), len(split.test)) == (20, 10)
    assert split.test.source.endswith("test")


def test_tar_gz_read_in_place_then_from_cache(tmp_path, isolated_cache, monkeypatch):
    images, labels = write_png_folder(tmp_path / "src" / "notMNIST_small")
    (tmp_path / "src" / "notMNIST_small" / "A" / "empty.png").write_bytes(b"")
    archive = tmp_path / "archive" / "letters.tgz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "notMNIST_small", arcname="notMNIST_small")
    first = load_data(archive)
    assert os.listdir(archive.parent) == ["letters.tgz"]  # nothing extracted
    np.testing.assert_array_equal(first.train.images, images)
    assert first.train.skipped == 1
    assert [p.suffix for p in isolated_cache.iterdir()] == [".npz"]

    def must_not_decode(path):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(folder_module, "_decode_archive", must_not_decode)
    second = load_data(archive)
    np.testing.assert_array_equal(second.train.images, images)
    assert second.train.skipped == 1


def test_damaged_cache_is_ignored(tmp_path, isolated_cache):
    write_png_folder(tmp_path / "letters")
    load_data(tmp_path / "letters")
    for cached in isolated_cache.iterdir():
        cached.write_bytes(b"garbage")
    assert len(load_data(tmp_path / "letters").train) == 20


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_pair_found_from_either_file(tmp_path, suffix):
    images_path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    labels_path = tmp_path / f"train-labels-idx1-ubyte{suffix}"
    write_idx(images_path, 0x803, (20, 28, 28), IMAGES.tobytes())
    write_idx(labels_path, 0x801, (20,), LABELS.astype(np.uint8).tobytes())
    for given_path in (images_path, labels_path, tmp_path):
        data = load_data(given_path)
        np.testing.assert_array_equal(data.train.images, IMAGES)
        np.testing.assert_array_equal(data.train.labels, LABELS)


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("images, labels", [
    (IMAGES, ONE_HOT),
    (IMAGES.reshape(20, 784) / 255.0, LABELS),
    ((IMAGES / 255.0 - 0.5).astype(np.float32)[..., None], ONE_HOT.astype(np.float64)),
])
def test_course_files_in_every_accepted_layout(tmp_path, protocol, images, labels):
    write_pickle(tmp_path / "train.data", {"data": images, "labels": labels}, protocol)
    write_pickle(tmp_path / "test.data", {"data": IMAGES[:5], "labels": ONE_HOT[:5], "extra": [1, {"a": 2.5}]})
    data = load_data(tmp_path)
    np.testing.assert_array_equal(data.train.images, IMAGES)
    np.testing.assert_array_equal(data.train.labels, LABELS)
    assert len(data.test) == 5
    single = load_data(write_pickle(tmp_path / "one.pkl", {"data": images, "labels": labels}, protocol))
    assert single.test is None and len(single.train) == 20


def test_npz_with_floats_one_hot_and_extra_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", images=IMAGES.astype(np.float32), labels=ONE_HOT, font=np.array(["x"] * 20))
    data = load_data(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.train.images, IMAGES)
    np.testing.assert_array_equal(data.train.labels, LABELS)


# --- malicious and bad input ------------------------------------------------------------------------

class Payload:
    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


@pytest.mark.parametrize("function, name", [(os.system, "posix.system"), (eval, "builtins.eval")])
def test_malicious_pickle_is_refused_without_running(tmp_path, function, name):
    marker = tmp_path / "pwned"
    command = f"touch {marker}" if function is os.system else f"open({str(marker)!r}, 'w')"
    path = write_pickle(tmp_path / "evil.data", {"data": Payload(function, command), "labels": LABELS})
    with pytest.raises(DataError) as caught:
        load_data(path)
    assert str(caught.value) == (f"{path}: refused to unpickle {name}: "
                                 "only numpy arrays, lists, dicts and scalars are allowed")
    assert not marker.exists()


def _bad_inputs(tmp):
    """(path to load, words expected in the message, path the message must name) for each kind of bad input."""
    cases = []

    def add(name, payload, words, load=None, named=None):
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(payload, bytes):
            path.write_bytes(payload)
        else:
            with open(path, "wb") as handle:
                np.savez(handle, **payload)
        load = tmp / load if load else path
        cases.append((load, words, tmp / named if named else load))

    def add_pickle(name, record, words):
        add(name, pickle.dumps(record, protocol=4), words)

    good_png = io.BytesIO()
    Image.fromarray(IMAGES[0]).save(good_png, format="PNG")
    add("cut/A/x.png", good_png.getvalue()[:30], "none of the 1 PNG files could be read", load="cut")
    add("nothing/readme.png", good_png.getvalue(), "no class subfolders", load="nothing")
    add("one/notes/readme.png", good_png.getvalue(), "only one class folder", load="one")
    add("empty.data", b"", "empty")
    add("empty.tar.gz", b"", "not a readable tar.gz")
    add("empty.npz", b"", "not a readable .npz")
    add("magic/train-images-idx3-ubyte", struct.pack(">IIII", 0x801, 1, 28, 28) + bytes(784), "magic")
    add("short/train-images-idx3-ubyte", struct.pack(">IIII", 0x803, 2, 28, 28) + bytes(784), "truncated")
    add("dims/train-images-idx3-ubyte", struct.pack(">IIII", 0x803, 1, 32, 32) + bytes(1024), "28x28")
    add("alone/train-images-idx3-ubyte", struct.pack(">IIII", 0x803, 1, 28, 28) + bytes(784),
        "no such file (the labels file", named="alone/train-labels-idx1-ubyte")
    add("count/train-labels-idx1-ubyte", struct.pack(">II", 0x801, 2) + bytes(2), "2 labels")
    add("count/train-images-idx3-ubyte", struct.pack(">IIII", 0x803, 1, 28, 28) + bytes(784),
        "2 labels but train-images-idx3-ubyte has 1 images", named="count/train-labels-idx1-ubyte")
    add("lengths.npz", {"images": IMAGES, "labels": LABELS[:5]}, "20 images but 5 labels")
    add("range.npz", {"images": IMAGES, "labels": LABELS - 5}, "labels must be 0 or more")
    add("names.npz", {"images": IMAGES, "labels": LABELS, "classes": np.array(["a", "b"])}, "labels must be in 0..1")
    add("shape.npz", {"images": IMAGES[:, :20], "labels": LABELS}, "shape")
    add("nan.npz", {"images": np.full((20, 28, 28), np.nan), "labels": LABELS}, "NaN")
    add("inf.npz", {"images": np.full((20, 28, 28), np.inf), "labels": LABELS}, "inf")
    add("scale.npz", {"images": IMAGES * 3.0, "labels": LABELS}, "[0, 1]")
    add_pickle("onehot.data", {"data": IMAGES, "labels": ONE_HOT * 2}, "one-hot")
    add_pickle("list.data", [IMAGES, LABELS], "expected a pickled dict")
    add_pickle("keys.data", {"data": IMAGES}, "lacks 'labels'")
    add("garbage.pkl", b"\x80\x04not a pickle", "not a readable pickle")
    add("notes.txt", b"hello", "unknown data format")
    cases.append((tmp / "missing.npz", "no such file or folder", tmp / "missing.npz"))
    return cases


def test_every_bad_input_is_one_line_data_error_naming_the_path(tmp_path):
    for load, words, named in _bad_inputs(tmp_path):
        with pytest.raises(DataError) as caught:
            load_data(load)
        message = str(caught.value)
        assert "\n" not in message and words in message, (load, message)
        assert message.startswith(f"{named}: "), (load, message)


# (file the random bytes go to, what to load)
LOADER_TARGETS = [("x.data", "x.data"), ("x.pkl", "x.pkl"), ("x.tar.gz", "x.tar.gz"), ("x.tgz", "x.tgz"),
                  ("x.npz", "x.npz"), ("t-images-idx3-ubyte", "t-images-idx3-ubyte"),
                  ("t-images-idx3-ubyte.gz", "t-images-idx3-ubyte.gz"), ("dir/A/x.png", "dir")]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(LOADER_TARGETS), st.binary(max_size=300))
def test_random_bytes_only_load_or_raise_data_error(target, payload):
    name, load = target
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(payload)
        with open(os.path.join(folder, "t-labels-idx1-ubyte"), "wb") as handle:
            handle.write(payload[::-1])
        try:
            load_data(os.path.join(folder, load))
        except DataError:
            pass


# --- the real notMNIST files --------------------------------------------------------------------------

def test_real_course_idx_npz(notmnist_dir):
    course = load_data(notmnist_dir / "course")
    assert (len(course.train), len(course.test)) == (14575, 3655)
    assert len(load_data(notmnist_dir / "t10k-images-idx3-ubyte.gz").train) == 10000
    assert len(load_data(notmnist_dir / "notmnist_small.npz").train) == 18230


def test_real_tar_gz(notmnist_dir):
    data = load_data(notmnist_dir / "notMNIST_small.tar.gz")
    assert (len(data.train), data.train.skipped) == (18724, 2)
    assert np.bincount(data.train.labels).min() > 1800
