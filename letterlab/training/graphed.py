"""CUDA graphs of the training step: one step captured after a few eager warm-up steps, then
replayed for every batch.

On a GPU the homework's MLPs are pure launch overhead: a step's arithmetic is far smaller than the
Python and driver calls around it, 11,000 times a run (docs/performance.md). `GraphedSteps` runs
a run's first `WARMUP_STEPS` steps eagerly (on the capture stream, so cuBLAS/cuDNN, the allocator
and the optimizer's state are set up there), then records one step that reads its batch through a
fixed index buffer. Every later batch copies its indices into that buffer and replays the graph:
the same kernels on the same tensors as the eager loop, and no host-device sync until the epoch's
numbers are read at its end. A batch of another size (the short last batch of a shuffled epoch)
takes the eager step. Dropout's random numbers come from the graph-safe Philox offsets, so they
differ from an eager run's.

Used only where the lr is constant and nothing random is drawn on the host during an epoch (no
augmentation, mixing or teachers). The capture itself is `capture_step` (a CUDA graph); tests put a fake in its place
that replays by calling the step again, which is what a graph does, so the bookkeeping around it is
checked on a CPU too (tests/test_graphed.py)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import torch

from letterlab.run_config import TrainConfig
from letterlab.training.augment import is_active
from letterlab.training.schedule import constant_rate

WARMUP_STEPS = 3  # eager steps before the capture, as PyTorch's CUDA graph notes advise


def can_graph(x: torch.Tensor, config: TrainConfig) -> bool:
    return x.is_cuda and constant_rate(config) and not is_active(config.augment) and config.mix == "none" and not config.teachers


def capture_step(step: Callable[[], tuple], stream) -> Callable[[], tuple]:
    """`step()` recorded as a CUDA graph on `stream`; returns `replay()`, which runs it again and
    returns its outputs (tensors that the next replay overwrites)."""
    graph = torch.cuda.CUDAGraph()
    torch.cuda.synchronize()
    with torch.cuda.graph(graph, stream=stream):
        outputs = step()

    def replay() -> tuple:
        graph.replay()
        return outputs

    return replay


class GraphedSteps:
    """`loop.run_steps(batches, predicted, batch_end)` with each full-size batch replaying one
    captured step once the run has taken `WARMUP_STEPS` eager steps. `run_steps(batches, predicted)`
    is the eager loop on the run's state and data."""

    def __init__(self, run_steps, batch_size: int, device: torch.device):
        self.run_steps, self.batch_size = run_steps, batch_size
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        if self.stream is not None:
            self.stream.wait_stream(torch.cuda.current_stream(device))  # the data was made on the default stream
        self.index = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.predicted = torch.empty(batch_size, dtype=torch.long, device=device)
        self.replay: Callable[[], tuple] | None = None
        self.eager_steps, self.failed = 0, False

    def on_stream(self):
        """The capture stream as the current one (eager steps, capture and replays all run there)."""
        return torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()

    def __call__(self, batches, predicted: torch.Tensor, batch_end=()) -> tuple[torch.Tensor, torch.Tensor]:
        losses, grad_l1, start = [], [], 0
        for i, batch in enumerate(batches):
            full = len(batch) == self.batch_size
            if full and self.replay is None and not self.failed and self.eager_steps >= WARMUP_STEPS:
                self._capture()
            if full and self.replay is not None:
                self.index.copy_(batch)
                loss, grad = self.replay()
                predicted[start:start + len(batch)].copy_(self.predicted)
                loss, grad = loss.clone(), grad.clone()  # the next replay overwrites them
            else:
                loss, grad = self.run_steps([batch], predicted[start:start + len(batch)])
                self.eager_steps += 1
            losses.append(loss)
            grad_l1.append(grad)
            start += len(batch)
            for hook in batch_end:
                hook(i)
        return torch.cat(losses), torch.cat(grad_l1)

    def _capture(self) -> None:
        try:
            self.replay = capture_step(lambda: self.run_steps([self.index], self.predicted), self.stream)
        except RuntimeError as error:
            self.failed = True
            warnings.warn(f"CUDA graph capture failed, training on without it: {str(error).splitlines()[0]}", RuntimeWarning, stacklevel=3)
