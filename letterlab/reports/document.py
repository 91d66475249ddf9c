"""The report as a list of blocks built from run folders alone; `markdown` and `html` render the
same blocks. `render_report` writes summary.json, report.md and report.html."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from letterlab.errors import LetterlabError
from letterlab.evaluation.figures import figure_to_png, image_to_png
from letterlab.files import write_text_atomic
from letterlab.reports import plots
from letterlab.reports.blocks import Block, Bullets, Heading, Image, Paragraph, Table
from letterlab.reports.experiments import Experiment, Run, load_experiments, write_summary
from letterlab.reports.html import to_html
from letterlab.reports.markdown import to_markdown
from letterlab.reports.profiles import differences_from_homework
from letterlab.reports.questions import BUG, Answer, answer_all, percent, with_spread
from letterlab.reports.sweep_section import how_far_blocks
from letterlab.runs import FIGURES as RUN_FIGURES
from letterlab.runs import INSPECTION, read_json

FIGURES = "report-figures"  # the report's own PNGs, beside report.md


class FigureWriter:
    """Saves figures as PNGs under `out/report-figures` and returns Image blocks pointing at them."""

    def __init__(self, out: Path):
        self.out = out
        (out / FIGURES).mkdir(exist_ok=True)

    def __call__(self, figure, name: str, alt: str) -> Image:
        """`figure`: a matplotlib Figure or an RGB array."""
        png = image_to_png(figure) if isinstance(figure, np.ndarray) else figure_to_png(figure)
        (self.out / FIGURES / f"{name}.png").write_bytes(png)
        return Image(f"{FIGURES}/{name}.png", alt)


def run_figures(out: Path, run: Run) -> list[Block]:
    """Any PNGs a later step saved in the run folder's `figures/` subfolder, in name order."""
    images = sorted((run.path / RUN_FIGURES).glob("*.png"))
    if not images:
        return []
    return [Heading(4, f"Inspection figures: {run.name}")] + [
        Image(str(path.relative_to(out)), f"{run.name}: {path.stem}") for path in images]


def comparison_table(experiments: list[Experiment]) -> Table:
    header = ["experiment", "parameters", "epochs", "seeds", "training s", "s per epoch",
              "train accuracy", "validation accuracy", "test accuracy", "test loss"]
    rows = [[e.name, f"{e.parameters:,}", str(e.config.train.epochs), str(len(e.runs)), f"{e.mean('train_seconds'):.1f}",
             f"{e.mean('seconds_per_epoch'):.3f}", with_spread(e, "train_accuracy"), with_spread(e, "val_accuracy"),
             with_spread(e, "test_accuracy"), f"{e.mean('test_loss'):.3f}"] for e in experiments]
    return Table(header, rows)


def overview(out: Path, experiments: list[Experiment]) -> list[Block]:
    data = experiments[0].runs[0].environment.get("data", {})
    runs = sum(len(e.runs) for e in experiments)
    blocks: list[Block] = [
        Heading(1, "The homework, reproduced"),
        Paragraph(f"{runs} runs in {len(experiments)} experiments, read from the run folders under {out}. "
                  f"Data: {data.get('source', 'unknown')}; train {data.get('train')}, validation {data.get('val')}, "
                  f"test {data.get('test')} images. Validation is measured at the end of each epoch (the dots on the per-batch "
                  f"plots). TensorBoard, all runs overlaid: tensorboard --logdir {out}"),
    ]
    by_change: dict[str, list[str]] = {}  # experiments grouped by what differs, so each change is listed once
    for e in experiments:
        if differences := differences_from_homework(e.config):
            by_change.setdefault("; ".join(differences), []).append(e.name)
    changed = [f"{', '.join(names)}: {change}" for change, names in by_change.items()]
    blocks.append(Paragraph("Settings that differ from the homework's:" if changed else "Every experiment used the homework's settings."))
    if changed:
        blocks.append(Bullets(changed))
    return blocks


