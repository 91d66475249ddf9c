"""`reproduce` and its report: planning, reuse and resume of runs, summary numbers, computed verdicts,
Markdown and self-contained HTML. Most tests read hand-written run folders with known numbers."""

import base64
import json
import re

import numpy as np
import pytest
from PIL import Image

from letterlab.cli.main import main
from letterlab.data.npz import save_npz
from letterlab.errors import LetterlabError
from letterlab.pipeline import plan_runs, train_and_evaluate
from letterlab.pipeline import train_planned as reproduce
from letterlab.reports.document import render_report
from letterlab.reports.experiments import load_experiments, write_summary
from letterlab.reports.profiles import differences_from_homework, profile_config
from letterlab.reports.questions import answer_all
from letterlab.run_config import to_dict

EPOCHS, BATCHES = 4, 3

# experiment -> (test accuracy per seed, seconds per epoch, first-layer gradient). Chosen so that:
# tanh vs sigmoid is "about equal" with the fix but "considerably better" with the bug (the
# conclusion does not survive); 100x2 is 4x faster than 500 and as accurate with the fix only.
SYNTHETIC = {
    ("mlp-sigmoid-50", "logits"): ([0.86, 0.88], 0.2, 0.001),
    ("mlp-tanh-50", "logits"): ([0.875, 0.885], 0.2, 0.002),
    ("mlp-tanh-500", "logits"): ([0.90, 0.91], 0.4, 0.002),
    ("mlp-tanh-100x2", "logits"): ([0.905, 0.905], 0.1, 0.002),
    ("mlp-sigmoid-50", "double_softmax"): ([0.42, 0.44], 0.2, 0.0001),
    ("mlp-tanh-50", "double_softmax"): ([0.85, 0.87], 0.2, 0.0003),
    ("mlp-tanh-500", "double_softmax"): ([0.80, 0.81], 0.4, 0.0003),
    ("mlp-tanh-100x2", "double_softmax"): ([0.70, 0.70], 0.1, 0.0003),
}


def write_run(run_dir, preset, loss, seed, test_accuracy, seconds, grad):
    """A finished run folder as training writes it, with made-up numbers."""
    run_dir.mkdir(parents=True)
    config = profile_config(preset, "quick", seed=seed, double_softmax=loss == "double_softmax")
    config.train.epochs = EPOCHS
    (run_dir / "config.json").write_text(json.dumps(to_dict(config)))
    (run_dir / "environment.json").write_text(json.dumps({"data": {"source": "synthetic", "train": 80, "val": 20, "test": 100}}))
    metrics = []
    for epoch in range(1, EPOCHS + 1):
        accuracy = test_accuracy * epoch / EPOCHS
        metrics.append({"epoch": epoch, "first_step": (epoch - 1) * BATCHES + 1, "last_step": epoch * BATCHES,
                        "train_loss": 2.0 / epoch, "train_accuracy": accuracy + 0.05, "val_loss": 2.1 / epoch,
                        "val_accuracy": accuracy, "first_layer_grad": grad,
                        "batch_loss": [2.0 / epoch] * BATCHES, "batch_accuracy": [accuracy] * BATCHES})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (run_dir / "timing.jsonl").write_text("".join(json.dumps({"epoch": e, "seconds": seconds}) + "\n" for e in range(1, EPOCHS + 1)))
    confusion = np.diag([10] * 10)
    confusion[0, 1] = 3
    results = {"train_accuracy": metrics[-1]["train_accuracy"], "train_loss": 0.5, "val_accuracy": metrics[-1]["val_accuracy"],
               "val_loss": 0.6, "test_accuracy": test_accuracy, "test_loss": 0.7, "train_seconds": EPOCHS * seconds,
               "seconds_per_epoch": seconds, "confusion": confusion.tolist()}
    (run_dir / "results.json").write_text(json.dumps(results))


def write_synthetic_runs(out):
    for (preset, loss), (accuracies, seconds, grad) in SYNTHETIC.items():
        for seed, accuracy in enumerate(accuracies):
            name = f"{preset}{'-double-softmax' if loss == 'double_softmax' else ''}-seed{seed}"
            write_run(out / name, preset, loss, seed, accuracy, seconds, grad)
    return out


