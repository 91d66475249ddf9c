"""The training loop: one screen, with named hook points ("batch_end", "epoch_end") for
TensorBoard, metrics files, checkpoints and progress bars.

A batch takes one of four paths; all record the same numbers (every batch's loss, the predicted
class of every image, the first layer's gradient) and share this module's bookkeeping
(`check_finite`, `epoch_result`, the hooks):
1. plain autograd and the optimizer (`run_steps`): always right, and the only path with
   `fast_paths = false`;
2. the MLP step with its backward pass written out (`manual_mlp`): an MLP with plain SGD
   (no momentum, weight decay or label smoothing), fp32, no augmentation, mixing or teachers, on a CPU;
3. stacked seeds (`stacked`): several seeds of one MLP without augmentation, mixing, teachers or
   weight averaging trained as one model (`train --seeds N`, `reproduce --seeds N`), any device; its steps
   take path 2 where path 2 applies, else autograd;
4. a CUDA graph of the step (`graphed`): on a GPU with a constant learning rate, no augmentation,
   mixing or teachers, every full-size batch after a run's first few (eager) steps replays one captured step.
Mixup/CutMix (`mixing`) and distillation (`distill`) therefore always take path 1. Weight
averaging (`swa`) works at epoch ends, outside the steps, on paths 1, 2 and 4.
Paths 2-4 match path 1 up to float rounding (tests/test_manual_mlp.py, test_stacked.py,
test_graphed.py, test_fast_paths.py).

Per-batch numbers stay on the device during an epoch and are read once at its end, so the loop
never waits for the device inside an epoch. Outside the steps, `fast_paths` also switches the
TensorBoard writer's records to `writers.RecordFile` (checksums in C, one buffered file; the same bytes)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from letterlab.errors import TrainingDiverged
from letterlab.models.inference import autocast, loss_from_logits, predict_logits
from letterlab.run_config import TrainConfig
from letterlab.training.augment import augment_batch, is_active
from letterlab.training.batches import epoch_order, order_shape
from letterlab.training.distill import distillation_loss, ensemble_probabilities
from letterlab.training.graphed import GraphedSteps, can_graph
from letterlab.training.manual_mlp import can_step_manually, manual_steps
from letterlab.training.mixing import mix_batch, mixed_loss
from letterlab.training.schedule import learning_rate, set_learning_rate, total_steps
from letterlab.training.swa import averages, finish_average, update_average


@dataclass
class TrainingState:
    """What a checkpoint must carry to resume exactly."""

    model: nn.Module
    new_optimizer: Callable[[], torch.optim.Optimizer]  # makes `optimizer` on its first use
    batch_generator: torch.Generator  # batch order; dropout uses torch's global generator
    epoch: int = 0  # epochs completed
    step: int = 0  # batches completed (TensorBoard's global step)
    averaged: AveragedModel | None = None  # the weight average (`swa_epochs`), from the first averaged epoch on
    # The distillation teachers' models (`teachers`), in evaluation mode; not in checkpoints: loaded from their run folders
    teachers: list[nn.Module] = field(default_factory=list)

    @functools.cached_property
    def optimizer(self) -> torch.optim.Optimizer:
        """Made on first use: the written-out MLP step (path 2) never uses one, and making torch's
        first optimizer imports torch._dynamo (about 1.5 s of start-up; docs/performance.md)."""
        return self.new_optimizer()

    @property
    def has_optimizer(self) -> bool:
        return "optimizer" in self.__dict__


@dataclass
class EpochResult:
    epoch: int  # 1-based
    first_step: int  # global step of the epoch's first batch (steps count from 1)
    batch_loss: np.ndarray
    batch_accuracy: np.ndarray
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    first_layer_grad: float  # mean |dL/dW| reaching the first weight layer, averaged over batches
    seconds: float
    images: int  # training images processed this epoch
    val_predictions: np.ndarray  # predicted class of every validation image after this epoch


Hook = Callable[[TrainingState, EpochResult], None]


@dataclass
class Hooks:
    batch_end: list[Callable[[int], None]] = field(default_factory=list)  # called with the batch index
    epoch_end: list[Hook] = field(default_factory=list)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimizer; on a GPU, Adam keeps its step count on the device (`capturable`),
    which a CUDA graph of the epoch needs."""
    on_gpu = next(model.parameters()).is_cuda
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True, capturable=on_gpu)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True, capturable=on_gpu)
    if config.optimizer == "nadam":
        return torch.optim.NAdam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True, capturable=on_gpu)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                                   foreach=True, capturable=on_gpu)
    # foreach: one multi-tensor update instead of a Python loop over parameters (docs/performance.md).
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, foreach=True)


