"""The MLPs' plain-SGD step with its backward pass written out: letterlab's fast path on a CPU.

Through autograd and the optimizer, a step of a 784-50-10 net is about 25 small operations, each a
few microseconds of dispatch: the arithmetic is the smaller part. Written out, a step is the
forward pass (one batched matmul and one in-place activation per layer), the softmax cross-entropy
gradient, and per layer one matmul for the weight gradient (applied in place) and one for the
gradient sent down. The same function steps one model and the stacked seeds of `--seeds N`.
It computes what autograd computes, up to float rounding (tests/test_manual_mlp.py), and records
the same per-batch loss, predictions and first-layer gradient L1 norm.

Used for letterlab's MLPs on a CPU with plain SGD (no momentum, no weight decay), cross-entropy on
the logits without label smoothing, float32, no augmentation, mixing or teachers; everything else goes through
autograd."""

from __future__ import annotations

import torch
from torch import nn

from letterlab.models.layers import activation
from letterlab.run_config import TrainConfig
from letterlab.training.augment import is_active
from letterlab.training.schedule import learning_rate, total_steps

# d activation / d input, from the activation's output `a`
DERIVATIVES = {
    "sigmoid": lambda a: a * (1 - a),
    "tanh": lambda a: 1 - a * a,
    "relu": lambda a: (a > 0).to(a.dtype),
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
        name = next((name for name in DERIVATIVES if isinstance(act, type(activation(name)))), None)
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
    """One plain-SGD step of S MLPs stacked along a leading axis (weights (S, in, out), biases
    (S, 1, out), x (S, B, 784), labels (S, B); S = 1 for one model), each on its own mean loss,
    weights updated in place. Returns per-model losses (S,), logits (S, B, 10) and first-layer
    gradient L1 norms (S,)."""
    inputs, last = [x], len(weights) - 1
    for k, (weight, bias) in enumerate(zip(weights, biases)):
        z = torch.baddbmm(bias, inputs[-1], weight)
        inputs.append(IN_PLACE[activation_name](z) if k < last else z)
    logits = inputs.pop()
    log_p = torch.log_softmax(logits, 2)
    losses = log_p.gather(2, labels[..., None]).mean((1, 2)).neg()
    grad = log_p.exp_().scatter_add_(2, labels[..., None], torch.full(labels[..., None].shape, -1.0)).div_(labels.shape[1])
    first_l1 = None
    for k in range(last, -1, -1):
        weight, below = weights[k], inputs[k]
        down = torch.bmm(grad, weight.transpose(1, 2)) if k else None  # before this step's update
        if weight.stride(1) == 1:  # an nn.Linear's (out, in) weight seen as (1, in, out): make the gradient in that layout
            weight_grad = torch.bmm(grad.transpose(1, 2), below).transpose(1, 2)
        else:
            weight_grad = torch.bmm(below.transpose(1, 2), grad)
        weight.sub_(weight_grad, alpha=lr)
        biases[k].sub_(grad.sum(1, keepdim=True), alpha=lr)
        if k:
            grad = down.mul_(DERIVATIVES[activation_name](below))
        else:
            first_l1 = weight_grad.abs_().sum((1, 2))
    return losses, logits, first_l1


@torch.no_grad()
def manual_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig, batches, predicted: torch.Tensor,
                 first_step: int, batch_end=()) -> tuple[torch.Tensor, torch.Tensor]:
    """`loop.run_steps` for an MLP with plain SGD: the same arguments and results. The model is a
    stack of one: its weights are viewed as (1, in, out), so `sgd_step` updates them in place."""
    layers = mlp_layers(model)
    weights = [linear.weight.t()[None] for linear, _ in layers]
    biases = [linear.bias[None, None] for linear, _ in layers]
    flat = x.reshape(len(x), -1)
    steps = total_steps(config, len(batches))
    losses, grad_l1, outputs = [], [], []
    for i, index in enumerate(batches):
        loss, logits, first_l1 = sgd_step(weights, biases, layers[0][1], flat[index][None], y[index][None],
                                          learning_rate(config, first_step + i, steps))
        losses.append(loss[0])
        outputs.append(logits[0])
        grad_l1.append(first_l1[0])
        for hook in batch_end:
            hook(i)
    torch.argmax(torch.cat(outputs), 1, out=predicted)
    return torch.stack(losses), torch.stack(grad_l1)