def test_summary_numbers_are_read_from_the_run_folders(tmp_path):
    write_summary(tmp_path, load_experiments(write_synthetic_runs(tmp_path)))
    summary = json.loads((tmp_path / "summary.json").read_text())["experiments"]
    assert sorted(summary) == sorted(["mlp-sigmoid-50", "mlp-tanh-50", "mlp-tanh-500", "mlp-tanh-100x2", "mlp-sigmoid-50-double-softmax",
                             "mlp-tanh-50-double-softmax", "mlp-tanh-500-double-softmax", "mlp-tanh-100x2-double-softmax"])
    sigmoid = summary["mlp-sigmoid-50"]
    assert sigmoid["seeds"] == [0, 1] and sigmoid["runs"] == ["mlp-sigmoid-50-seed0", "mlp-sigmoid-50-seed1"]
    assert sigmoid["test_accuracy"]["mean"] == pytest.approx(0.87)
    assert sigmoid["test_accuracy"]["std"] == pytest.approx(np.std([0.86, 0.88], ddof=1))
    assert sigmoid["train_seconds"]["mean"] == pytest.approx(EPOCHS * 0.2)
    # parameters from the built models: 784*50+50+50*10+10, and the homework's two counts
    assert [summary[n]["parameters"] for n in ("mlp-sigmoid-50", "mlp-tanh-500", "mlp-tanh-100x2")] == [39_760, 397_510, 89_610]
    assert sigmoid["differs_from_homework"] == [f"train.epochs: {EPOCHS} (homework 60)"]


def test_verdicts_are_computed_from_the_numbers(tmp_path):
    one, two, three, four, five = answer_all(load_experiments(write_synthetic_runs(tmp_path)))
    assert one.conclusions == {"tanh is considerably more accurate than sigmoid": False,
                               "tanh sends larger gradients to the first layer": True}
    assert one.verdicts[0].startswith("tanh is about equal to sigmoid (+1.0 points") and "4 of 4 epochs (2.00x" in one.verdicts[1]
    assert two.conclusions == {"two layers of 100 train about 4x faster than 500": True,
                               "two layers of 100 are about as accurate as 500": True}
    assert "1/4.00" in two.verdicts[1] and two.verdicts[0].startswith("Parameter counts match")
    assert three.missing == ["cnn"] and four.missing == ["cnn", "cnn-bn-dropout"]
    assert four.verdicts == ["Not answered: cnn, cnn-bn-dropout were not run."]
    verdicts = " ".join(five.verdicts)
    assert "“tanh is considerably more accurate than sigmoid”: true with the bug, false with the fix: does not survive" in verdicts
    assert "“two layers of 100 are about as accurate as 500”: false with the bug, true with the fix: not reproduced" in verdicts
    assert "“two layers of 100 train about 4x faster than 500”: true with the bug, true with the fix: survives" in verdicts
    assert five.rows[0] == ["mlp-sigmoid-50", "87.0% ± 1.4", "43.0% ± 1.4", "+44.0 points"]


