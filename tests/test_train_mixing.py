"""Mixup and CutMix: the weight's distribution, the mixed images and labels, the mixed loss against a
hand-computed cross-entropy, train accuracy against the label of larger weight, and the fast paths
never taken while mixing."""

import types

import pytest
import torch
from torch.nn import functional as F

from letterlab.errors import ConfigError
from letterlab.run_config import RunConfig, TrainConfig, run_from_dict
from letterlab.training.graphed import can_graph
from letterlab.training.loop import run_steps
from letterlab.training.manual_mlp import can_step_manually
from letterlab.training.mixing import beta_sample, mix_batch, mixed_loss
from letterlab.training.session import new_state
from letterlab.training.stacked import can_stack


def _numbered(n=8):
    """Image i is the constant i + 1 (so every pixel says which image it came from); labels i % 10."""
    x = (torch.arange(n, dtype=torch.float32) + 1)[:, None, None, None].expand(n, 1, 28, 28).clone()
    return x, torch.arange(n) % 10


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_weight_follows_beta_alpha_alpha(alpha):
    generator = torch.Generator().manual_seed(0)
    draws = torch.tensor([beta_sample(alpha, generator) for _ in range(4000)])
    assert draws.min() >= 0 and draws.max() <= 1
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)); 4000 draws put both within a few per cent
    assert draws.mean().item() == pytest.approx(0.5, abs=0.03)
    assert draws.var().item() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.08)


def test_mixup_blends_each_image_with_its_partner():
    x, y = _numbered()
    mixed = mix_batch(x, y, "mixup", 0.4, torch.Generator().manual_seed(1))
    assert 0 < mixed.lam < 1 and mixed.images.shape == x.shape
    own = torch.arange(8, dtype=torch.float32) + 1
    partner_value = (mixed.images[:, 0, 0, 0] - mixed.lam * own) / (1 - mixed.lam)  # the partner's constant
    partner = partner_value.round().long() - 1
    assert torch.allclose(partner_value, partner.float() + 1, atol=1e-4)
    assert sorted(partner.tolist()) == list(range(8))  # a permutation of the batch
    assert torch.equal(mixed.partner, y[partner])
    again = mix_batch(x, y, "mixup", 0.4, torch.Generator().manual_seed(1))
    assert torch.equal(again.images, mixed.images) and again.lam == mixed.lam


def test_cutmix_box_area_is_the_partner_weight():
    x, y = _numbered()
    for seed in range(20):
        mixed = mix_batch(x, y, "cutmix", 1.0, torch.Generator().manual_seed(seed))
        for i in range(8):
            image = mixed.images[i, 0]
            pasted = image != i + 1
            partner_value = image[pasted].unique()
            if len(partner_value) == 0:  # paired with itself, or an empty box
                continue
            assert len(partner_value) == 1  # one partner per image
            rows, cols = pasted.any(1).nonzero().flatten(), pasted.any(0).nonzero().flatten()
            box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert pasted.sum() == box  # a rectangle
            assert 1 - mixed.lam == pytest.approx(box.item() / 784)
            assert mixed.partner[i] == y[int(partner_value.item()) - 1]


def test_mixed_loss_is_the_weighted_cross_entropy_of_both_labels():
    torch.manual_seed(0)
    x, y = _numbered()
    mixed = mix_batch(x, y, "mixup", 0.2, torch.Generator().manual_seed(2))
    logits = torch.randn(8, 10)
    smoothing = 0.1

    def smoothed_cross_entropy(labels):  # by hand: target 1 - s on the label plus s / 10 everywhere
        target = F.one_hot(labels, 10) * (1 - smoothing) + smoothing / 10
        return -(target * logits.log_softmax(1)).sum(1).mean()

    expected = mixed.lam * smoothed_cross_entropy(y) + (1 - mixed.lam) * smoothed_cross_entropy(mixed.partner)
    assert mixed_loss(logits, y, mixed, "logits", smoothing).item() == pytest.approx(expected.item(), rel=1e-6)


def test_train_accuracy_is_scored_against_the_label_of_larger_weight():
    config = run_from_dict({"model": {"hidden": [8]}, "train": {"mix": "mixup", "mix_alpha": 1.0, "batch_size": 4}})
    state = new_state(config, torch.device("cpu"))
    x, y = torch.rand(40, 1, 28, 28), torch.arange(40) % 10
    batches = torch.arange(40).split(4)
    targets, predicted = y.clone(), torch.empty(40, dtype=torch.long)
    run_steps(state, x, y, config.train, batches, predicted, targets=targets)
    replay, changed = torch.Generator().manual_seed(config.train.seed), 0
    for index in batches:  # the same draws in the same order: each batch's mix, nothing else
        mixed = mix_batch(x[index], y[index], "mixup", 1.0, replay)
        assert torch.equal(targets[index], mixed.dominant(y[index]))
        changed += mixed.lam < 0.5
    assert changed > 0 and not torch.equal(targets, y)


def test_fast_paths_are_never_taken_while_mixing():
    plain = RunConfig(train=TrainConfig())
    mixing = RunConfig(train=TrainConfig(mix="cutmix"))
    model, x = new_state(plain, torch.device("cpu")).model, torch.zeros(2, 1, 28, 28)
    assert can_step_manually(model, x, plain.train) and not can_step_manually(model, x, mixing.train)
    on_gpu = types.SimpleNamespace(is_cuda=True)
    assert can_graph(on_gpu, plain.train) and not can_graph(on_gpu, mixing.train)
    seeded = lambda c, s: RunConfig(train=TrainConfig(**{**vars(c.train), "seed": s}))
    assert can_stack([seeded(plain, 0), seeded(plain, 1)]) and not can_stack([seeded(mixing, 0), seeded(mixing, 1)])


@pytest.mark.parametrize("train, message", [
    ({"mix": "blend"}, "is not one of 'none', 'mixup', 'cutmix'"),
    ({"mix": "mixup", "mix_alpha": 0}, "train.mix_alpha must be > 0"),
    ({"mix_alpha": -1.0}, "train.mix_alpha must be > 0"),
])
def test_bad_mix_settings_are_refused(train, message):
    with pytest.raises(ConfigError, match=message):
        run_from_dict({"train": train})
