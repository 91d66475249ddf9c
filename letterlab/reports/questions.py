"""The homework's five questions, answered from the runs: numbers and a verdict computed from them.

Thresholds (stated once, used by every verdict):
- two accuracies are "about equal" when they differ by at most SAME points or twice the larger
  spread over seeds, whichever is larger;
- "considerably better" means better by at least CONSIDERABLE as well."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from letterlab.models.build import build_model
from letterlab.models.describe import training_flops_per_image
from letterlab.reports.experiments import Experiment
from letterlab.reports.inspection import mcnemar_between

SAME = 0.01  # 1 percentage point
CONSIDERABLE = 0.02
CLAIMED_SPEEDUP = 4.0  # "about 4 times faster"
HOMEWORK_PARAMETERS = {"mlp-tanh-500": 397_510, "mlp-tanh-100x2": 89_610}
BUG = "-double-softmax"


@dataclass
class Answer:
    number: int
    title: str
    claim: str  # what the homework said
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    conclusions: dict[str, bool] = field(default_factory=dict)  # for question 5: conclusion -> holds
    missing: list[str] = field(default_factory=list)  # experiments the answer needed but were not run


def percent(value: float) -> str:
    """'87.1%'; '-' for NaN (not measured, e.g. validation of a run trained without a validation part)."""
    return "-" if math.isnan(value) else f"{100 * value:.1f}%"


def with_spread(experiment: Experiment, key: str) -> str:
    text = percent(experiment.mean(key))
    if math.isnan(experiment.mean(key)):
        return text
    return text + f" ± {100 * experiment.std(key):.1f}" if len(experiment.runs) > 1 else text


def tolerance(a: Experiment, b: Experiment, key: str = "test_accuracy") -> float:
    return max(SAME, 2 * max(a.std(key), b.std(key)))


def compare(a: Experiment, b: Experiment, key: str = "test_accuracy") -> tuple[float, str]:
    """(mean of a - mean of b, 'better' / 'about equal' / 'worse' for a)."""
    difference = a.mean(key) - b.mean(key)
    if abs(difference) <= tolerance(a, b, key):
        return difference, "about equal"
    return difference, "better" if difference > 0 else "worse"


def than(relation: str) -> str:
    return {"better": "better than", "worse": "worse than"}.get(relation, "about equal to")


def points(difference: float) -> str:
    return f"{100 * difference:+.1f} points"


def _missing(answer: Answer, found: dict[str, Experiment], names: list[str]) -> bool:
    answer.missing = [name for name in names if name not in found]
    if answer.missing:
        answer.verdicts = [f"Not answered: {', '.join(answer.missing)} {'was' if len(answer.missing) == 1 else 'were'} not run."]
    return bool(answer.missing)


def sigmoid_vs_tanh(found: dict[str, Experiment], suffix: str = "") -> Answer:
    sigmoid_name, tanh_name = "mlp-sigmoid-50" + suffix, "mlp-tanh-50" + suffix
    answer = Answer(1, "Sigmoid or tanh (50 hidden units)",
                    "tanh improves accuracy considerably, because tanh(x) = 2·sigmoid(2x) − 1 has the larger gradient.")
    if _missing(answer, found, [sigmoid_name, tanh_name]):
        return answer
    sigmoid, tanh = found[sigmoid_name], found[tanh_name]
    answer.header = ["experiment", "test accuracy", "validation accuracy", "mean |grad| at first layer"]
    for e in (sigmoid, tanh):
        answer.rows.append([e.name, with_spread(e, "test_accuracy"), with_spread(e, "val_accuracy"),
                            f"{e.epoch_series('first_layer_grad').mean():.3g}"])
    difference, relation = compare(tanh, sigmoid)
    considerable = difference >= max(CONSIDERABLE, tolerance(tanh, sigmoid))
    answer.conclusions["tanh is considerably more accurate than sigmoid"] = considerable
    answer.verdicts.append(f"tanh is {than(relation)} sigmoid ({points(difference)} test accuracy): the claim of a "
                           f"considerable improvement {'holds' if considerable else 'does not hold'} "
                           f"(considerable: at least {points(max(CONSIDERABLE, tolerance(tanh, sigmoid)))[1:]}).")
    tanh_grad, sigmoid_grad = _aligned(tanh.epoch_series("first_layer_grad"), sigmoid.epoch_series("first_layer_grad"))
    larger = int((tanh_grad > sigmoid_grad).sum())
    ratio = tanh_grad.mean() / sigmoid_grad.mean()
    holds = larger > len(tanh_grad) / 2
    answer.conclusions["tanh sends larger gradients to the first layer"] = holds
    answer.verdicts.append(f"The gradient reaching the first layer is larger with tanh in {larger} of {len(tanh_grad)} epochs "
                           f"({ratio:.2f}x sigmoid's on average): the explanation's premise {'holds' if holds else 'does not hold'}.")
    return answer


def _aligned(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-epoch means over seeds, cut to the same number of epochs."""
    length = min(a.shape[1], b.shape[1])
    return a.mean(0)[:length], b.mean(0)[:length]


