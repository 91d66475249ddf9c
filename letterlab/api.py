"""letterlab's Python API: train, load, evaluate, compare, look inside and report, from a notebook
or a script. The `letterlab` command is a thin layer over these functions.

    import letterlab
    run = letterlab.train("mlp-tanh-100x2", epochs=5)       # the embedded default letters
    run.evaluate().accuracy
    run.plot_curves()                                        # a matplotlib Figure, shown inline

Results are dataclasses; figures are `matplotlib.figure.Figure` objects (returned, never saved or
shown behind your back); devices are a `torch.device` or a name ("cpu", "cuda", "auto" = None).
Nothing global changes: no matplotlib backend switch, no change of torch's thread count, and
torch's random state is the same after training as before."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from letterlab.data.dataset import LetterImages, LoadedData
from letterlab.errors import LetterlabError
from letterlab.evaluation.calibration import Calibration
from letterlab.evaluation.mistakes import Mistakes
from letterlab.evaluation.scoring import Evaluation, RunResults
from letterlab.evaluation.statistics import Comparison
from letterlab.models.describe import LayerRow
from letterlab.models.inputs import pick_device
from letterlab.run_config import RunConfig
from letterlab.runs import CONFIG, ERRORS, METRICS, TIMING, read_jsonl

DataLike = str | Path | LetterImages | None  # a path any loader reads, images in memory, or None: the run's own test split


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a run's training, from metrics.jsonl and timing.jsonl."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float  # NaN when the run has no validation part
    val_accuracy: float
    seconds: float | None  # wall-clock time of the epoch's training steps
    first_layer_grad: float  # mean |dL/dW| reaching the first layer


class Run:
    """A run folder (trained, or being trained) and the model in it.

    `path`, `config` (RunConfig), `model` (torch.nn.Module in evaluation mode, loaded once),
    `history` (EpochRecord per epoch), `results` (RunResults, None until finished); methods to
    evaluate, predict, find the errors, calibrate and plot."""

    def __init__(self, path: str | Path, device: torch.device | str | None = None):
        self.path = Path(path)
        if not (self.path / CONFIG).exists():
            raise LetterlabError(f"{self.path}: not a letterlab run folder (no {CONFIG})")
        self.device = pick_device(device)

    def __repr__(self) -> str:
        done = self.results
        state = f"test accuracy {done.test_accuracy:.4f}" if done else f"{len(self.history)} epochs, not finished"
        return f"Run({str(self.path)!r}: {self.config.preset or 'custom'}, {state})"

    @cached_property
    def config(self) -> RunConfig:
        from letterlab.runs import read_config

        return read_config(self.path)

    @cached_property
    def classes(self) -> tuple[str, ...]:
        """The run's class names (label i = classes[i]); A-J for a run folder from before they were recorded."""
        from letterlab.runs import read_classes

        return read_classes(self.path)

    @cached_property
    def model(self) -> torch.nn.Module:
        from letterlab.evaluation.trained import load_trained

        return load_trained(self.path, self.device)[1]

    @property
    def results(self) -> RunResults | None:
        from letterlab.evaluation.scoring import read_results

        return read_results(self.path)

    @property
    def history(self) -> list[EpochRecord]:
        seconds = {t["epoch"]: t["seconds"] for t in read_jsonl(self.path / TIMING)}
        return [EpochRecord(m["epoch"], m["train_loss"], m["train_accuracy"], m["val_loss"], m["val_accuracy"],
                            seconds.get(m["epoch"]), m["first_layer_grad"]) for m in read_jsonl(self.path / METRICS)]

    def data(self, data: DataLike = None) -> LetterImages:
        """The images the run is judged on: `data` (a path: its test part if it has one), or the
        run's own test split; read with the run's classes (unnamed data takes them, named data must match)."""
        from letterlab.data.dataset import as_classes
        from letterlab.data.run_data import evaluation_data

        return as_classes(data, self.classes, f"run {self.path}") if isinstance(data, LetterImages) else evaluation_data(self.path, data)

    def evaluate(self, data: DataLike = None, *, tta: bool = False) -> Evaluation:
        """Accuracy with its 95% interval, confusion matrix, per-class scores, every prediction.
        `tta`: average over shifted and scaled views of each image."""
        images = self.data(data)
        if tta:
            return evaluate_ensemble([self], images, tta=True, device=self.device)
        from letterlab.evaluation.scoring import score

        return score(self.model, images, self.device, self.config.train.precision, self.config.train.loss)

    def predict(self, images, *, invert: bool = False) -> np.ndarray:
        """Probabilities (N, classes) for images (class i = run.classes[i]): uint8 arrays (28, 28) or (N, 28, 28), PIL images or
        image files (any size and colour, converted as `letterlab predict` converts them), or a
        list of these. `invert`: the images are dark letters on a light background."""
        from letterlab.evaluation.trained import probabilities

        return probabilities(self.model, as_letter_images(images, invert), self.device, self.config.train.precision)

    def errors(self, data: DataLike = None) -> Mistakes:
        """The misclassified images, most confident first."""
        from letterlab.evaluation.mistakes import find_mistakes

        images = self.data(data)
        return find_mistakes(images, self.evaluate(images).probabilities)

    def write_errors(self, data: DataLike = None, out: str | Path | None = None) -> dict:
        """Grids of the mistakes (all, and per most confused pair) and errors.json, in `out`
        (default RUN/errors); returns errors.json's content."""
        from letterlab.evaluation.mistakes import write_error_report

        return write_error_report(self.errors(data), Path(out) if out else self.path / ERRORS)

    def calibrate(self, data: str | Path | None = None) -> Calibration:
        """ECE and NLL before and after temperature scaling fitted on the validation split;
        writes calibration.json and figures/reliability.png into the run folder."""
        from letterlab.evaluation.calibration import calibrate_run

        return calibrate_run(self.path, data, self.device)

    def inspect(self, *, filters: bool = False, layer: int = 1, maps: Iterable[int] = (), saliency: Iterable[int] = (),
                data: str | Path | None = None) -> list[Path]:
        """Write filters, feature maps and saliency of test images (by index) as PNGs into
        RUN/figures/ and the run's TensorBoard; returns the PNG paths."""
        from letterlab.evaluation.inspect import inspect_run

        return inspect_run(self.path, filters=filters, layer=layer, maps=list(maps), saliency=list(saliency),
                           data_path=data, device=self.device)

    def export(self, out: str | Path | None = None, opset: int | None = None):
        """Export to ONNX (default RUN/model.onnx) with the preprocessing inside the graph, checked
        against PyTorch on the test images (written only if it passes); returns the ExportReport."""
        from letterlab.serving.export import DEFAULT_OPSET, export_run

        return export_run(self, out, opset or DEFAULT_OPSET)

    def layers(self) -> list[LayerRow]:
        """Each layer's name, type, output shape, parameters and FLOPs (a Keras-style summary)."""
        return summary(self.config, len(self.classes))

    def resume(self, *, progress: bool | None = None) -> Run:
        """Continue an interrupted run from its last checkpoint (byte-identical metrics on a CPU)."""
        from letterlab.pipeline import train_and_evaluate
        from letterlab.training.checkpoint import checkpoint_info

        checkpoint_info(self.path)  # refuse a missing or tampered checkpoint before loading any data
        train_and_evaluate(self.config, self.path, self.device, resume=True, progress=progress)
        self.__dict__.pop("model", None)
        return self

    # Figures: each a matplotlib Figure, returned; it shows inline as a notebook cell's value.

    def plot_curves(self):
        """Loss and accuracy per batch (top) and per epoch (bottom), training and validation."""
        from letterlab.reports.experiments import Experiment, read_run
        from letterlab.reports.plots import curves_figure

        run = read_run(self.path)
        return curves_figure(Experiment(self.config.preset or self.path.name, [run]))

    def plot_confusion(self, data: DataLike = None):
        """The confusion matrix on the test images, every count written in."""
        from letterlab.evaluation.figures import confusion_figure

        evaluation = self.evaluate(data)
        return confusion_figure(evaluation.confusion, f"{self.path.name}: accuracy {evaluation.accuracy:.4f} on {evaluation.n} images",
                                evaluation.classes)

    def plot_errors(self, data: DataLike = None, limit: int = 40):
        """The `limit` most confident mistakes, each with its true and predicted class."""
        from letterlab.evaluation.mistakes import mistakes_figure

        return mistakes_figure(self.errors(data), limit)

    def plot_filters(self, layer: int = 1):
        """Conv layer `layer`'s kernels as a grid; for an MLP, the first layer's weights as 28x28 images."""
        from letterlab.evaluation.inspect import filters_figure

        return filters_figure(self.model, layer)

    def plot_feature_maps(self, indices: int | Iterable[int], layer: int = 1, data: DataLike = None):
        """For test images `indices`, each image beside its feature maps after conv block `layer` (CNNs)."""
        from letterlab.evaluation.inspect import maps_figure

        images, captions = self._picked(indices, data)
        return maps_figure(self.model, images, captions, layer)

    def plot_saliency(self, indices: int | Iterable[int], data: DataLike = None):
        """For test images `indices`: the image, its gradient saliency and (CNNs) Grad-CAM."""
        from letterlab.evaluation.inspect import saliency_figure

        images, captions = self._picked(indices, data)
        return saliency_figure(self.model, images, captions, self.classes)

    def _picked(self, indices: int | Iterable[int], data: DataLike) -> tuple[np.ndarray, list[str]]:
        images = self.data(data)
        picked = [indices] if isinstance(indices, (int, np.integer)) else list(indices)
        bad = [i for i in picked if not 0 <= i < len(images)]
        if bad or not picked:
            raise LetterlabError(f"image index {bad[0] if bad else 'missing'}: {images.source} has test images 0..{len(images) - 1}")
        return images.images[picked], [f"test image {i}: {images.classes[images.labels[i]]}" for i in picked]


