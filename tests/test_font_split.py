"""Fonts from the data and font-grouped splits: where each source's font names come from, splits and
k folds that keep every font on one side, font names lent by image to data without them, and the
real notMNIST files' fonts."""

from __future__ import annotations

import base64
import json
import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

import letterlab
from letterlab import LETTERS
from letterlab.cli.main import main
from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.data.fonts import with_fonts_from
from letterlab.data.npz import save_npz
from letterlab.data.registry import load_data
from letterlab.data.split import font_folds, font_split, make_splits, stratified_folds
from letterlab.errors import ConfigError, DataError


def fonted(fonts: int = 30, per_font: int = 10, seed: int = 0) -> LetterImages:
    """`fonts` fonts, each with `per_font` images (labels 0..9 in turn), random pixels; font i is named 'font-i'."""
    rng = np.random.default_rng(seed)
    n = fonts * per_font
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.int64) % 10
    names = np.array([f"font-{i}" for i in np.repeat(np.arange(fonts), per_font)])
    return LetterImages(images, labels, "<fonted>").with_fonts(names, "made by the test")


# --- splitting by font ------------------------------------------------------------------------------

def test_a_font_split_keeps_every_font_on_one_side_and_holds_out_about_the_fraction():
    images = fonted(fonts=50)
    keep, held = font_split(images.fonts, 0.2, seed=3)
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(len(images)))
    assert not set(images.fonts[keep]) & set(images.fonts[held])
    assert len(held) == 100  # 10 of the 50 fonts, 10 images each
    again, other = font_split(images.fonts, 0.2, seed=3)[1], font_split(images.fonts, 0.2, seed=4)[1]
    assert np.array_equal(held, again) and not np.array_equal(held, other)


def test_font_folds_cut_the_fonts_into_folds_of_about_equal_size():
    rng = np.random.default_rng(0)
    fonts = np.repeat([f"f{i}" for i in range(97)], rng.integers(1, 12, size=97))  # fonts of unequal size
    fold = font_folds(fonts, 5, seed=1)
    assert set(fold.tolist()) == set(range(5))
    for name in set(fonts):
        assert len(set(fold[fonts == name].tolist())) == 1  # a font never straddles two folds
    sizes = np.bincount(fold)
    assert sizes.max() - sizes.min() <= 2 * 11  # within two fonts' worth of images of each other


def test_stratified_folds_deal_every_class_out_evenly():
    labels = np.arange(103) % 10
    fold = stratified_folds(labels, 5, seed=0)
    for label in range(10):
        counts = np.bincount(fold[labels == label], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_make_splits_by_font_for_validation_and_test_parts():
    data = LoadedData(fonted(fonts=60))
    splits = make_splits(data, 0.2, 0.2, seed=0, val_split="font", test_split="font")
    parts = [set(p.fonts.tolist()) for p in (splits.train, splits.val, splits.test)]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert (len(splits.test), len(splits.val), len(splits.train)) == (120, 100, 380)
    assert splits.train.font_source == "made by the test"


def test_k_folds_partition_the_pool_and_each_fold_is_validation_once():
    data = LoadedData(fonted(fonts=40), fonted(fonts=5, seed=1))
    vals = [make_splits(data, seed=0, val_split="font", val_folds=4, val_fold=k) for k in range(4)]
    assert all(np.array_equal(v.test.images, data.test.images) for v in vals)  # the source's own test part stays
    held = np.concatenate([v.val.images for v in vals])
    assert len(held) == len(data.train) and len({image.tobytes() for image in held}) == len(data.train)
    for v in vals:
        assert not set(v.train.fonts.tolist()) & set(v.val.fonts.tolist())
        assert len(v.train) + len(v.val) == len(data.train)
    by_image = make_splits(data, seed=0, val_folds=4, val_fold=2)  # val_split "random": stratified by class
    assert np.bincount(by_image.val.labels).tolist() == [10] * 10


def test_a_font_split_of_data_without_fonts_says_how_to_name_them(make_letters):
    with pytest.raises(DataError, match='val_split = "font" needs each image\'s font.*fonts_from'):
        make_splits(LoadedData(make_letters(100)), val_split="font")


@pytest.mark.parametrize("train, message", [
    ({"val_folds": 1}, "val_folds must be 0"),
    ({"val_folds": 5, "val_fold": 5}, "val_fold must be in 0..val_folds - 1"),
    ({"val_fold": 1}, "val_fold must be in"),
    ({"val_split": "fonts"}, "'fonts' is not one of"),
])
def test_bad_split_settings_are_refused(train, message):
    with pytest.raises(ConfigError, match=message):
        letterlab.config("mlp-tanh-50", train=train)


# --- where the font names come from -----------------------------------------------------------------

def test_npz_font_arrays_are_read_written_and_checked(tmp_path):
    images = fonted(fonts=4)
    save_npz(tmp_path / "f.npz", images, fonted(fonts=2, seed=1))
    loaded = load_data(tmp_path / "f.npz")
    assert np.array_equal(loaded.train.fonts, images.fonts) and loaded.test.fonts[0] == "font-0"
    assert loaded.train.font_source == "the archive's font array"
    np.savez(tmp_path / "bad.npz", images=images.images, labels=images.labels, font=np.arange(3))
    with pytest.raises(DataError, match="bad.npz: font names must be 40 strings"):
        load_data(tmp_path / "bad.npz")


def _png_tree(root, names):
    for index, name in enumerate(names):
        folder = root / LETTERS[index % 10]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((28, 28), index, dtype=np.uint8)).save(folder / f"{name}.png")


