"""Several seeds of one MLP trained as one model: each layer's weights stacked along a leading seed
axis, every layer one batched matmul (`baddbmm`), one optimizer step for all. The small MLPs are
bound by per-operation overhead, so N seeds together cost little more than one.

Each seed keeps its own initialisation, batch order and run folder, and its gradients
are exactly those of a separate run (the summed loss separates by seed); only the matmul kernels
differ, so a stacked model matches a separately trained one up to float rounding. Stacked runs
write no checkpoints: an interrupted group is trained again."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from letterlab.data.dataset import DataSplits
from letterlab.errors import TrainingDiverged
from letterlab.models.inference import autocast, loss_from_logits
from letterlab.models.inputs import images_to_tensor
from letterlab.models.layers import activation
from letterlab.run_config import MLPConfig, RunConfig
from letterlab.runs import RunLock, write_run_description
from letterlab.training.augment import is_active
from letterlab.training.batches import epoch_order
from letterlab.training.checkpoint import save_weights
from letterlab.training.loop import batch_accuracies, check_finite, epoch_result, make_optimizer
from letterlab.training.manual_mlp import batch_losses, plain_sgd_on_cpu, sgd_step
from letterlab.training.schedule import learning_rate, set_learning_rate, total_steps
from letterlab.training.session import TrainingContext, new_state
from letterlab.training.writers import MetricsFile, TensorBoardScalars, TimingFile, open_writer


class StackedMLP(nn.Module):
    """S MLPs of one shape as one module: input (S, B, 784) -> logits (S, B, classes)."""

    def __init__(self, models: list[nn.Sequential], activation_name: str):
        super().__init__()
        layers = [[layer for layer in model if isinstance(layer, nn.Linear)] for model in models]
        # weight (S, in, out): x @ W^T of each nn.Linear becomes one baddbmm for all seeds
        self.weights = nn.ParameterList(torch.stack([seed[i].weight.detach().t() for seed in layers]).contiguous()
                                        for i in range(len(layers[0])))
        self.biases = nn.ParameterList(torch.stack([seed[i].bias.detach() for seed in layers]).unsqueeze(1)
                                       for i in range(len(layers[0])))
        self.activation, self.activation_name = activation(activation_name), activation_name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias, x, weight)
            if i < last:
                x = self.activation(x)
        return x

    @torch.no_grad()
    def copy_into(self, seed: int, model: nn.Sequential) -> nn.Sequential:
        """Write seed `seed`'s weights into `model`, a separately built net of the same config."""
        for layer, weight, bias in zip([m for m in model if isinstance(m, nn.Linear)], self.weights, self.biases):
            layer.weight.copy_(weight[seed].t())
            layer.bias.copy_(bias[seed, 0])
        return model


def can_stack(configs: list[RunConfig]) -> bool:
    """True for two or more MLP runs without augmentation, mixing, teachers or weight averaging, with fast paths on,
    that differ only in their seed."""
    if len(configs) < 2 or not all(isinstance(c.model, MLPConfig) and not is_active(c.train.augment) and c.train.mix == "none"
                                   and c.train.swa_epochs == 0 and not c.train.teachers
                                   and c.train.fast_paths for c in configs):
        return False
    unseeded = [dataclasses.replace(c, train=dataclasses.replace(c.train, seed=0)) for c in configs]
    return all(c == unseeded[0] for c in unseeded)


def _rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """The one copy's rows at `index` (S, B) as (S, B, 784): `index_select`, not `x[seeds, index]`,
    whose advanced-indexing kernel took several times longer."""
    return x[0].index_select(0, index.reshape(-1)).view(*index.shape, -1)


