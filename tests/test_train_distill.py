"""Distillation from finished runs: the loss against hand-computed KL divergence and cross-entropy on
a run's first batch, the ensemble's probabilities, teachers checked and fast paths never taken."""

import json
import types

import pytest
import torch
from torch.nn import functional as F

from letterlab.data.dataset import DataSplits
from letterlab.errors import ConfigError, LetterlabError
from letterlab.evaluation.trained import load_teachers
from letterlab.models.inputs import images_to_tensor
from letterlab.pipeline import train_and_evaluate
from letterlab.run_config import RunConfig, TrainConfig, run_from_dict
from letterlab.runs import new_run_dir
from letterlab.training.batches import epoch_order
from letterlab.training.distill import distillation_loss, ensemble_probabilities
from letterlab.training.graphed import can_graph
from letterlab.training.manual_mlp import can_step_manually
from letterlab.training.session import new_state, train_run
from letterlab.training.stacked import can_stack

MLP = {"model": {"hidden": [16], "activation": "tanh"}, "train": {"epochs": 2, "batch_size": 10, "lr": 0.1}}


def _splits(make_letters):
    return DataSplits(make_letters(60, seed=1), make_letters(20, seed=2), make_letters(20, seed=3))


def _teacher(folder, splits, seed):
    run = new_run_dir(str(folder), "")
    train_run(run_from_dict({**MLP, "train": {**MLP["train"], "seed": seed}}), run, splits, torch.device("cpu"), progress=False)
    return str(run)


def test_distillation_loss_is_t_squared_kl_divergence():
    torch.manual_seed(0)
    logits, teacher = torch.randn(6, 10), torch.randn(6, 10)
    target = F.softmax(teacher / 3, 1)
    q = F.softmax(logits / 3, 1)
    by_hand = (target * (target.log() - q.log())).sum(1).mean() * 9
    assert distillation_loss(logits, target, 3.0).item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert distillation_loss(teacher, target, 3.0).item() == pytest.approx(0.0, abs=1e-6)  # the teacher itself: no divergence


def test_ensemble_is_the_mean_of_the_softened_probabilities():
    torch.manual_seed(1)
    teachers = [torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)]
    x = torch.randn(5, 4)
    expected = (F.softmax(teachers[0](x) / 2, 1) + F.softmax(teachers[1](x) / 2, 1)) / 2
    assert torch.allclose(ensemble_probabilities(teachers, x, 2.0, "fp32"), expected, atol=1e-6)


def test_first_batch_loss_mixes_cross_entropy_and_the_teachers_divergence(tmp_path, make_letters):
    splits = _splits(make_letters)
    teachers = [_teacher(tmp_path / f"teacher{seed}", splits, seed) for seed in (1, 2)]
    config = run_from_dict({**MLP, "train": {**MLP["train"], "teachers": teachers, "distill_weight": 0.3,
                                             "distill_temperature": 3.0, "seed": 7}})
    device = torch.device("cpu")
    student = new_run_dir(str(tmp_path / "student"), "")
    train_run(config, student, splits, device, progress=False, teachers=load_teachers(teachers, splits.classes, device))
    first = json.loads((student / "metrics.jsonl").read_text().splitlines()[0])["batch_loss"][0]

    initial = new_state(config, device)  # the student before its first step, and its first batch
    order, size = epoch_order(60, 10, "shuffle", initial.batch_generator)
    x = images_to_tensor(splits.train.images, device)[order[:size]]
    y = torch.from_numpy(splits.train.labels)[order[:size]]
    with torch.no_grad():
        logits = initial.model(x)
    soft = ensemble_probabilities(load_teachers(teachers, splits.classes, device), x, 3.0, "fp32")
    expected = 0.7 * F.cross_entropy(logits, y) + 0.3 * 9 * F.kl_div(F.log_softmax(logits / 3, 1), soft, reduction="batchmean")
    assert first == pytest.approx(expected.item(), rel=1e-5)
    assert first != pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-3)  # the teachers changed it


def test_distilled_run_through_the_pipeline_loads_its_teachers(tmp_path, make_letters):
    splits = _splits(make_letters)
    teacher = _teacher(tmp_path / "teacher", splits, 1)
    from letterlab.data.npz import save_npz

    save_npz(tmp_path / "letters.npz", make_letters(200, seed=4))
    config = run_from_dict({**MLP, "data": str(tmp_path / "letters.npz"), "train": {**MLP["train"], "teachers": [teacher]}})
    results = train_and_evaluate(config, new_run_dir(str(tmp_path / "student"), ""), "cpu")
    assert 0 <= results.test_accuracy <= 1


def test_teachers_are_checked(tmp_path, make_letters):
    splits = _splits(make_letters)
    with pytest.raises(LetterlabError, match="not a letterlab run folder"):
        load_teachers([str(tmp_path)], splits.classes, torch.device("cpu"))
    teacher = _teacher(tmp_path / "teacher", splits, 1)
    with pytest.raises(LetterlabError, match="a teacher must predict the run's classes"):
        load_teachers([teacher], tuple("KLMNOPQRST"), torch.device("cpu"))
    config = run_from_dict({**MLP, "train": {**MLP["train"], "teachers": [teacher]}})
    with pytest.raises(LetterlabError, match="names 1 teachers, 0 were loaded"):
        train_run(config, tmp_path / "student", splits, torch.device("cpu"), progress=False)


def test_fast_paths_are_never_taken_with_teachers():
    plain, taught = TrainConfig(), TrainConfig(teachers=["runs/a"])
    model, x = new_state(RunConfig(train=plain), torch.device("cpu")).model, torch.zeros(2, 1, 28, 28)
    assert can_step_manually(model, x, plain) and not can_step_manually(model, x, taught)
    assert not can_graph(types.SimpleNamespace(is_cuda=True), taught)
    assert not can_stack([RunConfig(train=TrainConfig(teachers=["runs/a"], seed=s)) for s in (0, 1)])


@pytest.mark.parametrize("train, message", [
    ({"distill_weight": 1.5}, "train.distill_weight must be between 0 and 1"),
    ({"distill_temperature": 0}, "train.distill_temperature must be > 0"),
    ({"teachers": [""]}, "train.teachers must be run folders"),
    ({"teachers": "runs/a"}, "expected a list"),
])
def test_bad_distillation_settings_are_refused(train, message):
    with pytest.raises(ConfigError, match=message):
        run_from_dict({"train": train})


def test_teacher_paths_are_made_absolute(tmp_path, monkeypatch):
    import letterlab

    monkeypatch.chdir(tmp_path)
    assert letterlab.config("mlp-tanh-50", teachers=["runs/a"]).train.teachers == [str(tmp_path / "runs" / "a")]