def wide_vs_deep(found: dict[str, Experiment], suffix: str = "") -> Answer:
    wide_name, deep_name = "mlp-tanh-500" + suffix, "mlp-tanh-100x2" + suffix
    answer = Answer(2, "One layer of 500 or two layers of 100",
                    "397,510 against 89,610 parameters; the two-layer net trains about 4 times faster and is about as accurate.")
    if _missing(answer, found, [wide_name, deep_name]):
        return answer
    wide, deep = found[wide_name], found[deep_name]
    answer.header = ["experiment", "parameters", "homework's count", "training MFLOPs per image", "seconds per epoch", "test accuracy"]
    flops = {}
    for e, preset in ((wide, "mlp-tanh-500"), (deep, "mlp-tanh-100x2")):
        flops[e.name] = training_flops_per_image(build_model(e.config.model, len(e.runs[0].classes))) / 1e6
        answer.rows.append([e.name, f"{e.parameters:,}", f"{HOMEWORK_PARAMETERS[preset]:,}", f"{flops[e.name]:.2f}",
                            f"{e.mean('seconds_per_epoch'):.3f}", with_spread(e, "test_accuracy")])
    counts_match = wide.parameters == HOMEWORK_PARAMETERS["mlp-tanh-500"] and deep.parameters == HOMEWORK_PARAMETERS["mlp-tanh-100x2"]
    answer.verdicts.append(f"Parameter counts {'match' if counts_match else 'do not match'} the homework's "
                           f"({wide.parameters / deep.parameters:.2f}x as many in the wide net).")
    speedup = wide.mean("seconds_per_epoch") / deep.mean("seconds_per_epoch")
    if speedup >= CLAIMED_SPEEDUP * 0.75:
        speed = "holds"
    elif speedup >= 1.5:
        speed = "holds only in part (faster, but not about 4x)"
    else:
        speed = "does not hold"
    answer.conclusions["two layers of 100 train about 4x faster than 500"] = speed == "holds"
    answer.verdicts.append(f"Measured: an epoch of the two-layer net takes 1/{speedup:.2f} of the wide net's time "
                           f"(its FLOPs: 1/{flops[wide.name] / flops[deep.name]:.2f}): the claim of about "
                           f"{CLAIMED_SPEEDUP:.0f}x faster {speed}. Times are wall-clock and shift with the machine's load.")
    difference, relation = compare(deep, wide)
    answer.conclusions["two layers of 100 are about as accurate as 500"] = relation == "about equal"
    answer.verdicts.append(f"Accuracy: the two-layer net is {relation} ({points(difference)} test accuracy against the wide net): "
                           f"'about equal' {'holds' if relation == 'about equal' else 'does not hold'}.")
    return answer


