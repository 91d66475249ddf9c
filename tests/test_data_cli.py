"""`letterlab data info|convert`: conversions round-trip, never overwrite silently, errors are one line."""

import json

import numpy as np
import pytest

from letterlab.cli import main as cli_main
from letterlab.data.convert import convert, write_data
from letterlab.data.dataset import LoadedData
from letterlab.data.info import data_info
from letterlab.data.npz import save_npz
from letterlab.data.registry import load_data
from letterlab.errors import DataError


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run `letterlab ARGS...` with only the data commands registered; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["letterlab.cli.data_commands"])

    def run(*argv):
        code = cli_main.main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def two_part_npz(tmp_path, make_letters):
    path = tmp_path / "two.npz"
    save_npz(path, make_letters(40, seed=1), make_letters(20, seed=2))
    return path


def as_read_back(to, part):
    """A folder is read back grouped by letter, in file-name (= original) order; other formats keep the order."""
    return part.subset(np.argsort(part.labels, kind="stable")) if to == "folder" else part


def assert_same(first, second):
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)


@pytest.mark.parametrize("to, out", [("course", "c"), ("npz", "d.npz"), ("idx", "i"), ("folder", "f")])
def test_convert_round_trips_train_and_test(tmp_path, two_part_npz, to, out):
    source = load_data(two_part_npz)
    written = convert(two_part_npz, to, tmp_path / out)
    assert all(path.exists() for path in written)
    back = load_data(tmp_path / out)
    assert_same(back.train, as_read_back(to, source.train))
    assert_same(back.test, as_read_back(to, source.test))


def test_course_output_splits_off_a_stratified_test_part(tmp_path, make_letters):
    write_data(LoadedData(make_letters(100)), "course", tmp_path / "c")
    back = load_data(tmp_path / "c")
    assert (len(back.train), len(back.test)) == (80, 20)
    assert np.bincount(back.test.labels).tolist() == [2] * 10


@pytest.mark.parametrize("to, out", [("course", "c"), ("npz", "d.npz"), ("idx", "i"), ("folder", "f")])
def test_existing_output_is_refused_unless_forced(tmp_path, make_letters, to, out):
    write_data(LoadedData(make_letters(30, seed=1)), to, tmp_path / out)
    newer = LoadedData(make_letters(30, seed=2))
    with pytest.raises(DataError, match="use --force"):
        write_data(newer, to, tmp_path / out)
    assert not any(path.name.startswith(".tmp-") for path in tmp_path.rglob("*"))
    write_data(newer, to, tmp_path / out, force=True)
    back = load_data(tmp_path / out)
    assert len(back.train) + (len(back.test) if to == "course" else 0) == 30
    if to != "course":
        assert_same(back.train, as_read_back(to, newer.train))


def test_forced_folder_output_never_replaces_a_folder_with_other_files(tmp_path, make_letters):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "thesis.tex").write_text("precious")
    with pytest.raises(DataError, match="other than PNG"):
        write_data(LoadedData(make_letters()), "folder", tmp_path / "f", force=True)
    assert (tmp_path / "f" / "thesis.tex").read_text() == "precious"


def test_info_counts_duplicates_within_and_between_parts(make_letters):
    train, test = make_letters(30, seed=1), make_letters(10, seed=2)
    train.images[1] = train.images[0]
    test.images[:3] = train.images[5:8]
    summary = data_info(LoadedData(train, test))
    assert summary["parts"]["train"]["duplicates"] == 1
    assert summary["parts"]["test"]["duplicates"] == 0
    assert summary["test_images_also_in_train"] == 3
    assert summary["parts"]["train"]["per_class"]["A"] == 3


def test_cli_info_table_and_json(run_cli, two_part_npz):
    code, out, _ = run_cli("data", "info", two_part_npz)
    assert code == 0 and "duplicates" in out and "test images also in train" in out
    code, out, _ = run_cli("data", "info", two_part_npz, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["parts"]["train"]["images"] == 40 and summary["parts"]["test"]["images"] == 20


def test_cli_convert_then_refuse_then_force(run_cli, two_part_npz, tmp_path):
    code, out, _ = run_cli("data", "convert", two_part_npz, "--to", "idx", "--out", tmp_path / "i")
    assert code == 0 and out.count("wrote ") == 4
    code, _, err = run_cli("data", "convert", two_part_npz, "--to", "idx", "--out", tmp_path / "i")
    assert code == 2 and err.count("\n") == 1 and "already exists; use --force" in err
    code, _, _ = run_cli("data", "convert", two_part_npz, "--to", "idx", "--out", tmp_path / "i", "--force")
    assert code == 0


@pytest.mark.parametrize("name, payload", [("bad.npz", b"junk"), ("bad.data", b""), ("bad.csv", b"1,2"),
                                           ("missing.npz", None)])
def test_cli_bad_input_is_exit_2_and_one_line(run_cli, tmp_path, name, payload):
    path = tmp_path / name
    if payload is not None:
        path.write_bytes(payload)
    for argv in (("data", "info", path), ("data", "convert", path, "--to", "npz", "--out", tmp_path / "o.npz")):
        code, out, err = run_cli(*argv)
        assert code == 2 and out == ""
        assert err.startswith(f"letterlab: error: {path}: ") and err.count("\n") == 1


def test_cli_data_without_subcommand_shows_help(run_cli):
    code, out, _ = run_cli("data")
    assert code == 2 and "info" in out and "convert" in out and "download" in out