def first_weight(model: nn.Module) -> torch.Tensor:
    return next(m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def run_steps(state: TrainingState, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, batches, predicted: torch.Tensor,
              batch_end=(), targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The optimisation steps over `batches` (index tensors into x, y); the predicted class of every
    image, in batch order, goes into `predicted`. With mixing, each batch's slice of `targets` (the
    labels in batch order, when given) becomes the label of larger weight, which train accuracy is
    scored against. Returns every batch's loss and first-layer gradient L1 norm as device tensors:
    nothing here waits for the device (so it can be captured into a CUDA graph, letterlab.training.graphed)."""
    model = state.model
    if config.fast_paths and can_step_manually(model, x, config):  # path 2 of the module docstring
        return manual_steps(model, x, y, config, batches, predicted, state.step, batch_end)
    optimizer = state.optimizer
    weight = first_weight(model)
    losses, grad_l1, outputs = [], [], []
    steps = total_steps(config, len(batches))
    augmenting = is_active(config.augment)  # decided once per epoch, not per batch (docs/performance.md)
    mixing, first = config.mix != "none", 0
    for i, index in enumerate(batches):
        # A gather per batch: the batch stays in cache for the forward pass (one gather of the
        # whole epoch was measured slower on CPU).
        batch_x, batch_y = x.index_select(0, index), y.index_select(0, index)  # ~6x faster than x[index] on a CPU here
        if augmenting:
            batch_x = augment_batch(batch_x, config.augment, state.batch_generator)
        if mixing:
            mixed = mix_batch(batch_x, batch_y, config.mix, config.mix_alpha, state.batch_generator)
            batch_x = mixed.images
        set_learning_rate(optimizer, learning_rate(config, state.step + i, steps))
        with autocast(x.device, config.precision):
            logits = model(batch_x)
        if mixing:
            loss = mixed_loss(logits.float(), batch_y, mixed, config.loss, config.label_smoothing)
            if targets is not None:
                targets[first:first + len(index)] = mixed.dominant(batch_y)
            first += len(index)
        else:
            loss = loss_from_logits(logits.float(), batch_y, config.loss, smoothing=config.label_smoothing)
        if state.teachers:
            soft = ensemble_probabilities(state.teachers, batch_x, config.distill_temperature, config.precision)
            loss = (1 - config.distill_weight) * loss + config.distill_weight * distillation_loss(logits.float(), soft, config.distill_temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        outputs.append(logits.detach())  # one argmax for the whole epoch at its end (docs/performance.md)
        # In place: the step has used the gradient, and the next zero_grad drops it; unlike
        # abs().sum() this copies nothing.
        grad_l1.append(weight.grad.abs_().sum())
        for hook in batch_end:
            hook(i)
    torch.argmax(torch.cat(outputs), 1, out=predicted)
    return torch.stack(losses), torch.stack(grad_l1)


def train_epoch(state: TrainingState, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, hooks: Hooks,
                graphed: GraphedSteps | None = None):
    """One epoch of optimisation (eager, or through `graphed`'s captured step); returns per-batch
    losses, accuracies, sizes and first-layer gradients, read from the device once at the end."""
    state.model.train()
    order, size = epoch_order(len(y), config.batch_size, config.batch_order, state.batch_generator)
    predicted = torch.empty(len(order), dtype=y.dtype, device=y.device)
    targets = y[order.to(y.device)]
    steps = graphed or functools.partial(run_steps, state, x, y, config, targets=targets)
    losses, grad_l1 = steps(order.to(x.device).split(size), predicted, hooks.batch_end)
    sizes = np.array([len(batch) for batch in order.split(size)])
    grads = grad_l1.cpu().numpy() / first_weight(state.model).numel()
    return losses.cpu().numpy(), batch_accuracies(predicted == targets, sizes), sizes, grads


def batch_accuracies(correct: torch.Tensor, sizes: np.ndarray) -> np.ndarray:
    """Accuracy of each batch from `correct` (..., images in batch order) and the batch sizes."""
    return np.add.reduceat(correct.cpu().numpy(), np.cumsum(sizes) - sizes, axis=-1) / sizes


def evaluate_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig) -> tuple[float, float, np.ndarray]:
    """(mean loss, accuracy, predicted classes) on a whole set, batched, in evaluation mode."""
    if len(y) == 0:
        return float("nan"), float("nan"), np.empty(0, dtype=np.int64)
    logits = predict_logits(model, x, config.eval_batch_size, config.precision)
    loss = loss_from_logits(logits, y, config.loss).item()
    predicted = logits.argmax(1)
    return loss, (predicted == y).float().mean().item(), predicted.cpu().numpy()


def check_finite(losses: np.ndarray, epoch: int, kept: str = "") -> None:
    """Raise TrainingDiverged at the first NaN or infinite batch loss of the epoch."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if len(bad):
        raise TrainingDiverged(f"loss became {losses[bad[0]]} at epoch {epoch}, batch {bad[0] + 1}{kept}")


def epoch_result(epoch: int, first_step: int, losses: np.ndarray, accuracies: np.ndarray, sizes: np.ndarray,
                 grads: np.ndarray, val: tuple[float, float, np.ndarray], seconds: float) -> EpochResult:
    """The epoch's record from its per-batch numbers and its validation (loss, accuracy, predictions)."""
    val_loss, val_accuracy, val_predictions = val
    return EpochResult(
        epoch=epoch, first_step=first_step, batch_loss=losses, batch_accuracy=accuracies,
        train_loss=float(np.average(losses, weights=sizes)), train_accuracy=float(np.average(accuracies, weights=sizes)),
        val_loss=val_loss, val_accuracy=val_accuracy, first_layer_grad=float(grads.mean()), seconds=seconds,
        images=int(sizes.sum()), val_predictions=val_predictions,
    )


def fit(state: TrainingState, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
        config: TrainConfig, hooks: Hooks) -> TrainingState:
    """Train from `state.epoch` up to `config.epochs`, calling the hooks after every epoch; with
    `swa_epochs`, `state.model` ends as the weight average (letterlab.training.swa).

    On a GPU, steps after the first few replay a CUDA graph of the step where possible (graphed.py)."""
    x, y = train
    graphed = None
    if config.fast_paths and can_graph(x, config):
        graphed = GraphedSteps(functools.partial(run_steps, state, x, y, config),
                               order_shape(len(y), config.batch_size, config.batch_order)[1], x.device)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        started = time.perf_counter()
        with graphed.on_stream() if graphed else contextlib.nullcontext():
            losses, accuracies, sizes, grads = train_epoch(state, x, y, config, hooks, graphed)
        seconds = time.perf_counter() - started
        check_finite(losses, epoch, f"; the last good checkpoint (epoch {state.epoch}) is kept")
        result = epoch_result(epoch, state.step + 1, losses, accuracies, sizes, grads,
                              evaluate_loss(state.model, *val, config), seconds)
        state.epoch, state.step = epoch, state.step + len(losses)
        if averages(config, epoch):  # before the hooks: the epoch's checkpoint carries the average
            state.averaged = update_average(state.averaged, state.model)
        for hook in hooks.epoch_end:
            hook(state, result)
    if state.averaged is not None:
        finish_average(state.averaged, state.model, x, config)
    return state