def question_blocks(answer: Answer, found: dict[str, Experiment], figures: FigureWriter) -> list[Block]:
    blocks: list[Block] = [Heading(3, f"{answer.number}. {answer.title}"), Paragraph(f"Homework: {answer.claim}")]
    if answer.rows:
        blocks.append(Table(answer.header, answer.rows))
    blocks.append(Bullets(answer.verdicts))
    if answer.missing or not answer.rows:
        return blocks
    if answer.number == 1:
        shown = [found[name] for name in ("mlp-sigmoid-50", "mlp-tanh-50", "mlp-sigmoid-50" + BUG, "mlp-tanh-50" + BUG) if name in found]
        blocks.append(figures(plots.gradient_figure(shown), "q1-first-layer-gradient", "first-layer gradient per epoch"))
    if answer.number == 5:
        shown = [e for e in found.values() if e.name.startswith("mlp-")]
        blocks.append(figures(plots.validation_figure(shown), "q5-double-softmax", "validation curves with and without the bug"))
    return blocks


def experiment_blocks(out: Path, experiment: Experiment, figures: FigureWriter) -> list[Block]:
    seeds = ", ".join(str(run.config.train.seed) for run in experiment.runs)
    blocks: list[Block] = [
        Heading(3, experiment.name),
        Paragraph(f"Test accuracy {with_spread(experiment, 'test_accuracy')} (seeds {seeds}; best seed "
                  f"{percent(max(experiment.values('test_accuracy')))}); {experiment.config.train.epochs} epochs, "
                  f"{experiment.mean('seconds_per_epoch'):.3f} s per epoch. Run folders: "
                  f"{', '.join(run.name for run in experiment.runs)}."),
        figures(plots.curves_figure(experiment), f"{experiment.name}-curves", f"{experiment.name}: loss and accuracy"),
        figures(plots.test_confusion_image(experiment), f"{experiment.name}-confusion", f"{experiment.name}: test confusion matrix"),
    ]
    for run in experiment.runs:
        blocks += run_statistics(run) + run_figures(out, run)
    return blocks


def run_statistics(run: Run) -> list[Block]:
    """The run's accuracy with its 95% interval and its calibration, from inspection.json."""
    record = read_json(run.path / INSPECTION)
    if not record:
        return []
    low, high = record["ci95"]
    return [Paragraph(f"{run.name}: test accuracy {percent(record['accuracy'])} (95% Wilson interval {percent(low)} to "
                      f"{percent(high)}, {record['n']} images); expected calibration error {record['ece_before']:.4f}, "
                      f"{record['ece_after']:.4f} after temperature scaling (T = {record['temperature']:.3f}, "
                      f"{'fitted on validation' if record.get('temperature_fitted', True) else 'not fitted: the run has no validation part'}).")]


def build_document(out: Path, experiments: list[Experiment], sweep: Path | None = None) -> list[Block]:
    figures = FigureWriter(out)
    found = {e.name: e for e in experiments}
    blocks = overview(out, experiments)
    blocks += [Heading(2, "Comparison"), comparison_table(experiments),
               figures(plots.validation_figure(experiments), "validation-curves", "validation curves of every experiment")]
    blocks.append(Heading(2, "The homework's questions"))
    for answer in answer_all(experiments):
        blocks += question_blocks(answer, found, figures)
    blocks += how_far_blocks(experiments, sweep)
    blocks.append(Heading(2, "Experiments"))
    for experiment in experiments:
        blocks += experiment_blocks(out, experiment, figures)
    return blocks


def render_report(out: Path, sweep: Path | None = None) -> dict[str, Path]:
    """summary.json, report.md and report.html in `out`, from the finished run folders under it
    (and a sweep folder's table, for the "how far can we go" section)."""
    out = Path(out)
    experiments = load_experiments(out)
    if not experiments:
        raise LetterlabError(f"{out}: no finished run folders (config.json and results.json) to report on")
    write_summary(out, experiments)
    blocks = build_document(out, experiments, sweep)
    write_text_atomic(out / "report.md", to_markdown(blocks))
    write_text_atomic(out / "report.html", to_html(blocks, out))
    return {"summary": out / "summary.json", "markdown": out / "report.md", "html": out / "report.html"}
