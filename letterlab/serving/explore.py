"""The explorer's answers (`letterlab serve RUN [RUN_B]`, page at `/`): one input through one or two
trained runs with what happens inside (feature maps or hidden units, saliency, Grad-CAM, the nearest
training images), the test set's confusion matrix and the images in each cell, McNemar's table of
two runs with the images in each cell, and the probe panel as it was after each epoch.

Images go to the page as PNG data URLs drawn with Pillow; every number comes from the run folder
and the run's own model, through the same functions the CLI and reports use."""

from __future__ import annotations

import base64
import io
import threading
import time
from functools import cached_property

import numpy as np
import torch
from torch import nn

from letterlab.errors import LetterlabError
from letterlab.evaluation.inspect import block_end, conv_layers, explain, tile
from letterlab.evaluation.probes import upscale
from letterlab.evaluation.statistics import mcnemar_exact
from letterlab.models.inputs import images_to_tensor
from letterlab.serving.predictors import ranked

NEIGHBOURS = 8  # nearest training images shown
NEIGHBOUR_POOL = 4000  # training images searched (a seeded sample when there are more)
TOP_UNITS = 8  # an MLP's most active first-layer units shown with their weights
CELL_LIMIT = 400  # images sent for one matrix cell (its "count" is always the whole cell's)
SCALE = 3  # pixels per map pixel in the grids
COMPARE_CELLS = ("both_right", "only_a_right", "only_b_right", "both_wrong")


def png_url(pixels: np.ndarray) -> str:
    """A uint8 (H, W) or (H, W, 3) array as a PNG data URL."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Float values scaled to their own min..max as uint8 (a constant array becomes black)."""
    low, high = float(values.min()), float(values.max())
    return ((values - low) / (high - low) * 255).astype(np.uint8) if high > low else np.zeros(values.shape, np.uint8)


def coloured(values: np.ndarray, colormap: str) -> np.ndarray:
    """uint8 RGB of float values in [0, 1] through a matplotlib colormap (no pyplot)."""
    import matplotlib

    return (matplotlib.colormaps[colormap](np.clip(values, 0, 1))[..., :3] * 255).astype(np.uint8)


