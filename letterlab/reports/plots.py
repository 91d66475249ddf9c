"""The report's figures, drawn from run folders' metrics: curves per batch and per epoch, test
confusion, overlaid validation curves, first-layer gradients."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from letterlab.evaluation.figures import confusion_image, new_figure
from letterlab.reports.experiments import Experiment


def _style(experiment: Experiment) -> str:
    return "--" if experiment.config.train.loss == "double_softmax" else "-"


def curves_figure(experiment: Experiment) -> Figure:
    """Top row: train loss and accuracy of every batch, validation at each epoch's last batch.
    Bottom row: the same per epoch. One colour per seed."""
    figure = new_figure(figsize=(10, 6.4), dpi=90)
    axes = figure.subplots(2, 2)
    for colour, run in enumerate(experiment.runs):
        steps = np.concatenate([np.arange(m["first_step"], m["last_step"] + 1) for m in run.metrics])
        ends = [m["last_step"] for m in run.metrics]
        epochs = [m["epoch"] for m in run.metrics]
        seed = f"seed {run.config.train.seed}"
        for column, what in enumerate(("loss", "accuracy")):
            batch = np.concatenate([m[f"batch_{what}"] for m in run.metrics])
            axes[0, column].plot(steps, batch, color=f"C{colour}", alpha=0.35, linewidth=0.6, label=f"train, {seed}")
            axes[0, column].plot(ends, [m[f"val_{what}"] for m in run.metrics], "o-", color=f"C{colour}", markersize=2.5,
                                 label=f"validation, {seed}")
            axes[1, column].plot(epochs, [m[f"train_{what}"] for m in run.metrics], color=f"C{colour}", label=f"train, {seed}")
            axes[1, column].plot(epochs, [m[f"val_{what}"] for m in run.metrics], "--", color=f"C{colour}", label=f"validation, {seed}")
    for row, unit in enumerate(("batch (global step)", "epoch")):
        for column, what in enumerate(("loss", "accuracy")):
            axes[row, column].set_xlabel(unit)
            axes[row, column].set_ylabel(what)
            axes[row, column].set_title(f"{what} per {unit.split()[0]}")
            axes[row, column].grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    axes[1, 1].legend(fontsize=7)
    for axis in axes[1]:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(experiment.name)
    figure.tight_layout()
    return figure


def test_confusion_image(experiment: Experiment) -> np.ndarray:
    """Test confusion heat map, counts summed over the experiment's seeds."""
    confusion = np.sum([run.results["confusion"] for run in experiment.runs], axis=0)
    seeds = f", {len(experiment.runs)} seeds summed" if len(experiment.runs) > 1 else ""
    return confusion_image(confusion, f"{experiment.name}: test{seeds}", experiment.runs[0].classes)


def validation_figure(experiments: list[Experiment]) -> Figure:
    """Validation loss and accuracy per epoch of every experiment on shared axes (mean over seeds)."""
    figure = new_figure(figsize=(11, 4.4), dpi=90)
    axes = figure.subplots(1, 2)
    for colour, experiment in enumerate(experiments):
        for axis, key in zip(axes, ("val_loss", "val_accuracy")):
            series = experiment.epoch_series(key).mean(0)
            axis.plot(np.arange(1, len(series) + 1), series, _style(experiment), color=f"C{colour % 10}", label=experiment.name)
    for axis, title in zip(axes, ("validation loss", "validation accuracy")):
        axis.set_xlabel("epoch")
        axis.set_title(title)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    figure.tight_layout()
    return figure


def gradient_figure(experiments: list[Experiment]) -> Figure:
    """Mean |gradient| reaching the first layer's weights per epoch (mean over seeds), log scale."""
    figure = new_figure(figsize=(7, 4), dpi=90)
    axis = figure.subplots()
    for colour, experiment in enumerate(experiments):
        series = experiment.epoch_series("first_layer_grad").mean(0)
        axis.plot(np.arange(1, len(series) + 1), series, _style(experiment), color=f"C{colour}", label=experiment.name)
    axis.set_yscale("log")
    axis.set_xlabel("epoch")
    axis.set_ylabel("mean |dL/dW| of the first layer")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title("gradient reaching the first layer")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure
