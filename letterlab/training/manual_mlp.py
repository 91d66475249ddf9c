"""The MLPs' plain-SGD step with its backward pass written out: letterlab's fast path on a CPU.

Through autograd and the optimizer, a step of a 784-50-10 net is about 25 small operations, each a
few microseconds of dispatch: the arithmetic is the smaller part. Written out, a step is the
batch's rows (`index_select`, ~6x faster than `x[index]` here), the forward pass (one `addmm` and
one in-place activation per layer), the softmax cross-entropy gradient, and per layer one matmul
for the gradient sent down, one fused activation backward and fused in-place updates. The loss is
taken once an epoch from the kept logits. The same function steps one model and the stacked seeds
of `--seeds N`. It computes what autograd computes, up to float rounding (tests/test_manual_mlp.py),
and records the same per-batch loss, predictions and first-layer gradient L1 norm.

Used for letterlab's MLPs on a CPU with plain SGD (no momentum, no weight decay), cross-entropy on
the logits without label smoothing, float32, no augmentation, mixing or teachers; everything else goes through
autograd."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from letterlab.models.layers import activation
from letterlab.run_config import TrainConfig
from letterlab.training.augment import is_active
from letterlab.training.schedule import learning_rate, total_steps

# the gradient through the activation, from the gradient above and the activation's output: the
# kernels autograd itself calls, one fused operation each (three for `grad * (1 - a * a)`)
ACTIVATION_BACKWARD = {
    "sigmoid": torch.ops.aten.sigmoid_backward.default,
    "tanh": torch.ops.aten.tanh_backward.default,
    "relu": lambda grad, a: torch.ops.aten.threshold_backward.default(grad, a, 0),
}
IN_PLACE = {"sigmoid": torch.sigmoid_, "tanh": torch.tanh_, "relu": torch.relu_}


def mlp_layers(model: nn.Module) -> list[tuple[nn.Linear, str | None]] | None:
    """[(linear layer, its activation's name, None for the output layer)] if `model` is letterlab's
    MLP (flatten, then linear/activation pairs, then a linear output layer); otherwise None."""
    children = list(model.children())
    if not children or not isinstance(children[0], nn.Flatten) or not isinstance(children[-1], nn.Linear):
        return None
    layers, body = [], children[1:-1]
    if len(body) % 2:
        return None
    for linear, act in zip(body[::2], body[1::2]):
        name = next((name for name in IN_PLACE if isinstance(act, type(activation(name)))), None)
        if not isinstance(linear, nn.Linear) or name is None:
            return None
        layers.append((linear, name))
    if len({name for _, name in layers}) > 1:  # the written-out step takes one activation
        return None
    return layers + [(children[-1], None)]


def plain_sgd_on_cpu(x: torch.Tensor, config: TrainConfig) -> bool:
    """The training settings the written-out step covers (the model aside)."""
    return (x.device.type == "cpu" and config.optimizer == "sgd" and config.momentum == 0 and config.weight_decay == 0
            and config.loss == "logits" and config.label_smoothing == 0 and config.precision == "fp32"
            and not is_active(config.augment) and config.mix == "none"
            and not config.teachers)


def can_step_manually(model: nn.Module, x: torch.Tensor, config: TrainConfig) -> bool:
    return plain_sgd_on_cpu(x, config) and mlp_layers(model) is not None


@torch.no_grad()
def sgd_step(weights, biases, activation_name: str | None, x: torch.Tensor, labels: torch.Tensor, lr: float):
    """One plain-SGD step, weights updated in place, of one MLP (weights (in, out), biases (1, out),
    x (B, 784), labels (B,)) or of S MLPs stacked along a leading axis (weights (S, in, out), biases
    (S, 1, out), x (S, B, 784), labels (S, B)), each on its own mean loss. Returns the logits
    ((S,) B, 10), from which the caller takes the loss (`batch_losses`), and the first layer's
    gradient L1 norm (a scalar, or (S,)).

    Per layer: the gradient sent down (before the update), then the weights and biases updated by
    one fused `addmm_` each (the bias through a row of ones); only the first layer's gradient is
    made as a tensor, for its norm, in the layout of the weight's memory (an `nn.Linear`'s (out, in)
    weight seen as (in, out)), so the in-place update runs over contiguous memory."""
    one_model = x.dim() == 2
    add_product = torch.addmm if one_model else torch.baddbmm
    inputs, last = [x], len(weights) - 1
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        z = add_product(bias, inputs[-1], weight)
        inputs.append(IN_PLACE[activation_name](z) if k < last else z)
    logits = inputs.pop()
    target = labels[..., None]
    grad = torch.softmax(logits, -1).scatter_add_(-1, target, torch.full(target.shape, -1.0)).div_(labels.shape[-1])
    ones = torch.ones(grad.shape[:-2] + (1, grad.shape[-2]))
    first_l1 = None
    for k in range(last, -1, -1):
        weight, below = weights[k], inputs[k]
        down = grad @ weight.mT if k else None  # before this step's update
        if k:
            (weight.addmm_ if one_model else weight.baddbmm_)(below.mT, grad, alpha=-lr)
        else:
            weight_grad = (grad.mT @ below).mT if weight.stride(-2) == 1 else below.mT @ grad
            weight.sub_(weight_grad, alpha=lr)
            first_l1 = weight_grad.abs_().sum((-2, -1))
        (biases[k].addmm_ if one_model else biases[k].baddbmm_)(ones, grad, alpha=-lr)
        if k:
            grad = ACTIVATION_BACKWARD[activation_name](down, below)
    return logits, first_l1


def batch_losses(logits: torch.Tensor, targets: torch.Tensor, sizes: np.ndarray) -> torch.Tensor:
    """Each batch's mean cross-entropy, from an epoch's logits ((S,) images, classes) and labels
    ((S,) images) in batch order and the batch sizes: one call an epoch instead of three a step."""
    per_image = F.cross_entropy(logits.flatten(0, -2), targets.flatten(), reduction="none").view(targets.shape)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged batch's inf or nan is reported by the caller
        sums = np.add.reduceat(per_image.numpy(), np.cumsum(sizes) - sizes, axis=-1)
    return torch.from_numpy((sums / sizes).astype(np.float32))


@torch.no_grad()
def manual_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, batches, predicted: torch.Tensor,
                 first_step: int, batch_end=()) -> tuple[torch.Tensor, torch.Tensor]:
    """`loop.run_steps` for an MLP with plain SGD: the same arguments and results. Its weights are
    viewed as (in, out), so `sgd_step` updates them in place."""
    layers = mlp_layers(model)
    weights = [linear.weight.t() for linear, _ in layers]
    biases = [linear.bias[None] for linear, _ in layers]
    flat = x.reshape(len(x), -1)
    targets = y.index_select(0, torch.cat(batches))
    steps = total_steps(config, len(batches))
    grad_l1, outputs, first = [], [], 0
    for i, index in enumerate(batches):
        labels = targets[first:first + len(index)]
        first += len(index)
        logits, first_l1 = sgd_step(weights, biases, layers[0][1], flat.index_select(0, index), labels,
                                    learning_rate(config, first_step + i, steps))
        outputs.append(logits)
        grad_l1.append(first_l1)
        for hook in batch_end:
            hook(i)
    logits = torch.cat(outputs)
    torch.argmax(logits, 1, out=predicted)
    return batch_losses(logits, targets, np.array([len(index) for index in batches])), torch.stack(grad_l1)
