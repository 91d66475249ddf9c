"""Looking inside every run of a reproduce folder: error grids, filters, feature maps, saliency,
calibration and the accuracy interval, written into the run folder (`figures/`, `inspection.json`)
so that the report, rendered from run folders alone, can show them and test CNN against MLP."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from letterlab.evaluation.calibration import calibrate_run
from letterlab.evaluation.inspect import inspect_run
from letterlab.evaluation.mistakes import run_mistakes, write_error_report
from letterlab.evaluation.statistics import accuracy_with_interval, mcnemar_exact
from letterlab.files import write_json_atomic
from letterlab.runs import CONFIG, ENVIRONMENT, FIGURES, INSPECTION, read_json


def inspect_for_report(run_dir: Path, device=None) -> dict:
    """All inspection outputs of one finished run, on its own test split; returns inspection.json."""
    mistakes = run_mistakes(run_dir, None, device)
    data = mistakes.data
    write_error_report(mistakes, run_dir / FIGURES, top_pairs=2)
    # The homework's choice: feature maps for a few test letters (an A, a B and a C).
    shown = [int(np.flatnonzero(data.labels == letter)[0]) for letter in range(3) if np.any(data.labels == letter)]
    is_cnn = read_json(run_dir / CONFIG)["model"]["kind"] != "mlp"
    inspect_run(run_dir, filters=True, maps=shown if is_cnn else (), saliency=shown, device=device)
    calibration = calibrate_run(run_dir, None, device)
    correct = np.ones(len(data), dtype=bool)
    correct[mistakes.index] = False
    record = {
        **accuracy_with_interval(correct),
        "ece_before": calibration.before["ece"], "ece_after": calibration.after["ece"],
        "temperature": calibration.temperature, "temperature_fitted": calibration.temperature_fitted,
        "data_sha256": read_json(run_dir / ENVIRONMENT).get("data", {}).get("sha256"),
        "test_correct": correct.astype(int).tolist(),  # per test image, for McNemar between runs
    }
    write_json_atomic(run_dir / INSPECTION, record)
    return record


def mcnemar_between(run_a: Path, run_b: Path) -> dict | None:
    """McNemar's exact test from two runs' inspection.json, when both were scored on the same data."""
    a, b = read_json(run_a / INSPECTION), read_json(run_b / INSPECTION)
    if not a or not b or a.get("data_sha256") != b.get("data_sha256") or a["n"] != b["n"]:
        return None
    return mcnemar_exact(np.array(a["test_correct"], bool), np.array(b["test_correct"], bool))