def as_letter_images(images, invert: bool = False) -> np.ndarray:
    """uint8 (N, 28, 28) from one or many uint8 arrays, PIL images or image file paths."""
    from letterlab.data.image_file import letter_pixels, read_letter_image

    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.shape[-2:] == (28, 28) and images.ndim in (2, 3):
        stacked = images.reshape(-1, 28, 28)
        return 255 - stacked if invert else stacked
    items = images if isinstance(images, (list, tuple)) else [images]
    if not items:
        return np.empty((0, 28, 28), dtype=np.uint8)
    out = []
    for item in items:
        if isinstance(item, (str, Path)):
            out.append(read_letter_image(item, invert))
        elif isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.shape == (28, 28):
            out.append(255 - item if invert else item)
        elif hasattr(item, "convert") and hasattr(item, "resize"):  # a PIL image
            out.append(letter_pixels(item, invert))
        else:
            raise LetterlabError(f"cannot read {type(item).__name__} as a letter image: give uint8 (28, 28) arrays, PIL images or paths")
    return np.stack(out)


def config(preset: str | Path | RunConfig | None = None, data: str | Path | None = None, **overrides: Any) -> RunConfig:
    """A RunConfig from a preset name, a TOML file or a RunConfig, with overrides of config fields
    (e.g. epochs=3, lr=0.01, seed=1, hidden=[64], fast_paths=False); unknown names are refused."""
    from letterlab.models.presets import resolve_config

    return resolve_config(preset, data, **overrides)