def test_html_is_self_contained_and_markdown_links_exist(tmp_path):
    out = write_synthetic_runs(tmp_path)
    extra = out / "mlp-tanh-50-seed1" / "figures"
    extra.mkdir()
    Image.new("L", (56, 28), 128).save(extra / "error-grid.png")  # what a later inspection step may save
    render_report(out)
    markdown = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert "mlp-tanh-50-seed1/figures/error-grid.png" in links
    assert all((out / link).is_file() for link in links)
    html = (out / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == len(links) == 2 * 8 + 3 + 1  # curves and confusion per experiment, 3 shared, 1 inspection
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http" not in html and "<script" not in html
    separators = [line for line in markdown.splitlines() if line.startswith("| --- |")]
    assert html.count("<table>") == len(separators) == 4  # comparison, questions 1, 2 and 5


def test_profiles_change_only_what_they_say():
    assert profile_config("cnn", "default").train.epochs == 1
    assert profile_config("mlp-tanh-50", "default").train.epochs == 60
    assert differences_from_homework(profile_config("cnn", "default")) == ["train.epochs: 1 (homework 10)"]
    assert all(differences_from_homework(profile_config(name, "full")) == [] for name in ("cnn", "mlp-tanh-500"))
    plan = plan_runs(["mlp-tanh-50", "cnn"], "quick", seeds=2, faithful=True)
    assert [run.name for run in plan] == ["mlp-tanh-50-seed0", "mlp-tanh-50-seed1", "cnn-seed0", "cnn-seed1",
                                          "mlp-tanh-50-double-softmax-seed0", "mlp-tanh-50-double-softmax-seed1"]
    assert plan[-1].config.train.loss == "double_softmax" and plan[-1].config.train.seed == 1


@pytest.fixture
def tiny_data(tmp_path, make_letters):
    path = tmp_path / "tiny.npz"
    save_npz(path, make_letters(200))
    return str(path)


class StopAtEpoch(Exception):
    pass


def stop_at_epoch_two(context):
    def hook(state, result):
        if result.epoch == 2:
            raise StopAtEpoch
    return hook


def test_interrupted_run_resumes_complete_run_is_reused(tmp_path, tiny_data):
    out = tmp_path / "out"
    plan = plan_runs(["mlp-tanh-50"], "quick", data=tiny_data)
    run_dir = out / plan[0].name
    run_dir.mkdir(parents=True)
    with pytest.raises(StopAtEpoch):  # killed in epoch 2, after its metrics were written, before its checkpoint
        train_and_evaluate(plan[0].config, run_dir, progress=False, extra_hooks=(stop_at_epoch_two,))
    assert reproduce(out, plan, announce=lambda _: None) == {"mlp-tanh-50-seed0": "resumed"}
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert all(b["first_step"] == a["last_step"] + 1 for a, b in zip(metrics, metrics[1:]))
    results = (run_dir / "results.json").read_bytes()
    assert reproduce(out, plan, announce=lambda _: None) == {"mlp-tanh-50-seed0": "reused"}
    assert (run_dir / "results.json").read_bytes() == results
    with pytest.raises(LetterlabError, match="other settings; use --force"):
        reproduce(out, plan_runs(["mlp-tanh-50"], "default", data=tiny_data), announce=lambda _: None)
    assert reproduce(out, plan, force=True, announce=lambda _: None) == {"mlp-tanh-50-seed0": "trained"}


def test_cli_reproduce_quick_writes_the_report(tmp_path, tiny_data, capsys):
    out = tmp_path / "out"
    code = main(["reproduce", "--quick", "--presets", "mlp-sigmoid-50", "--faithful", "--seeds", "2",
                 "--data", tiny_data, "--out", str(out), "--no-progress"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())["experiments"]
    assert sorted(summary) == ["mlp-sigmoid-50", "mlp-sigmoid-50-double-softmax"]
    assert summary["mlp-sigmoid-50"]["seeds"] == [0, 1] and summary["mlp-sigmoid-50"]["epochs"] == 3
    assert summary["mlp-sigmoid-50"]["data"]["train"] == 130  # per letter 20: 4 test, round(3.2) = 3 validation
    assert (out / "report.html").stat().st_size > 10_000
    assert len({p.parent for p in out.glob("*/events.out.tfevents.*")}) == 4  # one TensorBoard run per run folder, one --logdir
    for run in out.glob("mlp-*"):  # inspected for the report: statistics, error grid, first-layer weights, saliency
        record = json.loads((run / "inspection.json").read_text())
        assert record["n"] == 40 and record["ci95"][0] <= record["accuracy"] <= record["ci95"][1]
        assert {"errors.png", "filters_layer1.png", "reliability.png"} <= {p.name for p in (run / "figures").glob("*.png")}
    assert "95% Wilson interval" in (out / "report.md").read_text()
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.html").exists()
    assert main(["reproduce", "--presets", "mlp-bogus", "--out", str(out)]) == 2
    assert "unknown preset 'mlp-bogus'" in capsys.readouterr().err


def test_reproduce_runs_the_homeworks_six_by_default():
    from letterlab.cli.report_commands import parse_presets
    from letterlab.models.presets import HOMEWORK_PRESETS, PRESETS

    assert parse_presets(None) == HOMEWORK_PRESETS == list(PRESETS)[:6]
    assert parse_presets("cnn, mlp-tanh-50,cnn") == ["cnn", "mlp-tanh-50"]
