"""letterlab: train, compare and understand small neural networks on 28x28 letter images.

The public API (see `letterlab.api` and the README's "Python API" section):

    import letterlab
    run = letterlab.train("cnn", epochs=1)
    run.evaluate().accuracy, run.plot_confusion()

Names are imported on first use, so `import letterlab` (and the `letterlab` command's start-up)
stays light until one is needed."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
LETTERS = "ABCDEFGHIJ"
NUM_CLASSES = len(LETTERS)
IMAGE_SIZE = 28

# public name -> the module that defines it
_EXPORTS = {
    "train": "letterlab.api", "train_seeds": "letterlab.api", "load_run": "letterlab.api", "load_data": "letterlab.api",
    "presets": "letterlab.api", "config": "letterlab.api", "compare": "letterlab.api", "evaluate_ensemble": "letterlab.api",
    "summary": "letterlab.api", "load_model": "letterlab.api", "serve": "letterlab.api", "reproduce": "letterlab.api",
    "report": "letterlab.api", "review": "letterlab.api", "sweep": "letterlab.api",
    "SweepResult": "letterlab.sweeps.results", "TrialResult": "letterlab.sweeps.results", "VariantSummary": "letterlab.sweeps.results",
    "OnnxModel": "letterlab.serving.onnx_model", "ExportReport": "letterlab.serving.export",
    "data_info": "letterlab.api", "convert_data": "letterlab.api", "check_data": "letterlab.api", "download_data": "letterlab.api",
    "Run": "letterlab.api", "EpochRecord": "letterlab.api", "Report": "letterlab.api",
    "Evaluation": "letterlab.evaluation.scoring", "RunResults": "letterlab.evaluation.scoring",
    "Comparison": "letterlab.evaluation.statistics", "Calibration": "letterlab.evaluation.calibration",
    "Mistakes": "letterlab.evaluation.mistakes", "LayerRow": "letterlab.models.describe",
    "LetterImages": "letterlab.data.dataset", "LoadedData": "letterlab.data.dataset",
    "RunConfig": "letterlab.run_config", "TrainConfig": "letterlab.run_config", "MLPConfig": "letterlab.run_config",
    "CNNConfig": "letterlab.run_config", "ResNetConfig": "letterlab.run_config",
    "LetterlabError": "letterlab.errors", "HOMEWORK_PRESETS": "letterlab.models.presets",
}

__all__ = sorted(_EXPORTS) + ["LETTERS", "NUM_CLASSES", "IMAGE_SIZE", "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # once: later lookups skip this function
        return value
    raise AttributeError(f"module 'letterlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