def cnn_vs_mlp(found: dict[str, Experiment]) -> Answer:
    answer = Answer(3, "CNN or the best fully-connected net", "The CNN could not get above 90% accuracy.")
    mlps = [e for name, e in found.items() if name.startswith("mlp-") and not name.endswith(BUG)]
    if _missing(answer, found, ["cnn"]) or not mlps:
        answer.verdicts = answer.verdicts or ["Not answered: no MLP preset was run."]
        return answer
    cnn, best = found["cnn"], max(mlps, key=lambda e: e.mean("val_accuracy"))
    answer.header = ["experiment", "parameters", "epochs", "seconds per epoch", "validation accuracy", "test accuracy"]
    for e in (cnn, best):
        answer.rows.append([e.name, f"{e.parameters:,}", str(e.config.train.epochs), f"{e.mean('seconds_per_epoch'):.2f}",
                            with_spread(e, "val_accuracy"), with_spread(e, "test_accuracy")])
    difference, relation = compare(cnn, best)
    cost = cnn.mean("seconds_per_epoch") / best.mean("seconds_per_epoch")
    answer.verdicts.append(f"The CNN is {than(relation)} the best MLP by validation accuracy, {best.name} "
                           f"({points(difference)} test accuracy), at {cost:.0f}x the time per epoch.")
    test = mcnemar_between(cnn.runs[0].path, best.runs[0].path)
    if test:
        significant = test["p_value"] < 0.05
        answer.verdicts.append(f"McNemar's exact test on the same test images ({cnn.runs[0].name} against {best.runs[0].name}): "
                               f"only the CNN right on {test['only_a_correct']}, only the MLP on {test['only_b_correct']}, "
                               f"p = {test['p_value']:.2g}: the difference is {'' if significant else 'not '}significant at 0.05.")
    above = cnn.mean("test_accuracy") > 0.90
    answer.verdicts.append(f"The CNN's test accuracy is {percent(cnn.mean('test_accuracy'))}: "
                           f"{'above' if above else 'not above'} the homework's 90%.")
    return answer


def batch_norm_dropout(found: dict[str, Experiment]) -> Answer:
    answer = Answer(4, "What batch norm and dropout change", "Batch normalisation and dropout together regularise the CNN.")
    if _missing(answer, found, ["cnn", "cnn-bn-dropout"]):
        return answer
    plain, regularised = found["cnn"], found["cnn-bn-dropout"]
    answer.header = ["experiment", "train accuracy", "validation accuracy", "train − validation", "test accuracy"]
    gaps = {}
    for e in (plain, regularised):
        gaps[e.name] = e.mean("train_accuracy") - e.mean("val_accuracy")
        answer.rows.append([e.name, with_spread(e, "train_accuracy"), with_spread(e, "val_accuracy"),
                            points(gaps[e.name]), with_spread(e, "test_accuracy")])
    difference, relation = compare(regularised, plain)
    answer.verdicts.append(f"With batch norm and dropout the test accuracy is {relation} ({points(difference)}).")
    change = gaps[regularised.name] - gaps[plain.name]
    direction = "narrower" if change < 0 else "wider"
    answer.verdicts.append(f"The gap between train and validation accuracy is {direction}: {points(gaps[plain.name])} → "
                           f"{points(gaps[regularised.name])}. Train accuracy is averaged over the epoch's batches with "
                           f"dropout on, so a negative gap is possible.")
    return answer


def double_softmax(found: dict[str, Experiment]) -> Answer:
    answer = Answer(5, "The double-softmax bug",
                    "(The homework's code applied softmax twice; its conclusions were drawn from that code.)")
    pairs = [(name, found[name + BUG]) for name in found if name + BUG in found]
    if not pairs:
        answer.verdicts = ["Not answered: no MLP was run with the bug (use --faithful)."]
        return answer
    answer.header = ["experiment", "test accuracy, logits (fixed)", "test accuracy, double softmax (homework)", "fixed − bug"]
    for name, buggy in pairs:
        answer.rows.append([name, with_spread(found[name], "test_accuracy"), with_spread(buggy, "test_accuracy"),
                            points(found[name].mean("test_accuracy") - buggy.mean("test_accuracy"))])
    fixed = {**sigmoid_vs_tanh(found).conclusions, **wide_vs_deep(found).conclusions}
    buggy = {**sigmoid_vs_tanh(found, BUG).conclusions, **wide_vs_deep(found, BUG).conclusions}
    for conclusion in (c for c in buggy if c in fixed):
        if not buggy[conclusion]:
            outcome = "not reproduced even with the bug"
        else:
            outcome = "survives the fix" if fixed[conclusion] else "does not survive the fix: the bug made it"
        answer.conclusions[conclusion] = buggy[conclusion] and fixed[conclusion]
        answer.verdicts.append(f"“{conclusion}”: {'true' if buggy[conclusion] else 'false'} with the bug, "
                               f"{'true' if fixed[conclusion] else 'false'} with the fix: {outcome}.")
    return answer


def answer_all(experiments: list[Experiment]) -> list[Answer]:
    found = {e.name: e for e in experiments}
    return [sigmoid_vs_tanh(found), wide_vs_deep(found), cnn_vs_mlp(found), batch_norm_dropout(found), double_softmax(found)]