def _tensors(part, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (1, N, 784) and labels (1, N): one copy of the data, indexed by every seed."""
    return images_to_tensor(part.images, device).flatten(1)[None], torch.from_numpy(part.labels).to(device)[None]


def train_stacked(configs: list[RunConfig], run_dirs: list[Path], splits: DataSplits, device: torch.device,
                  extra_hooks=()) -> list[nn.Sequential]:
    """Train runs that differ only in seed (so they share their data: `data_seed` is not the seed)
    together, each into its own run folder (metrics, timing, TensorBoard, weights, and `extra_hooks`
    as for `train_run`); returns the trained models."""
    t, count = configs[0].train, len(configs)
    states = [new_state(config, device, len(splits.classes)) for config in configs]  # each seed's model and batch order, as a separate run's
    models, generators = [s.model for s in states], [s.batch_generator for s in states]
    stack = StackedMLP(models, configs[0].model.activation).to(device)
    optimizer = make_optimizer(stack, t)
    for state in states:  # one optimizer steps the stack for every seed
        state.optimizer = optimizer
    x, y = _tensors(splits.train, device)
    val_x, val_y = _tensors(splits.val, device)
    seeds = torch.zeros(1, 1, dtype=torch.long, device=device)  # every seed reads the one copy
    with contextlib.ExitStack() as cleanup:
        hooks = []
        for config, run_dir in zip(configs, run_dirs):
            cleanup.enter_context(RunLock(run_dir))
            write_run_description(run_dir, config, splits, str(device))
            writer = open_writer(run_dir, t.fast_paths)
            cleanup.callback(writer.close)
            context = TrainingContext(run_dir, config, splits, device, writer)
            hooks.append([MetricsFile(run_dir), TimingFile(run_dir), TensorBoardScalars(writer)] + [make(context) for make in extra_hooks])
        for epoch in range(1, t.epochs + 1):
            started = time.perf_counter()
            losses, accuracies, sizes, grads = _train_epoch(stack, optimizer, x, y, seeds, generators, t, states[0].step)
            seconds = (time.perf_counter() - started) / count  # the epoch's time, shared by its models
            for index, run_dir in enumerate(run_dirs):
                try:
                    check_finite(losses[index], epoch)
                except TrainingDiverged as error:
                    raise TrainingDiverged(f"{run_dir}: {error}") from None
            val = _validate(stack, val_x, val_y, t)
            for index, state in enumerate(states):
                stack.copy_into(index, state.model)
                result = epoch_result(epoch, state.step + 1, losses[index], accuracies[index], sizes, grads[index],
                                      val[index], seconds)
                state.epoch, state.step = epoch, state.step + len(sizes)
                for hook in hooks[index]:
                    hook(state, result)
        for index, (run_dir, model) in enumerate(zip(run_dirs, models)):
            save_weights(run_dir, stack.copy_into(index, model))
    return models


def _train_epoch(stack: StackedMLP, optimizer, x, y, seeds, generators, t, first_step: int):
    """One epoch for all seeds; per-seed (S, batches) losses, accuracies and first-layer gradients.
    Plain SGD on a CPU takes the written-out step (letterlab.training.manual_mlp)."""
    stack.train()
    orders = [epoch_order(y.shape[1], t.batch_size, t.batch_order, generator) for generator in generators]
    size = orders[0][1]
    order = torch.stack([o for o, _ in orders]).to(x.device)  # (S, images this epoch)
    targets = y[seeds, order]
    losses, grad_l1, outputs = [], [], []
    manual = plain_sgd_on_cpu(x, t)
    starts = range(0, order.shape[1], size)
    steps = total_steps(t, len(starts))
    for step, start in enumerate(starts):
        index, labels = order[:, start:start + size], targets[:, start:start + size]
        lr = learning_rate(t, first_step + step, steps)
        if manual:
            logits, first_l1 = sgd_step(stack.weights, stack.biases, stack.activation_name, _rows(x, index), labels, lr)
        else:
            set_learning_rate(optimizer, lr)
            with autocast(x.device, t.precision):
                logits = stack(_rows(x, index))
            per_image = loss_from_logits(logits.float().flatten(0, 1), labels.flatten(), t.loss, reduction="none", smoothing=t.label_smoothing)
            per_seed = per_image.view(len(generators), -1).mean(1)  # each seed's mean loss; their sum separates by seed
            optimizer.zero_grad(set_to_none=True)
            per_seed.sum().backward()
            optimizer.step()
            first_l1 = stack.weights[0].grad.abs_().sum((1, 2))  # in place: the step has used it
            losses.append(per_seed.detach())
        outputs.append(logits.detach())  # one argmax for the epoch at the end, as in loop.run_steps
        grad_l1.append(first_l1)
    logits = torch.cat(outputs, 1)
    sizes = np.array([min(size, order.shape[1] - start) for start in starts])
    losses = batch_losses(logits, targets, sizes) if manual else torch.stack(losses, 1)  # the written-out step leaves the loss to here
    grads = torch.stack(grad_l1, 1).cpu().numpy() / stack.weights[0][0].numel()
    return losses.cpu().numpy(), batch_accuracies(logits.argmax(2) == targets, sizes), sizes, grads


@torch.inference_mode()
def _validate(stack: StackedMLP, x, y, t) -> list[tuple[float, float, np.ndarray]]:
    """(loss, accuracy, predictions) of every seed on its validation part."""
    count = len(stack.weights[0])
    if len(y) == 0:  # trained without a validation part
        return [(float("nan"), float("nan"), np.empty(0, dtype=np.int64))] * count
    x, y = x.expand(count, -1, -1), y.expand(count, -1)  # views: the seeds share one copy
    stack.eval()
    with autocast(x.device, t.precision):
        logits = torch.cat([stack(chunk).float() for chunk in x.split(t.eval_batch_size, dim=1)], dim=1)
    stack.train()
    results = []
    for seed_logits, labels in zip(logits, y):
        predicted = seed_logits.argmax(1)
        loss = loss_from_logits(seed_logits, labels, t.loss).item()
        results.append((loss, (predicted == labels).float().mean().item(), predicted.cpu().numpy()))
    return results