def presets() -> dict[str, str]:
    """Every preset's name with a one-line description."""
    from letterlab.models.presets import preset_descriptions

    return preset_descriptions()


def load_data(path: str | Path | None = None, *, seed: int = 0, classes: str | list[str] | None = None) -> LoadedData:
    """Images from any supported format (course folder, .data/.pkl, class folders, .tar.gz, idx, .npz), a
    known data set's name ("mnist", "emnist-letters", ...; after `download_data`) or "embedded[:letters=A-Z]
    [,system-fonts]"; None: the embedded default set, rendered with `seed`. `classes` names the classes
    (a list, a comma-separated string or a file of names, one a line)."""
    from letterlab.data.registry import load_data as load

    return load(path, seed=seed, classes=classes)


def data_info(path: str | Path | None = None, *, classes: str | list[str] | None = None) -> dict:
    """Per part (train, test): images per class, shape, pixel range, duplicates, skipped files."""
    from letterlab.data.info import data_info as describe_data

    return describe_data(load_data(path, classes=classes))


def convert_data(source: str | Path, to: str, out: str | Path, *, force: bool = False,
                 classes: str | list[str] | None = None) -> list[Path]:
    """Write `source` (its classes named `classes`, if given) in another format ("course", "npz", "idx",
    "folder"; all but idx keep the class names); returns the files written."""
    from letterlab.data.convert import convert

    return convert(source, to, out, force=force, classes=classes)