class ExploredRun:
    """One run as the explorer sees it: its model, test set, predictions and neighbour index."""

    def __init__(self, run, number: int):
        self.run, self.id = run, number
        # Requests run on threads; the forward hooks that capture layers are per model, so one
        # request at a time goes through this model (others wait milliseconds).
        self.lock = threading.RLock()
        self.model = run.model
        self.model.eval()
        self.convs = conv_layers(self.model)
        self.kind = run.config.model.kind

    @cached_property
    def test(self):
        return self.run.data()

    @cached_property
    def evaluation(self):
        return self.run.evaluate(self.test)

    @cached_property
    def neighbour_pool(self) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        """(images, labels, last-hidden-layer features) of up to NEIGHBOUR_POOL training images."""
        from letterlab.data.run_data import load_run_splits

        train = load_run_splits(self.run.path, self.run.config).train
        picked = np.sort(np.random.default_rng(0).permutation(len(train))[:NEIGHBOUR_POOL])
        images = train.images[picked]
        features = torch.cat([self.features(images[i:i + 500]) for i in range(0, len(images), 500)])
        return images, train.labels[picked], features

    def warm(self) -> None:
        """Compute the test predictions and the neighbour index now (seconds), not on a request."""
        _ = self.evaluation, self.neighbour_pool

    def info(self) -> dict:
        results = self.run.results
        return {"id": self.id, "name": self.run.path.name, "preset": self.run.config.preset or "custom", "kind": self.kind,
                "classes": list(self.run.classes), "test_accuracy": results.test_accuracy if results else self.evaluation.accuracy,
                "test_n": self.evaluation.n, "epochs": len(self.run.history), "replay": bool(self.replay_tags())}

    @torch.inference_mode()
    def features(self, images: np.ndarray) -> torch.Tensor:
        """The input of the output layer (the last hidden layer's values), (N, width), L2-normalised."""
        with self.lock:
            return self._features(images)

    def _features(self, images: np.ndarray) -> torch.Tensor:
        captured = []
        handle = self.model.out.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
        try:
            self.model(images_to_tensor(images, self.run.device))
        finally:
            handle.remove()
        return nn.functional.normalize(captured[0].float().flatten(1), dim=1).cpu()

    def top(self, image: np.ndarray) -> list[dict]:
        with self.lock:
            probabilities = self.run.predict(image[None])[0]
        return ranked(probabilities, list(self.run.classes), len(self.run.classes))

    def detail(self, image: np.ndarray) -> dict:
        """Everything the page shows inside the model for one input."""
        with self.lock:
            return self._detail(image)

    def _detail(self, image: np.ndarray) -> dict:
        x = images_to_tensor(image[None], self.run.device)
        _, saliency, cam = explain(self.model, x)
        heat = coloured(to_uint8(saliency[0]) / 255.0, "hot")
        gradcam = None
        if cam is not None:
            grey = np.repeat(image[..., None], 3, 2).astype(float)
            gradcam = (0.55 * grey + 0.45 * coloured(to_uint8(cam[0]) / 255.0, "jet")).astype(np.uint8)
        has_hidden = not self.convs and hasattr(self.model, "fc1")  # an MLP with at least one hidden layer
        return {"layers": self.layer_grids(x), "units": self.units(x) if has_hidden else None,
                "saliency_png": png_url(upscale(heat, 4)), "gradcam_png": png_url(upscale(gradcam, 4)) if gradcam is not None else None,
                "neighbours": self.neighbours(image)}

    @torch.inference_mode()
    def layer_grids(self, x: torch.Tensor) -> list[dict]:
        """Each conv block's feature maps (after its pooling and activation) as one grid image."""
        if not self.convs:
            return []
        ends = {block_end(self.model, layer): layer for layer in range(1, len(self.convs) + 1)}
        grids, out = [], x
        for name, module in self.model.named_children():
            out = module(out)
            if name in ends:
                maps = out[0].float().cpu().numpy()
                grids.append({"name": self.convs[ends[name] - 1], "title": f"{self.convs[ends[name] - 1]}: {len(maps)} maps of "
                              f"{maps.shape[1]}x{maps.shape[2]}", "png": png_url(upscale((tile(maps) * 255).astype(np.uint8), SCALE))})
                if len(grids) == len(ends):
                    break
        return grids

    @torch.inference_mode()
    def units(self, x: torch.Tensor) -> dict:
        """An MLP's first hidden layer: every unit's activation as a strip, and the first-layer
        weights (as 28x28 images) of the most active units."""
        fc1 = self.model.fc1
        activations = next(module for name, module in self.model.named_children() if name.endswith("1") and name != "fc1")(
            fc1(x.flatten(1)))[0].float().cpu().numpy()
        strip = np.tile(to_uint8(activations)[None], (12, 1))
        weights = fc1.weight.detach().float().cpu().numpy()
        best = np.argsort(-activations, kind="stable")[:TOP_UNITS]
        return {"title": f"{len(activations)} hidden units of the first layer (bright: active)",
                "activations_png": png_url(upscale(coloured(strip / 255.0, "viridis"), 4)),
                "top_units": [{"unit": int(u), "activation": float(activations[u]),
                               "weights_png": png_url(upscale(to_uint8(weights[u].reshape(28, 28)), 3))} for u in best]}

    def neighbours(self, image: np.ndarray) -> list[dict]:
        images, labels, pool = self.neighbour_pool
        distance = 1 - pool @ self.features(image[None])[0]  # cosine distance
        nearest = torch.argsort(distance)[:NEIGHBOURS].numpy()
        return [{"index": int(i), "label": self.run.classes[labels[i]], "distance": round(float(distance[i]), 4),
                 "png": png_url(upscale(images[i], 2))} for i in nearest]

    def replay_tags(self) -> dict[str, list]:
        if not self.run.config.train.log_probes:
            return {}
        return self.probe_events

    @cached_property
    def probe_events(self) -> dict[str, list]:
        from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

        events = EventAccumulator(str(self.run.path), size_guidance={IMAGES: 0})
        events.Reload()
        tags = events.Tags()["images"]
        return {tag: events.Images(tag) for tag in ("probes/predictions", "probes/filters", "probes/feature_maps") if tag in tags}


