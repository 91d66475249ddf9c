"""Errors of a run: mistakes, confused pairs and grids checked on hand-worked cases; the `errors`
and `review` commands end to end on a tiny trained run."""

import json

import numpy as np
import pytest
from PIL import Image

from letterlab.cli.format import fonts_text, pairs_table
from letterlab.cli.main import main
from letterlab.data.dataset import LetterImages
from letterlab.evaluation.metrics import confusion_matrix, per_class_scores
from letterlab.evaluation.mistakes import CELL, confused_pairs, find_mistakes, write_error_report


def one_hot_probs(predicted, confidence):
    """Probabilities (N, 10) whose argmax is `predicted` with the given value; the rest spread evenly."""
    probs = np.repeat(((1 - np.asarray(confidence)) / 9)[:, None], 10, axis=1)
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def letters(labels, fill=None):
    images = np.zeros((len(labels), 28, 28), np.uint8) if fill is None else fill
    return LetterImages(images, np.asarray(labels, dtype=np.int64), "hand")


def test_mistakes_are_the_wrong_ones_most_confident_first_ties_by_index():
    data = letters([0, 1, 2, 3, 4, 4])
    probs = one_hot_probs([0, 2, 2, 5, 5, 9], [0.9, 0.5, 0.8, 0.7, 0.5, 0.95])
    mistakes = find_mistakes(data, probs)
    assert mistakes.index.tolist() == [5, 3, 1, 4]
    assert mistakes.predicted.tolist() == [9, 5, 2, 5]
    assert mistakes.labels.tolist() == [4, 3, 1, 4]
    assert mistakes.confidence == pytest.approx([0.95, 0.7, 0.5, 0.5])
    assert mistakes.rows()[0] == {"index": 5, "true": "E", "predicted": "J", "confidence": 0.95}


def test_confused_pairs_counted_by_hand():
    labels = np.array([4, 4, 4, 4, 5, 5, 1, 1, 1, 0])  # four E, two F, three B, one A
    predicted = np.array([5, 5, 4, 2, 4, 5, 3, 3, 1, 0])  # E->F twice, E->C, F->E, B->D twice
    pairs = confused_pairs(confusion_matrix(labels, predicted))
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [("B", "D", 2), ("E", "F", 2), ("E", "C", 1), ("F", "E", 1)]
    assert pairs[0]["share"] == pytest.approx(2 / 3) and pairs[1]["share"] == 0.5
    assert confused_pairs(confusion_matrix(labels, predicted), top=1) == pairs[:1]
    assert pairs_table([]) == "no mistakes"
    assert "E     F" in pairs_table(pairs)