def check_data(path: str | Path, *, against: str | Path | None = None, near: bool = False,
               drop_duplicates_to: str | Path | None = None) -> dict:
    """Exact (and with `near`, near) duplicates inside and between the parts of `path` and `against`,
    and copies with conflicting labels. `drop_duplicates_to`: also write `path` without them as an
    .npz (first copy kept; conflicting images and copies of `against`'s images dropped); the
    report's "written" then says how many images each part kept."""
    from letterlab.data.check import check_parts, drop_duplicates
    from letterlab.data.npz import save_npz

    if drop_duplicates_to and Path(drop_duplicates_to).exists():
        raise LetterlabError(f"{drop_duplicates_to}: already exists; choose another --out")
    loaded = load_data(path)
    parts = {"train": loaded.train} if loaded.test is None else {"train": loaded.train, "test": loaded.test}
    reference = {}
    if against:
        other = load_data(against)
        reference = {"against": other.train} if other.test is None else {"against_train": other.train, "against_test": other.test}
    report = check_parts({**reference, **parts}, near=near)
    if drop_duplicates_to:
        clean = drop_duplicates({**reference, **parts})  # reference first: copies of its images are dropped from `path`
        save_npz(drop_duplicates_to, clean["train"], clean.get("test"))
        report["written"] = {"path": str(drop_duplicates_to), **{name: len(clean[name]) for name in parts}}  # images kept per part
    return report


def download_data(name: str, *, out: str | Path | None = None, url: str | None = None, sha256: str | None = None,
                  extract: bool = False) -> tuple[Path, int]:
    """Download a known data set (resumable, checked) into `out` (default: the data folder `--data NAME`
    reads); returns the path the loaders read and its image count."""
    from letterlab.data.download import download_dataset

    return download_dataset(name, url=url, out=out, sha256=sha256, extract=extract)


def review(run: Run | str | Path, data: DataLike = None, *, limit: int | None = None, web: bool = False, port: int = 0,
           announce: Callable[[str], None] | None = None) -> dict:
    """Judge the run's misclassified images yourself (in the terminal, or a page on 127.0.0.1 with
    `web`), most confident first; answers are saved in RUN/review.json as you go. Returns the
    summary: how often you agreed with the label and with the model, likely label errors."""
    from letterlab.evaluation.review.core import ReviewSession, review_items
    from letterlab.runs import REVIEW

    if limit is not None and limit < 1:
        raise LetterlabError(f"--limit must be at least 1, got {limit}")
    run = _run(run)
    session = ReviewSession(review_items(run.errors(data), limit), run.path / REVIEW, run.classes)
    if announce:
        announce(f"{len(session.items)} misclassified images to review; answers go to {session.path}")
    if web:
        from letterlab.evaluation.review.web import serve

        serve(session, port)
    else:
        from letterlab.evaluation.review.terminal import run_terminal

        run_terminal(session)
    return session.summary()


def load_run(path: str | Path, device: torch.device | str | None = None) -> Run:
    """An existing run folder."""
    return Run(path, device)


def load_model(path: str | Path, device: torch.device | str | None = None):
    """A run folder as a Run, or an exported .onnx file as an OnnxModel (onnxruntime): both have
    `predict(images)` and `evaluate(data=None)` giving the same answers."""
    if Path(path).suffix == ".onnx":
        from letterlab.serving.onnx_model import OnnxModel

        return OnnxModel(path)
    return Run(path, device)


def serve(model: str | Path, model_b: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          backend: str | None = None, **options) -> None:
    """Serve a run folder or an .onnx file over HTTP (FastAPI on uvicorn) until interrupted:
    POST /v1/predict, GET /health, /ready, /v1/model, /docs; for run folders the explorer page at
    `/` (with `model_b`, two runs side by side). Binds 127.0.0.1 unless told otherwise. Meant to own
    its process: it sets torch's thread count for the forward passes (`threads`, default all cores)."""
    from letterlab.serving.server import serve as run_server

    run_server(model, model_b, host=host, port=port, backend=backend, **options)


def _new_run(config: RunConfig, out: str | Path | None) -> Path:
    from letterlab.runs import new_run_dir

    return new_run_dir(str(out) if out else None, config.preset)