class Explorer:
    """The explorer over one or two runs (letterlab.Run objects)."""

    def __init__(self, runs: list):
        if not 1 <= len(runs) <= 2:
            raise LetterlabError("the explorer shows one or two runs")
        self.runs = [ExploredRun(run, number) for number, run in enumerate(runs)]
        if len(runs) == 2 and runs[0].classes != runs[1].classes:
            raise LetterlabError(f"{runs[0].path} and {runs[1].path} have different classes; the explorer compares runs of the same classes")
        if len(runs) == 2 and not np.array_equal(self.runs[0].test.images, self.runs[1].test.images):
            raise LetterlabError(f"{runs[0].path} and {runs[1].path} have different test splits; the explorer compares runs on the same images")
        self.classes = runs[0].classes
        for explored in self.runs:  # the slow parts now, before the first request
            explored.warm()

    def run(self, number: int) -> ExploredRun:
        if not 0 <= number < len(self.runs):
            raise LookupError(f"no run {number}; runs are 0..{len(self.runs) - 1}")
        return self.runs[number]

    def runs_info(self) -> dict:
        return {"runs": [explored.info() for explored in self.runs]}

    def explain(self, image: np.ndarray, runs: list[int] | None, detail: str, label: str | None = None) -> dict:
        started = time.perf_counter()
        chosen = [self.run(number) for number in (runs if runs is not None else range(len(self.runs)))]
        results = [{"run": explored.id, "top": explored.top(image),
                    "detail": explored.detail(image) if detail == "full" else None} for explored in chosen]
        return {"input": image.tolist(), "label": label, "results": results, "milliseconds": (time.perf_counter() - started) * 1000}

    def test_image(self, index: int) -> tuple[np.ndarray, str]:
        test = self.runs[0].test
        if not 0 <= index < len(test):
            raise LookupError(f"test_index {index}: the test set has images 0..{len(test) - 1}")
        return test.images[index], self.classes[test.labels[index]]

    def test_summary(self, number: int) -> dict:
        e = self.run(number).evaluation
        return {"classes": list(self.classes), "confusion": e.confusion.tolist(), "per_class": e.per_class, "accuracy": e.accuracy, "n": e.n}

    def cell(self, number: int, true: str, predicted: str) -> dict:
        if true not in self.classes or predicted not in self.classes:
            raise ValueError(f"true and predicted must be class names ({', '.join(self.classes[:3])}, ...)")
        e = self.run(number).evaluation
        picked = np.flatnonzero((e.labels == self.classes.index(true)) & (e.predictions == self.classes.index(predicted)))
        confidence = e.probabilities[picked, e.predictions[picked]]
        order = picked[np.lexsort((picked, -confidence))]
        images = self.run(number).test.images
        return {"count": int(len(picked)), "images": [
            {"index": int(i), "true": true, "predicted": predicted, "confidence": round(float(e.probabilities[i, e.predictions[i]]), 4),
             "png": png_url(upscale(images[i], 2))} for i in order[:CELL_LIMIT]]}

    def compare(self) -> dict:
        a, b = self.pair()
        cells = self.compare_masks()
        test = mcnemar_exact(a.evaluation.correct, b.evaluation.correct)
        return {"a": a.run.path.name, "b": b.run.path.name, "n": a.evaluation.n,
                **{name: int(mask.sum()) for name, mask in cells.items()}, "p_value": test["p_value"], "significant": test["p_value"] < 0.05}

    def compare_cell(self, which: str) -> dict:
        if which not in COMPARE_CELLS:
            raise ValueError(f"which: one of {', '.join(COMPARE_CELLS)}")
        a, b = self.pair()
        picked = np.flatnonzero(self.compare_masks()[which])
        images = a.test.images
        return {"count": int(len(picked)), "images": [
            {"index": int(i), "true": self.classes[a.evaluation.labels[i]], "a_predicted": self.classes[a.evaluation.predictions[i]],
             "b_predicted": self.classes[b.evaluation.predictions[i]], "png": png_url(upscale(images[i], 2))} for i in picked[:CELL_LIMIT]]}

    def pair(self) -> tuple[ExploredRun, ExploredRun]:
        if len(self.runs) != 2:
            raise LookupError("comparing needs two runs: letterlab serve RUN_A RUN_B")
        return self.runs[0], self.runs[1]

    def compare_masks(self) -> dict[str, np.ndarray]:
        a, b = (explored.evaluation.correct for explored in self.pair())
        return {"both_right": a & b, "only_a_right": a & ~b, "only_b_right": ~a & b, "both_wrong": ~a & ~b}

    def replay(self, number: int) -> dict:
        explored = self.run(number)
        tags = explored.replay_tags()
        if not tags:
            raise LookupError(f"{explored.run.path.name} logged no probe panel (train with --probes)")
        by_epoch: dict[int, dict] = {}
        names = {"probes/predictions": "predictions_png", "probes/filters": "filters_png", "probes/feature_maps": "feature_maps_png"}
        for tag, events in tags.items():
            for event in events:
                frame = by_epoch.setdefault(event.step, {"epoch": event.step, "predictions_png": None, "filters_png": None,
                                                         "feature_maps_png": None})
                frame[names[tag]] = "data:image/png;base64," + base64.b64encode(event.encoded_image_string).decode()
        frames = [by_epoch[epoch] for epoch in sorted(by_epoch)]
        return {"epochs": [frame["epoch"] for frame in frames], "frames": frames}
