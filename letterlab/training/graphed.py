"""Whole-epoch CUDA graphs: an epoch's training steps captured once and replayed with one launch.

On a GPU the homework's MLPs are pure launch overhead: a step's arithmetic is far smaller than the
Python and driver calls around it, 11,000 times a run (docs/performance.md). After the first epoch (run eagerly,
on the capture stream, so cuBLAS/cuDNN and the optimizer's state are set up there), `EpochGraph`
records the steps of one epoch, reading every batch through a fixed index buffer. Each later epoch
copies its new batch order into that buffer and replays the graph: the same kernels on the same
tensors as the eager loop, and no host-device sync until the epoch's numbers are read at its end.
Dropout's random numbers come from the graph-safe Philox offsets, so they differ from an eager run's.

Used only where the lr is constant within the epoch and nothing random is drawn on the host during
it (no augmentation); the first epoch of every (re)started run is eager."""

from __future__ import annotations

import torch

from letterlab.run_config import TrainConfig
from letterlab.training.augment import is_active


def can_graph(x: torch.Tensor, config: TrainConfig) -> bool:
    return x.is_cuda and config.schedule == "constant" and not is_active(config.augment)


class EpochGraph:
    """One epoch of `run_steps(batches, predicted)` captured on `stream`; `replay(order)` runs it
    for a new batch order and returns the step function's outputs (static tensors, overwritten
    by the next replay)."""

    def __init__(self, run_steps, order_length: int, batch_size: int, device: torch.device, stream: torch.cuda.Stream):
        self.order = torch.zeros(order_length, dtype=torch.long, device=device)
        self.predicted = torch.empty(order_length, dtype=torch.long, device=device)
        self.graph = torch.cuda.CUDAGraph()
        torch.cuda.synchronize(device)
        with torch.cuda.graph(self.graph, stream=stream):
            self.outputs = run_steps(self.order.split(batch_size), self.predicted)

    def replay(self, order: torch.Tensor):
        self.order.copy_(order)
        self.graph.replay()
        return self.outputs, self.predicted
