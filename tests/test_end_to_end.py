"""The whole pipeline through the CLI: train -> run folder -> evaluate -> predict, on small
learnable data the test makes (font-rendered letters written to an .npz)."""

import json

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from letterlab.cli.main import main
from letterlab.data.embedded import load_embedded

TAGS = {"train/loss", "train/accuracy", "train/loss_epoch", "train/accuracy_epoch", "val/loss", "val/accuracy"}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One short MLP run (Adam, 12 epochs) on 500 font-rendered letters."""
    folder = tmp_path_factory.mktemp("e2e")
    monkey = pytest.MonkeyPatch()
    monkey.setenv("LETTERLAB_CACHE", str(folder / "cache"))
    letters = load_embedded(seed=3, per_class=50).train
    np.savez(folder / "letters.npz", images=letters.images, labels=letters.labels)
    (folder / "config.toml").write_text(
        'preset = "mlp-tanh-50"\n[train]\noptimizer = "adam"\nlr = 0.003\nepochs = 12\nbatch_size = 32\n'
    )
    run = folder / "run"
    code = main(["train", "--config", str(folder / "config.toml"), "--data", str(folder / "letters.npz"),
                 "--out", str(run), "--no-progress", "--device", "cpu"])
    monkey.undo()
    assert code == 0
    return folder, run, letters


def test_run_folder_holds_the_contract(trained_run):
    _, run, _ = trained_run
    for name in ["config.json", "environment.json", "metrics.jsonl", "timing.jsonl", "checkpoint.pt",
                 "model.safetensors", "results.json", "confusion.txt"]:
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "mlp-tanh-50" and config["train"]["optimizer"] == "adam"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == list(range(1, 13))
    assert "seconds" not in (run / "metrics.jsonl").read_text()
    results = json.loads((run / "results.json").read_text())
    assert np.array(results["confusion"]).sum() == results["test_n"] == 100  # 20% of 500, stratified


def test_training_beats_chance_clearly(trained_run):
    _, run, _ = trained_run
    results = json.loads((run / "results.json").read_text())
    assert results["test_accuracy"] > 0.6  # chance is 0.1
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]


def test_tensorboard_has_per_batch_and_per_epoch_tags(trained_run):
    _, run, _ = trained_run
    events = EventAccumulator(str(run), size_guidance={"scalars": 0}).Reload()
    assert TAGS <= set(events.Tags()["scalars"])
    batches = len(events.Scalars("train/loss"))
    per_epoch = 320 // 32 + 1  # the preset's "random" order: len(train) // batch + 1 draws an epoch
    assert batches == 12 * per_epoch
    assert [e.step for e in events.Scalars("val/accuracy")] == list(range(1, 13))
    assert "val/confusion" in events.Tags()["images"]


def test_evaluate_json_matches_results(trained_run, capsys):
    folder, run, _ = trained_run
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    saved = json.loads((run / "results.json").read_text())
    assert report["n"] == 100 and report["accuracy"] == pytest.approx(saved["test_accuracy"])
    assert set(report["per_class"]) == set("ABCDEFGHIJ") and np.array(report["confusion"]).sum() == 100
    assert main(["evaluate", str(run), "--data", str(folder / "letters.npz"), "--json", "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 500


def test_predict_round_trip_on_image_files(trained_run, capsys):
    folder, run, letters = trained_run
    paths = []
    for i in range(20):  # white-on-black at 28x28, and the same letter dark-on-light at 64x64 in RGB
        Image.fromarray(letters.images[i]).save(folder / f"plain{i}.png")
        Image.fromarray(255 - letters.images[i]).resize((64, 64)).convert("RGB").save(folder / f"inverted{i}.png")
        paths.append(i)
    capsys.readouterr()
    assert main(["predict", str(run), *[str(folder / f"plain{i}.png") for i in paths], "--json", "--device", "cpu"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["predict", str(run), *[str(folder / f"inverted{i}.png") for i in paths], "--invert", "--json", "--device", "cpu"]) == 0
    inverted = json.loads(capsys.readouterr().out)
    letters_of = lambda rows: [row["letter"] for row in rows]
    truth = ["ABCDEFGHIJ"[label] for label in letters.labels[:20]]
    assert np.mean([a == b for a, b in zip(letters_of(plain), truth)]) > 0.6
    assert np.mean([a == b for a, b in zip(letters_of(plain), letters_of(inverted))]) >= 0.8
    assert len(plain[0]["top"]) == 3 and plain[0]["top"][0]["probability"] >= plain[0]["top"][1]["probability"]


def test_summary_command_prints_homework_totals(capsys):
    assert main(["summary", "--preset", "mlp-tanh-500"]) == 0
    assert "Total params: 397,510" in capsys.readouterr().out
    assert main(["summary", "--preset", "mlp-tanh-100x2"]) == 0
    assert "Total params: 89,610" in capsys.readouterr().out


def test_predict_unreadable_image_is_one_line_error(trained_run, tmp_path, capsys):
    _, run, _ = trained_run
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    assert main(["predict", str(run), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.png" in err


def test_probes_flag_logs_probe_images_every_epoch(tmp_path):
    letters = load_embedded(seed=1, per_class=20).train
    np.savez(tmp_path / "letters.npz", images=letters.images, labels=letters.labels)
    run = tmp_path / "run"
    assert main(["train", "--preset", "mlp-tanh-50", "--epochs", "2", "--probes", "--data", str(tmp_path / "letters.npz"),
                 "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["log_probes"] is True
    events = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    probe_tags = [tag for tag in events.Tags()["images"] if tag.startswith("probes/")]
    assert probe_tags and all([e.step for e in events.Images(tag)] == [1, 2] for tag in probe_tags)


def test_bf16_precision_trains_a_cnn(tmp_path):
    """bfloat16 autocast (--precision bf16) runs the CNN path end to end and still learns."""
    letters = load_embedded(seed=2, per_class=30).train
    np.savez(tmp_path / "letters.npz", images=letters.images, labels=letters.labels)
    (tmp_path / "small.toml").write_text(
        '[model]\nkind = "cnn"\nblocks = [{filters = 8, kernel = 5, pool = 2}, {filters = 16, kernel = 5, pool = 2}]\nfc = [32]\n'
        '[train]\noptimizer = "adam"\nlr = 0.003\nepochs = 8\nbatch_size = 32\nprecision = "bf16"\n')
    run = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "small.toml"), "--data", str(tmp_path / "letters.npz"),
                 "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["test_accuracy"] > 0.4 and np.isfinite(results["test_loss"])  # chance is 0.1


@pytest.mark.parametrize("native", [True, False])
def test_bf16_without_bf16_units_warns_that_it_is_emulated(tmp_path, make_letters, monkeypatch, native):
    import warnings

    import torch

    from letterlab.data.dataset import DataSplits
    from letterlab.models.presets import get_preset
    from letterlab.runs import new_run_dir
    from letterlab.training import session

    monkeypatch.setattr(session, "has_bf16_units", lambda device: native)
    splits = DataSplits(make_letters(20, seed=1), make_letters(10, seed=2), make_letters(10, seed=3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = new_run_dir(str(tmp_path / "run"), "")
        session.train_run(get_preset("mlp-tanh-50", epochs=1, precision="bf16"), run, splits, torch.device("cpu"), progress=False)
    emulated = [w for w in caught if "no bf16 units" in str(w.message)]
    assert len(emulated) == (0 if native else 1)
    if emulated:
        assert str(run) in str(emulated[0].message) and "--precision fp32" in str(emulated[0].message)


def test_a_run_refuses_data_that_changed_since_training(tmp_path, capsys):
    letters = load_embedded(seed=4, per_class=10).train
    np.savez(tmp_path / "letters.npz", images=letters.images, labels=letters.labels)
    run = tmp_path / "run"
    assert main(["train", "--preset", "mlp-tanh-50", "--epochs", "1", "--data", str(tmp_path / "letters.npz"),
                 "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    np.savez(tmp_path / "letters.npz", images=255 - letters.images, labels=letters.labels)  # same path, other images
    capsys.readouterr()
    assert main(["evaluate", str(run), "--device", "cpu"]) == 2
    assert "is not what this run was trained on" in capsys.readouterr().err