def test_notmnist_file_names_name_the_fonts_in_folders_and_tar_archives(tmp_path):
    fonts = ["Crossover BoldOblique.ttf", "04b_08.ttf", "Ärger Sans.otf"]
    stems = [base64.b64encode(fonts[i % 3].encode()).decode() for i in range(10)]
    _png_tree(tmp_path / "src" / "notMNIST_small", stems)
    with tarfile.open(tmp_path / "letters.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "notMNIST_small", arcname="notMNIST_small")
    for source in (tmp_path / "src", tmp_path / "letters.tar.gz", tmp_path / "letters.tar.gz"):  # the last one from the cache
        train = load_data(source).train
        assert sorted(set(train.fonts.tolist())) == sorted(fonts)
        assert "base64" in train.font_source
        by_pixel = {int(image[0, 0]): font for image, font in zip(train.images, train.fonts)}
        assert all(by_pixel[i] == fonts[i % 3] for i in range(10))


def test_other_file_names_name_no_fonts(tmp_path):
    _png_tree(tmp_path / "plain", [f"img{i:02d}" for i in range(10)])
    assert load_data(tmp_path / "plain").train.fonts is None


def test_fonts_are_lent_by_image_to_data_without_them(tmp_path):
    reference = fonted(fonts=20)
    course = {"data": reference.images[:150], "labels": np.eye(10, dtype=np.float32)[reference.labels[:150]]}
    extra = np.full((1, 28, 28), 7, dtype=np.uint8)  # an image the reference does not have
    (tmp_path / "train.data").write_bytes(pickle.dumps({"data": np.concatenate([course["data"], extra]),
                                                        "labels": np.concatenate([course["labels"], np.eye(10, dtype=np.float32)[:1]])}))
    (tmp_path / "test.data").write_bytes(pickle.dumps({"data": reference.images[150:], "labels": reference.labels[150:]}))
    save_npz(tmp_path / "fonts.npz", reference)
    matched = with_fonts_from(load_data(tmp_path), load_data(tmp_path / "fonts.npz"))
    assert np.array_equal(matched.train.fonts[:150], reference.fonts[:150])
    assert matched.train.fonts[150] == "(unmatched image 150)"
    assert np.array_equal(matched.test.fonts, reference.fonts[150:])
    assert "(150 of 151 images found)" in matched.train.font_source and str(tmp_path / "fonts.npz") in matched.train.font_source
    with pytest.raises(DataError, match="names no fonts"):
        with_fonts_from(load_data(tmp_path), load_data(tmp_path))


def test_a_font_grouped_run_records_its_fonts_and_the_command_takes_the_options(tmp_path, letters_npz):
    data = letters_npz(0)  # rendered letters; the archive names each image's font
    run = letterlab.train("mlp-tanh-50", data=data, out=tmp_path / "run", epochs=1, train={"val_split": "font", "test_split": "font"},
                          progress=False)
    fonts = json.loads((run.path / "environment.json").read_text())["data"]["fonts"]
    assert fonts["source"] == "the archive's font array" and fonts["fonts_in_train_and_val"] == 0
    assert sum(fonts["fonts"].values()) == 23  # matplotlib's 23 fonts, each in one part
    assert letterlab.load_run(run.path).data().fonts is not None
    toml = tmp_path / "folds.toml"
    toml.write_text('preset = "mlp-tanh-50"\n[train]\nepochs = 1\nval_split = "font"\nval_folds = 3\nval_fold = 2\n')
    assert main(["train", "--config", str(toml), "--data", str(data), "--out", str(tmp_path / "fold2"), "--no-progress"]) == 0
    fold = json.loads((tmp_path / "fold2" / "environment.json").read_text())["data"]
    assert fold["fonts"]["fonts_in_train_and_val"] == 0 and 0 < fold["val"] < fold["train"]


# --- the real notMNIST files ------------------------------------------------------------------------

def test_real_course_files_get_their_fonts_from_the_npz_and_share_none(notmnist_dir):
    matched = with_fonts_from(load_data(notmnist_dir / "course"), load_data(notmnist_dir / "notmnist_small.npz"))
    assert "(14,575 of 14,575 images found)" in matched.train.font_source
    assert "(3,655 of 3,655 images found)" in matched.test.font_source
    train, test = set(matched.train.fonts.tolist()), set(matched.test.fonts.tolist())
    assert (len(train), len(test), len(train & test)) == (1498, 374, 0)  # the course split is by font
    tar = load_data(notmnist_dir / "notMNIST_small.tar.gz").train
    assert len(set(tar.fonts.tolist())) == 1873 and "01-01-00.ttf" in set(tar.fonts.tolist())