def train(preset_or_config: str | Path | RunConfig, data: str | Path | None = None, *, out: str | Path | None = None,
          device: torch.device | str | None = None, progress: bool | None = None,
          announce: Callable[[str], None] | None = None, **overrides: Any) -> Run:
    """Train a preset name, a RunConfig or a TOML file's config (with `overrides` of its fields)
    on `data` (None: the embedded default) into the run folder `out` (default runs/<preset>-<time>),
    exactly as `letterlab train` does, then score its test part. `progress`: True a bar, False
    nothing, None a bar when watched (terminal, notebook), else a line per epoch."""
    from letterlab.pipeline import train_and_evaluate

    run_config = config(preset_or_config, data, **overrides)
    run_dir = _new_run(run_config, out)
    train_and_evaluate(run_config, run_dir, device, progress=progress, announce=announce or (lambda _: None))
    return Run(run_dir, device)


def train_seeds(preset_or_config: str | Path | RunConfig, seeds: int, data: str | Path | None = None, *,
                out: str | Path | None = None, device: torch.device | str | None = None, progress: bool | None = None,
                announce: Callable[[str], None] | None = None, **overrides: Any) -> list[Run]:
    """`seeds` runs with seeds seed..seed+seeds-1, into out/seed<k>; an MLP's seeds are trained
    together as one stacked model (each run the same as trained alone, up to float rounding), which
    shows no progress bar (`progress` applies to seeds trained one by one)."""
    from letterlab.errors import ConfigError
    from letterlab.pipeline import train_and_evaluate, train_seeds_and_evaluate
    from letterlab.training.stacked import can_stack

    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    base = config(preset_or_config, data, **overrides)
    folder = _new_run(base, out)
    configs = [dataclasses.replace(base, train=dataclasses.replace(base.train, seed=base.train.seed + k)) for k in range(seeds)]
    run_dirs = [folder / f"seed{c.train.seed}" for c in configs]
    for run_dir in run_dirs:
        run_dir.mkdir()
    if announce:
        announce(f"run folders: {', '.join(map(str, run_dirs))}")
    if can_stack(configs):
        train_seeds_and_evaluate(configs, run_dirs, device, announce=announce or (lambda _: None))
    else:
        for run_config, run_dir in zip(configs, run_dirs):
            train_and_evaluate(run_config, run_dir, device, progress=progress, announce=announce or (lambda _: None))
    return [Run(run_dir, device) for run_dir in run_dirs]


def _run(run: Run | str | Path, device=None) -> Run:
    return run if isinstance(run, Run) else Run(run, device)


def compare(run_a: Run | str | Path, run_b: Run | str | Path, data: str | Path | None = None, *,
            device: torch.device | str | None = None) -> Comparison:
    """Both runs' accuracies with 95% intervals on the same images, and McNemar's exact test."""
    from letterlab.evaluation.statistics import compare_runs

    return compare_runs(_run(run_a).path, _run(run_b).path, data, device)


def evaluate_ensemble(runs: list[Run | str | Path], data: DataLike = None, *, tta: bool = False,
                      device: torch.device | str | None = None) -> Evaluation:
    """The averaged prediction of several runs (and with `tta`, of shifted and scaled views)."""
    from letterlab.evaluation.ensemble import score_ensemble

    runs = [_run(run, device) for run in runs]
    return score_ensemble([run.path for run in runs], runs[0].data(data), pick_device(device), tta)


def summary(preset_or_config: str | Path | RunConfig, classes: int = 10) -> list[LayerRow]:
    """The model's layers for `classes` classes (10: A-J): name, type, output shape, parameters, FLOPs per image."""
    from letterlab.models.build import build_model
    from letterlab.models.describe import describe

    with torch.random.fork_rng(devices=[]):  # building draws a random initialisation
        return describe(build_model(config(preset_or_config).model, classes))


@dataclass(frozen=True)
class Report:
    """A folder of run folders with its report: summary.json, report.md, report.html; `table` has
    one record per experiment in the homework's order (the report's comparison table, with the
    experiment's run folders under "runs"), `answers` the homework's questions and verdicts."""

    path: Path
    html: Path
    markdown: Path
    summary: Path
    table: list[dict]
    answers: list[dict]


