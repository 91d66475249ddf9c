"""Tests for the embedded default data set (rendered from local fonts)."""

import re
from pathlib import Path

import numpy as np
import pytest

from letterlab import NUM_CLASSES
from letterlab.data import embedded
from letterlab.data.embedded import available_fonts, load_embedded
from letterlab.errors import ConfigError


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("LETTERLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_shapes_dtypes_balanced_labels():
    data = load_embedded(seed=0, per_class=30)
    images, labels = data.train.images, data.train.labels
    assert data.test is None
    assert images.shape == (30 * NUM_CLASSES, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=NUM_CLASSES).tolist() == [30] * NUM_CLASSES
    assert not (np.diff(labels[:30]) == 0).all()  # shuffled, not grouped by class
    match = re.fullmatch(r"embedded default \((\d+) fonts, seed 0\)", data.train.source)
    assert match and int(match.group(1)) == len(available_fonts())


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path, monkeypatch):
    first = load_embedded(seed=3, per_class=20).train
    monkeypatch.setenv("LETTERLAB_CACHE", str(tmp_path / "other"))  # force a fresh generation
    again = load_embedded(seed=3, per_class=20).train
    assert first.images.tobytes() == again.images.tobytes()
    assert first.labels.tobytes() == again.labels.tobytes()
    other = load_embedded(seed=4, per_class=20).train
    assert other.images.tobytes() != first.images.tobytes()


def test_cache_file_is_written_atomically_and_read(cache_in_tmp):
    first = load_embedded(seed=1, per_class=10).train
    files = list(cache_in_tmp.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no temp file left behind
    assert "seed1" in files[0].name and "n10" in files[0].name
    again = load_embedded(seed=1, per_class=10).train
    assert np.array_equal(first.images, again.images) and np.array_equal(first.labels, again.labels)
    # Replace the stored images: the next call must return what the file holds.
    with np.load(files[0], allow_pickle=False) as stored:
        kept = {name: stored[name] for name in stored.files if name != "images"}
    np.savez(files[0], images=255 - first.images, **kept)
    assert np.array_equal(load_embedded(seed=1, per_class=10).train.images, 255 - first.images)


def test_each_image_names_the_font_it_was_rendered_from(cache_in_tmp):
    fresh = load_embedded(seed=1, per_class=30).train
    cached = load_embedded(seed=1, per_class=30).train
    assert fresh.fonts is not None and np.array_equal(fresh.fonts, cached.fonts)
    assert fresh.font_source == "the font file each image was rendered from"
    fonts, counts = np.unique(fresh.fonts, return_counts=True)
    assert len(fonts) == 23 and all(name.endswith(".ttf") for name in fonts)  # matplotlib 3.11's fonts, each used
    assert counts.min() >= 10  # every font renders every letter at least once (30 a letter over 23 fonts)


def test_a_cache_from_before_fonts_were_recorded_is_made_again(cache_in_tmp):
    first = load_embedded(seed=1, per_class=10).train
    (path,) = cache_in_tmp.iterdir()
    with np.load(path, allow_pickle=False) as stored:
        older = {name: stored[name] for name in stored.files if name != "image_fonts"}
    np.savez(path, **older)
    again = load_embedded(seed=1, per_class=10).train
    assert np.array_equal(again.images, first.images) and np.array_equal(again.fonts, first.fonts)


def test_damaged_cache_is_regenerated(cache_in_tmp):
    first = load_embedded(seed=2, per_class=10).train
    (path,) = cache_in_tmp.iterdir()
    path.write_bytes(b"not a zip file")
    assert np.array_equal(load_embedded(seed=2, per_class=10).train.images, first.images)


def test_cache_key_depends_on_fonts_seed_size_and_letters():
    fonts = available_fonts()
    key = embedded._cache_key(fonts, 0, 600, "ABCDEFGHIJ")
    assert key != embedded._cache_key(fonts[:-1], 0, 600, "ABCDEFGHIJ")
    assert key != embedded._cache_key(fonts, 1, 600, "ABCDEFGHIJ")
    assert key != embedded._cache_key(fonts, 0, 599, "ABCDEFGHIJ")
    assert key != embedded._cache_key(fonts, 0, 600, "ABCDEFGHIJK")
    assert f"v{embedded.GENERATOR_VERSION}" in key


def test_images_look_like_cropped_glyphs():
    images = load_embedded(seed=0, per_class=50).train.images
    assert 60 < images.mean() < 160  # real notMNIST: about 106
    assert (images.reshape(len(images), -1).max(axis=1) > 200).all()  # every image has a glyph
    ink = images > 64
    touches_all = ink[:, 0, :].any(1) & ink[:, -1, :].any(1) & ink[:, :, 0].any(1) & ink[:, :, -1].any(1)
    assert touches_all.mean() > 0.9  # cropped to the bounding box and stretched, as notMNIST does
    # anti-aliased: intermediate grey levels are present
    assert ((images > 20) & (images < 235)).mean() > 0.05


def test_classes_are_learnable_by_nearest_centroid():
    data = load_embedded(seed=0, per_class=100).train
    x = data.images.reshape(len(data), -1).astype(np.float64) / 255
    x -= x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-9
    half = len(x) // 2
    centroids = np.stack([x[:half][data.labels[:half] == c].mean(axis=0) for c in range(NUM_CLASSES)])
    predicted = (x[half:] @ centroids.T).argmax(axis=1)
    accuracy = (predicted == data.labels[half:]).mean()
    assert accuracy > 0.5, accuracy  # chance is 0.1


def test_available_fonts_are_real_letter_fonts():
    fonts = available_fonts()
    assert len(fonts) >= 10
    names = [path.name.lower() for path in fonts]
    assert len(set(names)) == len(names)
    assert all(path.is_file() for path in fonts)
    assert not any(part in name for name in names for part in ("cmex", "lastresort", "stixsiz", "display"))


@pytest.mark.parametrize("per_class", [0, -5, 2.5, True])
def test_bad_per_class_is_refused(per_class):
    with pytest.raises(ConfigError):
        load_embedded(per_class=per_class)


# The embedded default's data hash (environment.json's data.sha256 for the default config: seed 0,
# 600 images a letter, the 80/20 split of 80% train) for the pinned matplotlib (its bundled fonts) and
# Pillow (its bundled FreeType renders the glyphs); the same in two fresh venvs when measured.
PINNED_RENDERING = {("3.11.2", "13.0.0"): "f58b3af667c7dfa6d106ea995bbf77c3d9047f43a018fbec83d0094baa439089"}


def test_default_is_rendered_from_matplotlibs_fonts_only_and_its_hash_is_pinned():
    import matplotlib
    import PIL

    from letterlab.data.run_data import load_splits
    from letterlab.run_config import RunConfig

    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    assert all(font.parent == bundled for font in available_fonts())
    versions = (matplotlib.__version__, PIL.__version__)
    if versions not in PINNED_RENDERING:
        pytest.skip(f"the embedded default's hash is pinned for matplotlib/Pillow {list(PINNED_RENDERING)}, not {versions}")
    assert load_splits(RunConfig()).fingerprint() == PINNED_RENDERING[versions]


def test_system_fonts_only_when_asked_and_named_in_the_source():
    asked = embedded.parse_embedded("embedded:system-fonts,letters=A-C")
    assert asked == embedded.EmbeddedOptions(letters="ABC", system_fonts=True)
    assert set(available_fonts()) <= set(available_fonts(asked))
    data = load_embedded(seed=0, per_class=2, options=asked).train
    assert data.classes == ("A", "B", "C") and "system fonts too" in data.source and data.source.startswith("embedded letters A-C")
