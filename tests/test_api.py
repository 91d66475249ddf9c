"""The public Python API: what a notebook user calls, checked against the CLI it sits under."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import letterlab
from letterlab.cli.main import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def letters(letters_npz):
    """500 font-rendered letters (learnable, made by the test) as an .npz."""
    return letters_npz(3, 50)


@pytest.fixture(scope="module")
def mlp_run(letters, tmp_path_factory):
    return letterlab.train("mlp-tanh-50", letters, out=tmp_path_factory.mktemp("mlp") / "run", epochs=8, lr=0.1,
                           device="cpu", progress=False)


def test_every_public_name_resolves_and_has_a_docstring():
    for name in letterlab.__all__:
        value = getattr(letterlab, name)
        if callable(value):
            assert value.__doc__ and value.__doc__.strip(), name


def test_train_writes_the_same_run_folder_bytes_as_the_command(letters, tmp_path):
    run = letterlab.train("mlp-tanh-50", letters, out=tmp_path / "api", epochs=3, device="cpu", progress=False)
    assert main(["train", "--preset", "mlp-tanh-50", "--data", str(letters), "--epochs", "3", "--out", str(tmp_path / "cli"),
                 "--device", "cpu", "--no-progress"]) == 0
    for name in ("metrics.jsonl", "config.json", "results.json", "confusion.txt"):
        api, cli = (run.path / name).read_bytes(), (tmp_path / "cli" / name).read_bytes()
        if name == "results.json":  # training seconds differ; every other number is the same
            api, cli = ({k: v for k, v in json.loads(b).items() if "seconds" not in k} for b in (api, cli))
        assert api == cli, name


def test_run_exposes_config_model_history_and_results(mlp_run):
    assert isinstance(mlp_run.config, letterlab.RunConfig) and mlp_run.config.train.epochs == 8
    assert not mlp_run.model.training
    history = mlp_run.history
    assert [r.epoch for r in history] == list(range(1, 9))
    assert history[-1].train_loss < history[0].train_loss and all(r.seconds > 0 for r in history)
    assert mlp_run.results.test_accuracy == pytest.approx(mlp_run.evaluate().accuracy)
    assert repr(mlp_run).startswith("Run(")


def test_evaluate_returns_consistent_numbers(mlp_run):
    e = mlp_run.evaluate()
    assert isinstance(e, letterlab.Evaluation)
    assert e.confusion.sum() == e.n == len(e.predictions) == len(e.probabilities)
    assert np.trace(e.confusion) / e.n == pytest.approx(e.accuracy)
    assert e.ci95[0] < e.accuracy < e.ci95[1]
    assert np.allclose(e.probabilities.sum(1), 1, atol=1e-5)
    assert (e.probabilities.argmax(1) == e.predictions).all()
    assert e.accuracy > 0.5  # 10 classes: chance is 0.1
    assert set(e.per_class) == set(letterlab.LETTERS)


def test_predict_reads_arrays_pil_images_and_files_alike(mlp_run, tmp_path):
    images = mlp_run.data().images[:3]
    paths = []
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    from_arrays = mlp_run.predict(images)
    assert from_arrays.shape == (3, 10)
    assert np.allclose(mlp_run.predict(images[0]), from_arrays[:1])
    assert np.allclose(mlp_run.predict([Image.fromarray(x) for x in images]), from_arrays, atol=1e-6)
    assert np.allclose(mlp_run.predict(paths), from_arrays, atol=1e-6)
    assert np.allclose(mlp_run.predict(255 - images, invert=True), from_arrays)
    with pytest.raises(letterlab.LetterlabError, match="cannot read"):
        mlp_run.predict([3.5])
    assert mlp_run.predict([]).shape == (0, 10)


def test_errors_are_the_wrong_predictions_most_confident_first(mlp_run):
    mistakes, e = mlp_run.errors(), mlp_run.evaluate()
    assert sorted(mistakes.index.tolist()) == np.flatnonzero(e.predictions != e.labels).tolist()
    assert (np.diff(mistakes.confidence) <= 0).all()


def test_every_figure_is_a_figure_that_shows_inline(mlp_run):
    figures = [mlp_run.plot_curves(), mlp_run.plot_confusion(), mlp_run.plot_errors(), mlp_run.plot_filters(),
               mlp_run.plot_saliency([0, 1])]
    for figure in figures:
        assert isinstance(figure, Figure)
        assert figure._repr_png_().startswith(PNG_MAGIC)
    with pytest.raises(letterlab.LetterlabError, match="need a CNN"):
        mlp_run.plot_feature_maps(0)
    with pytest.raises(letterlab.LetterlabError, match="image index"):
        mlp_run.plot_saliency([10**6])


def test_cnn_feature_maps_and_grad_cam(letters, tmp_path):
    small = {"blocks": [{"filters": 8, "pool": 2}, {"filters": 8, "pool": 2}], "fc": [16]}
    run = letterlab.train("cnn", letters, out=tmp_path / "cnn", epochs=1, model=small, log_probes=False, device="cpu", progress=False)
    maps = run.plot_feature_maps([0, 1], layer=2)
    assert isinstance(maps, Figure) and len(maps.axes) == 4  # two rows: image and its maps
    assert len(run.plot_saliency(0).axes) == 3  # image, saliency, Grad-CAM
    assert run.plot_filters(layer=1)._repr_png_().startswith(PNG_MAGIC)


def test_compare_and_config_and_presets(mlp_run, letters, tmp_path):
    other = letterlab.train("mlp-tanh-50", letters, out=tmp_path / "b", epochs=1, device="cpu", progress=False)
    result = letterlab.compare(mlp_run, other.path)
    assert isinstance(result, letterlab.Comparison) and result.n == mlp_run.evaluate().n
    assert result.a.accuracy == pytest.approx(mlp_run.evaluate().accuracy)
    assert 0 <= result.p_value <= 1
    config = letterlab.config("mlp-tanh-50", epochs=3, hidden=[64], seed=2)
    assert (config.train.epochs, config.model.hidden, config.train.seed) == (3, [64], 2)
    with pytest.raises(letterlab.LetterlabError, match="epochz: unknown setting"):
        letterlab.config("mlp-tanh-50", epochz=3)
    with pytest.raises(letterlab.LetterlabError, match="not a preset"):
        letterlab.config("mlp-huge")
    names = letterlab.presets()
    assert {"mlp-sigmoid-50", "cnn", "cnn-bn-dropout", "letters-best"} <= set(names) and all(names.values())
    assert sum(row.parameters for row in letterlab.summary("mlp-tanh-500")) == 397_510


def test_train_seeds_gives_one_run_per_seed(letters, tmp_path):
    runs = letterlab.train_seeds("mlp-tanh-50", 2, letters, out=tmp_path / "seeds", epochs=2, device="cpu")
    assert [run.config.train.seed for run in runs] == [0, 1]
    assert [run.path.name for run in runs] == ["seed0", "seed1"]
    assert all(run.results is not None for run in runs)


def test_reproduce_returns_the_report_and_its_table(letters, tmp_path):
    report = letterlab.reproduce(letters, out=tmp_path / "report", presets=["mlp-tanh-50", "mlp-sigmoid-50"], profile="quick",
                                 device="cpu", progress=False)
    assert report.html.exists() and report.path == tmp_path / "report"
    assert [row["experiment"] for row in report.table] == ["mlp-sigmoid-50", "mlp-tanh-50"]
    assert all(0 <= row["test_accuracy"] <= 1 for row in report.table)
    assert any(answer["number"] == 1 for answer in report.answers)


def test_progress_is_one_plain_line_per_epoch_when_nobody_watches(letters, tmp_path, capsys):
    letterlab.train("mlp-tanh-50", letters, out=tmp_path / "lines", epochs=3, device="cpu")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 3 and lines[0].startswith("mlp-tanh-50: epoch 1/3, loss ")
    letterlab.train("mlp-tanh-50", letters, out=tmp_path / "quiet", epochs=2, device="cpu", progress=False)
    assert capsys.readouterr().err == ""


def test_nothing_global_changes_behind_the_users_back(letters, tmp_path):
    """In a fresh interpreter: the backend, torch's thread count and RNG state, numpy's global RNG
    and pyplot's absence are what they were after importing, training, evaluating and plotting."""
    script = textwrap.dedent(f"""
        import sys
        import matplotlib, numpy as np, torch
        matplotlib.use("svg")  # the user's own choice
        torch.set_num_threads(1)
        torch.manual_seed(1234); np.random.seed(99)
        before = (matplotlib.get_backend(), torch.get_num_threads(), torch.get_rng_state().clone(), np.random.get_state()[1].copy())
        import letterlab
        run = letterlab.train("mlp-tanh-50", {str(letters)!r}, out={str(tmp_path / "run")!r}, epochs=2, device="cpu", progress=False)
        run.evaluate(); run.predict(run.data().images[:2])
        for figure in (run.plot_curves(), run.plot_confusion(), run.plot_errors(), run.plot_filters(), run.plot_saliency([0])):
            figure._repr_png_()
        after = (matplotlib.get_backend(), torch.get_num_threads(), torch.get_rng_state(), np.random.get_state()[1])
        assert before[:2] == after[:2], (before[:2], after[:2])
        assert torch.equal(before[2], after[2]), "torch RNG state changed"
        assert (before[3] == after[3]).all(), "numpy RNG state changed"
        assert "matplotlib.pyplot" not in sys.modules, "letterlab imported pyplot"
        print("unchanged")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "unchanged" in result.stdout, result.stdout + result.stderr