def test_report_writes_grids_per_pair_and_reuses_per_class_scores(tmp_path):
    labels = [4, 4, 4, 1, 0, 0]
    images = np.zeros((6, 28, 28), np.uint8)
    images[0] = 255  # the most confident mistake: its grid cell must be white
    probs = one_hot_probs([5, 5, 4, 3, 0, 0], [0.99, 0.6, 0.9, 0.7, 0.9, 0.9])
    mistakes = find_mistakes(letters(labels, images), probs)
    report = write_error_report(mistakes, tmp_path / "out")
    assert report["mistakes"] == 3 and report["n"] == 6
    assert [g.rsplit("/", 1)[1] for g in report["grids"]] == ["errors.png", "errors-E-as-F.png", "errors-B-as-D.png"]
    expected = per_class_scores(confusion_matrix(np.array(labels), np.array([5, 5, 4, 3, 0, 0])))
    assert report["per_class"] == expected
    assert json.loads((tmp_path / "out" / "errors.json").read_text())["pairs"] == report["pairs"]
    grid = np.asarray(Image.open(tmp_path / "out" / "errors.png"))
    assert grid.shape == (CELL + 18, 3 * CELL)  # one row of three cells
    assert grid[10:CELL - 10, 10:CELL - 10].min() == 255  # first cell: the white image
    assert grid[10:CELL - 10, CELL + 10:2 * CELL - 10].max() == 0  # second: a black one
    pair = Image.open(tmp_path / "out" / "errors-E-as-F.png")
    assert pair.size == (2 * CELL, CELL + 18)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A one-epoch MLP trained on 300 noise images, so it makes many mistakes."""
    from letterlab.models.presets import preset_dict
    from letterlab.pipeline import train_and_evaluate
    from letterlab.run_config import merge, run_from_dict
    from letterlab.runs import new_run_dir

    root = tmp_path_factory.mktemp("errors")
    rng = np.random.default_rng(0)
    np.savez(root / "noise.npz", images=rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), labels=np.arange(300) % 10)
    config = run_from_dict(merge(preset_dict("mlp-tanh-50"), {"train": {"epochs": 1}, "data": str(root / "noise.npz")}), where="test")
    run_dir = new_run_dir(str(root / "run"), config.preset)
    train_and_evaluate(config, run_dir, "cpu", progress=False)
    return run_dir


def test_errors_command_on_run_split_and_on_data(trained_run, tmp_path, capsys):
    assert main(["errors", str(trained_run), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "misclassified" in printed and "[run test split]" in printed and "most confused pairs" in printed
    report = json.loads((trained_run / "errors" / "errors.json").read_text())
    assert report["n"] == 60 and report["mistakes"] == len(report["errors"]) > 0  # test split: 20% of 300
    assert (trained_run / "errors" / "errors.png").exists()
    assert report["by_font"] is None and "mistakes by font" not in printed  # the noise names no fonts

    assert main(["errors", str(trained_run), "--data", str(trained_run.parent / "noise.npz"), "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 300  # all of a source without a test part
    assert (tmp_path / "errors.png").exists()

    images = np.zeros((5, 28, 28), np.uint8)
    np.savez(tmp_path / "parts.npz", images=images, labels=np.arange(5), test_images=images[:3], test_labels=np.arange(3))
    assert main(["errors", str(trained_run), "--data", str(tmp_path / "parts.npz"), "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"].endswith("(test part)")


def test_errors_command_reports_bad_run_in_one_line(tmp_path, capsys):
    assert main(["errors", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_review_command_saves_answers_and_resumes(trained_run, monkeypatch, capsys):
    import io

    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.setattr("sys.stdin", io.StringIO("a\nz\n?\nq\n"))  # 'z' is not an answer: asked again
    assert main(["review", str(trained_run), "--limit", "3", "--device", "cpu"]) == 0
    answers = json.loads((trained_run / "review.json").read_text())["answers"]
    assert sorted(a["answer"] for a in answers.values()) == ["?", "A"]
    assert "\x1b[38;2;" in capsys.readouterr().out  # 24-bit colour when COLORTERM says so

    monkeypatch.setattr("sys.stdin", io.StringIO("b\n"))  # resumes at the third image; the queue then ends
    assert main(["review", str(trained_run), "--limit", "3", "--device", "cpu"]) == 0
    answers = json.loads((trained_run / "review.json").read_text())["answers"]
    assert sorted(a["answer"] for a in answers.values()) == ["?", "A", "B"]
    assert "answered 3 images (1 unreadable)" in capsys.readouterr().out
    assert main(["review", str(trained_run), "--limit", "0"]) == 2


def test_mistakes_by_font_counted_by_hand():
    fonts = np.array(["b"] * 3 + ["a"] * 5 + ["c"] * 2 + ["d"] * 2 + ["(unmatched image 12)", "(unmatched image 13)"])
    data = letters([0] * 14).with_fonts(fonts, "hand")
    predicted = np.zeros(14, np.int64)
    predicted[[0, 1, 3, 4, 10, 12]] = 1  # b twice, a twice (a tie, a first by name), d once, one unmatched image
    mistakes = find_mistakes(data, one_hot_probs(predicted, [0.9] * 14))
    by_font = mistakes.by_font()
    assert (by_font["fonts"], by_font["with_mistakes"], by_font["mistakes"], by_font["named_by"]) == (4, 3, 5, "hand")
    assert [(f["font"], f["mistakes"], f["images"]) for f in by_font["worst"]] == [("a", 2, 5), ("b", 2, 3), ("d", 1, 2)]
    assert (by_font["unmatched_images"], by_font["unmatched_mistakes"]) == (2, 1)
    assert by_font["worst_tenth"] == 1 and by_font["worst_tenth_share"] == 0.4
    assert mistakes.by_font(top=1)["worst"] == by_font["worst"][:1]
    assert {row["index"]: row["font"] for row in mistakes.rows()}[12] == "(unmatched image 12)"
    text = fonts_text(by_font)
    assert "5 mistakes in 3 of 4 fonts; the 1 with the most (25% of the fonts) hold 40% of them" in text
    assert "and 1 among 2 images whose font was not found" in text and text.endswith("       1       2  d")

    assert find_mistakes(letters([0, 1]), one_hot_probs([1, 1], [0.9, 0.9])).by_font() is None  # no font names
    none_wrong = find_mistakes(data, one_hot_probs(np.zeros(14, np.int64), [0.9] * 14)).by_font()
    assert none_wrong["worst"] == [] and fonts_text(none_wrong).splitlines()[0].endswith("no mistakes in any of 4 fonts")
    notmnist = letters([0, 0]).with_fonts(np.array(["QXJpYWwudHRm", "QXJpYWwudHRm"]), "hand")  # base64 of Arial.ttf
    worst = find_mistakes(notmnist, one_hot_probs([1, 1], [0.9, 0.9])).by_font()["worst"]
    assert worst == [{"font": "QXJpYWwudHRm", "name": "Arial.ttf", "mistakes": 2, "images": 2}]


def test_errors_command_reports_fonts_when_the_data_names_them(trained_run, tmp_path, capsys):
    rng = np.random.default_rng(1)
    fonts = np.array([f"font{k % 20:02d}" for k in range(200)])
    np.savez(tmp_path / "fonts.npz", images=rng.integers(0, 256, (200, 28, 28), dtype=np.uint8), labels=np.arange(200) % 10, font=fonts)
    assert main(["errors", str(trained_run), "--data", str(tmp_path / "fonts.npz"), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "errors.json").read_text())
    by_font = report["by_font"]
    assert by_font["fonts"] == 20 and by_font["worst_tenth"] == 2
    per_font = {}
    for row in report["errors"]:  # the same counts from the listed mistakes and the data's fonts
        assert row["font"] == fonts[row["index"]]
        per_font[fonts[row["index"]]] = per_font.get(fonts[row["index"]], 0) + 1
    assert by_font["with_mistakes"] == len(per_font)
    assert [(f["font"], f["mistakes"], f["images"]) for f in by_font["worst"]] == \
        sorted(((name, n, 10) for name, n in per_font.items()), key=lambda x: (-x[1], x[0]))[:10]
    assert by_font["worst_tenth_share"] == pytest.approx(sum(f["mistakes"] for f in by_font["worst"][:2]) / report["mistakes"])
    assert f"in {by_font['with_mistakes']} of 20 fonts" in printed and by_font["worst"][0]["font"] in printed