def report(folder: str | Path, sweep: str | Path | None = None) -> Report:
    """(Re)write the report of the finished run folders under `folder` (and a sweep folder's table,
    `letterlab sweep`'s, in its "how far can we go" section)."""
    from letterlab.reports.document import render_report
    from letterlab.reports.experiments import load_experiments
    from letterlab.reports.questions import answer_all
    from letterlab.runs import read_json

    folder = Path(folder)
    written = render_report(folder, Path(sweep) if sweep else None)
    summaries = read_json(written["summary"])["experiments"]
    experiments = load_experiments(folder)  # the homework's order
    table = []
    for experiment in experiments:
        e = summaries[experiment.name]
        table.append({"experiment": experiment.name, "parameters": e["parameters"], "epochs": e["epochs"], "seeds": len(e["seeds"]),
                      **{key: e[key]["mean"] for key in ("train_seconds", "seconds_per_epoch", "train_accuracy", "val_accuracy",
                                                           "test_accuracy", "test_loss")},
                      "test_accuracy_std": e["test_accuracy"]["std"], "runs": [str(run.path) for run in experiment.runs]})
    answers = [{"number": a.number, "title": a.title, "claim": a.claim, "verdicts": a.verdicts} for a in answer_all(experiments)]
    return Report(folder, written["html"], written["markdown"], written["summary"], table, answers)


def reproduce(data: str | Path | None = None, *, out: str | Path | None = None, presets: list[str] | None = None,
              profile: str = "default", seeds: int = 1, faithful: bool = False, force: bool = False,
              device: torch.device | str | None = None, progress: bool | None = None, sweep: str | Path | None = None,
              announce: Callable[[str], None] | None = None) -> Report:
    """Train the homework's experiments (or `presets`) into `out` (default reports/<time>) under
    `profile` ("quick", "default", "full"), reusing finished runs and resuming interrupted ones,
    inspect every run, and write the report that answers the homework's questions."""
    import time

    from letterlab.models.presets import HOMEWORK_PRESETS
    from letterlab.pipeline import plan_runs, train_planned

    folder = Path(out or f"reports/{time.strftime('%Y%m%d-%H%M%S')}")
    source = str(Path(data).resolve()) if data else ""
    plan = plan_runs(list(presets or HOMEWORK_PRESETS), profile, seeds, faithful, source)
    if announce:
        announce(f"output folder: {folder} ({len(plan)} runs, profile {profile}; rerun with --out {folder} to continue)")
    train_planned(folder, plan, force=force, device=device, progress=progress, announce=announce or (lambda _: None))
    return report(folder, sweep)


def sweep(spec: str | Path, *, out: str | Path | None = None, seeds: int | None = None, settings: dict[str, Any] | None = None,
          only: list[str] | None = None, folds: int | None = None, address: str | None = None,
          max_concurrent: int | None = None, cpus_per_trial: float = 1, gpus_per_trial: float = 0, search: str | None = None,
          trials: int = 8, asha: bool = False, progress: bool | None = None, announce: Callable[[str], None] | None = None):
    """Run a sweep spec (TOML: a base, variants and/or a grid, seeds, data; docs/sweeps.md) on Ray
    Tune into `out` (default runs/sweep-<spec name>): each (variant, seed) an ordinary run folder
    out/<variant>/seed<k>, trained as `letterlab train` would. `address`: None starts Ray on this
    machine, "auto" or "ray://host:port" joins a cluster. `seeds`: 0..seeds-1 instead of the spec's;
    `settings` ({"train.epochs": 2}) add to its overrides; `only`: these variants beside the base;
    `folds` (2 or more) cross-validates every (variant, seed), a trial per fold (the spec's `fold_by`:
    by font unless it says "image"), in out/<variant>/seed<k>-fold<f>. `search` ("random" or "optuna")
    draws `trials` settings from the spec's [search] ranges (first seed only); `asha` stops weak
    trials early on validation accuracy. Running it again reuses finished trials and resumes interrupted ones. Returns a SweepResult (also OUT/sweep.json)."""
    from letterlab.sweeps.runner import run_sweep
    from letterlab.sweeps.spec import load_spec

    loaded = load_spec(spec, seeds, settings, only, folds)
    folder = Path(out) if out is not None else Path("runs") / f"sweep-{Path(spec).stem}"
    return run_sweep(loaded, folder, address=address, max_concurrent=max_concurrent, cpus_per_trial=cpus_per_trial,
                     gpus_per_trial=gpus_per_trial, search=search, trials=trials, asha=asha, progress=progress,
                     announce=announce or (lambda _: None))
