"""Duplicate, leak and near-duplicate finding on hand-made sets, the real notMNIST files, and the CLI."""

import json

import numpy as np
import pytest

from letterlab.cli.main import main
from letterlab.data.check import check_parts, difference_hashes, drop_duplicates, near_pairs
from letterlab.data.dataset import LetterImages
from letterlab.data.npz import load_npz, save_npz
from letterlab.data.registry import load_data


def glyphs(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


@pytest.fixture
def parts():
    a, b, c, d = glyphs(4)
    train = LetterImages(np.stack([a, b, a, c]), np.array([0, 1, 0, 2]))
    test = LetterImages(np.stack([b, c, d]), np.array([1, 3, 4]))  # c carries another label here
    return {"train": train, "test": test}


def test_exact_duplicates_leaks_and_conflicts(parts):
    report = check_parts(parts)
    assert report["parts"]["train"]["duplicate_copies"] == 1 and report["parts"]["train"]["distinct"] == 3
    assert report["parts"]["test"]["duplicate_copies"] == 0
    between = report["between"]["train/test"]
    assert between["test_images_also_in_train"] == 2 and between["with_other_label"] == 1
    assert between["examples"][0] == [{"part": "train", "index": 1, "label": "B"}, {"part": "test", "index": 0, "label": "B"}]
    assert report["conflicting_groups"] == 1 and report["conflicting_images"] == 2


def test_drop_keeps_first_copy_and_drops_conflicting_images(parts):
    clean = drop_duplicates(parts)
    assert np.array_equal(clean["train"].images, parts["train"].images[[0, 1]])
    assert np.array_equal(clean["test"].images, parts["test"].images[[2]]) and clean["test"].labels.tolist() == [4]


def test_near_duplicates_found_and_distinct_images_not():
    base = np.zeros((28, 28), np.uint8)
    base[4:24, 10:18] = 255  # a bar
    shifted_weight = base.copy()
    shifted_weight[4:24, 18] = 60  # one faint column added to the right edge
    other = np.zeros((28, 28), np.uint8)
    other[12:16, 2:26] = 255  # a horizontal bar
    images = np.stack([base, other, shifted_weight])
    assert near_pairs(images).tolist() == [[0, 2]]
    hashes = difference_hashes(images)
    assert hashes.dtype == np.uint64 and hashes[0] != hashes[1]


def test_near_pairs_scale_to_thousands_of_images():
    images = glyphs(6000, seed=1)
    images[5000] = images[17] // 2 * 2  # within one grey level per pixel
    assert [17, 5000] in near_pairs(images).tolist()


def test_real_t10k_against_course_folder(notmnist_dir):
    # PROVENANCE.md: t10k has 9,804 distinct images, all in notMNIST_small; the course folder
    # holds every one except the one with a conflicting label
    course = load_data(notmnist_dir / "course")
    t10k = load_data(notmnist_dir / "t10k-images-idx3-ubyte.gz").train
    report = check_parts({"train": course.train, "test": course.test, "t10k": t10k})
    assert report["parts"]["t10k"]["distinct"] == 9804 and report["parts"]["t10k"]["duplicate_copies"] == 196
    assert report["between"]["train/test"]["test_images_also_in_train"] == 0
    leaked = report["between"]["train/t10k"]["t10k_images_also_in_train"] + report["between"]["test/t10k"]["t10k_images_also_in_test"]
    assert leaked == 9999 and report["conflicting_groups"] == 0


def test_cli_check_json_and_drop(tmp_path, parts, capsys):
    source, out = tmp_path / "set.npz", tmp_path / "clean.npz"
    save_npz(source, parts["train"], parts["test"])
    assert main(["data", "check", str(source), "--near", "--drop-duplicates", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["written"]["train"] == 2 and report["written"]["test"] == 1 and report["near"]["pairs"] == 0
    clean = load_npz(out)
    assert len(clean.train) == 2 and len(clean.test) == 1
    assert main(["data", "check", str(source), "--drop-duplicates", "--out", str(out)]) == 2  # never overwrites
