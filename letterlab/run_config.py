"""Typed configuration: plain dataclasses with defaults in one place, strict loading from dicts/TOML.

A run is described by `RunConfig` = model (MLPConfig or CNNConfig) + TrainConfig. Presets
(`letterlab.models.presets`) override only what differs from these defaults."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from letterlab.errors import ConfigError

ACTIVATIONS = ("sigmoid", "tanh", "relu")


@dataclass
class MLPConfig:
    """Fully-connected net: 784 -> hidden... -> 10."""

    kind: Literal["mlp"] = "mlp"
    hidden: list[int] = field(default_factory=lambda: [50])
    activation: Literal["sigmoid", "tanh", "relu"] = "sigmoid"
    init: Literal["normal", "xavier", "kaiming", "default"] = "normal"
    init_std: float = 0.1  # std of Normal(0, std) when init == "normal" (the homework's 0.1)


@dataclass
class ConvBlockConfig:
    """conv (kernel x kernel, 'same' padding) -> [max-pool] -> activation -> [batch norm] -> [dropout]."""

    filters: int = 64
    kernel: int = 5
    stride: int = 1
    pool: int = 2  # max-pool size and stride; 0 or 1 = no pooling
    batch_norm: bool = False
    dropout: float = 0.0


@dataclass
class CNNConfig:
    """Convolutional net: conv blocks -> flatten -> fully-connected layers -> 10."""

    kind: Literal["cnn"] = "cnn"
    blocks: list[ConvBlockConfig] = field(default_factory=lambda: [ConvBlockConfig(64), ConvBlockConfig(128)])
    fc: list[int] = field(default_factory=lambda: [256])
    fc_dropout: float = 0.25
    input_dropout: float = 0.0
    activation: Literal["sigmoid", "tanh", "relu"] = "relu"
    init: Literal["normal", "xavier", "kaiming", "default"] = "default"
    init_std: float = 0.1
    # Batch norm at evaluation: "running" statistics (PyTorch's usual way) or the statistics of the
    # batch being evaluated (what the homework's tf.nn.moments code did).
    batch_norm_eval: Literal["running", "batch"] = "running"


@dataclass
class ResNetConfig:
    """Small residual net (letterlab.models.resnet): per stage, [max-pool 2] -> conv-bn-relu ->
    residual blocks; then global average pooling -> [dropout] -> 10."""

    kind: Literal["resnet"] = "resnet"
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # channels of each stage
    residual: list[int] = field(default_factory=lambda: [0, 1, 1])  # residual blocks in each stage
    dropout: float = 0.0  # before the output layer
    init: Literal["normal", "xavier", "kaiming", "default"] = "default"
    init_std: float = 0.1


@dataclass
class AugmentConfig:
    """Random distortions of each training batch (letterlab.training.augment); all 0 = off."""

    rotate: float = 0.0  # degrees, uniform in [-rotate, rotate]
    scale: float = 0.0  # relative, uniform in [1 - scale, 1 + scale]
    shear: float = 0.0  # degrees
    translate: float = 0.0  # pixels, each axis
    stroke: float = 0.0  # strength in [0, 1] of a blend towards the dilated (thicker) or eroded (thinner) glyph
    elastic: float = 0.0  # pixels: largest displacement of a smooth random field
    # Font-like variation (docs/training-ideas.md). aspect: log of the width/height ratio, uniform in
    # [-aspect, aspect], area kept (0.2: up to 22% wider or narrower); at most 1.
    aspect: float = 0.0
    # Re-cropping: each side of the glyph's ink bounding box moved in or out by up to `crop` of the
    # box's size, and that crop mapped back onto the box (notMNIST's glyphs fill the frame); < 0.5.
    crop: float = 0.0
    blur: float = 0.0  # pixels: Gaussian blur of sigma uniform in [0, blur] (softer edges and serifs); at most 4
    # Fill style: the share of images (at most 1) drawn in another style, one of outline, inverse
    # (dark glyph on a light square), stripes or a drop shadow (display faces; docs/training-ideas.md).
    style: float = 0.0


@dataclass
class TrainConfig:
    """How to train: optimizer, batches, epochs, loss, seed and data split."""

    # adamw: weight decay decoupled from the gradient; nadam: Adam with Nesterov momentum; rmsprop
    # uses `momentum` like sgd.
    optimizer: Literal["sgd", "adam", "adamw", "nadam", "rmsprop"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 60
    # "shuffle": a permutation per epoch. "random": the homework's next_batch, every batch an
    # independent random draw, len(train) // batch_size + 1 batches an epoch.
    batch_order: Literal["shuffle", "random"] = "shuffle"
    # "logits": cross-entropy on the logits. "double_softmax": the homework's bug, softmax applied
    # to the output and then passed as logits to the softmax cross-entropy.
    loss: Literal["logits", "double_softmax"] = "logits"
    seed: int = 0  # initialisation, batch order, dropout
    # The embedded default's rendering and the train/validation/test split. Kept apart from `seed`
    # so that runs with different seeds are judged on the same images.
    data_seed: int = 0
    # 0: no validation part, train on the whole pool (once the settings were chosen on validation).
    val_fraction: float = 0.2
    test_fraction: float = 0.2  # only for data without a test part of its own
    # "random": the parts are split by image, stratified by class. "font": every font on one side, so
    # validation (or test) shows letters from fonts the net never trained on; needs the images' fonts
    # (an .npz 'font' array, notMNIST's file names, the embedded set, or `fonts_from`).
    val_split: Literal["random", "font"] = "random"
    test_split: Literal["random", "font"] = "random"  # only for data without a test part of its own
    # k-fold validation: with val_folds >= 2 the validation part is fold `val_fold` (0-based) of that many
    # (by image or by font, as val_split says) and val_fraction is not used; `letterlab sweep` with
    # `folds = K` runs every fold.
    val_folds: int = 0
    val_fold: int = 0
    # A source that names each image's font (such as notmnist_small.npz), for data that does not (the
    # course's pickles): an image's font is that of the same pixels there.
    fonts_from: str = ""
    precision: Literal["fp32", "bf16"] = "fp32"
    eval_batch_size: int = 1000
    # Log a fixed panel of probe images (feature maps, top-3 bars, saliency) and the filter grid to
    # TensorBoard every epoch (about 1 s an epoch for the CNN on a 2-core CPU).
    log_probes: bool = False
    # Learning rate per batch (letterlab.training.schedule): "constant"; "cosine": linear warm-up from
    # 0, then a half cosine to 0; "one_cycle": linear warm-up from lr / 25, then linear down to 0.
    schedule: Literal["constant", "cosine", "one_cycle"] = "constant"
    warmup_fraction: float = 0.0  # share of the scheduled batches (all, or those before SWA's with swa_lr) spent warming up
    label_smoothing: float = 0.0  # training loss only; validation and test losses stay plain cross-entropy
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Extra images added to the training part only (never to validation or test): a data path in
    # any supported format (all of its images), or "embedded" for the font-rendered default set.
    extra_train: str = ""
    # Clean the training part (letterlab.data.check; validation and test stay as they are). "exact":
    # drop exact copies of an image seen before (in the test, validation or training part) and every
    # image whose copies carry different labels. "near": also both images of every near-duplicate
    # pair (perceptual hash, then pixel check) whose labels differ.
    clean_train: Literal["none", "exact", "near"] = "none"
    # The faster ways to take a step (letterlab.training.loop lists them: the written-out MLP step,
    # stacked seeds, CUDA graphs, TensorBoard's records written in C); false: every step through plain
    # autograd, for teaching and debugging. Both give the same numbers up to float rounding.
    fast_paths: bool = True
    # Mixup/CutMix (letterlab.training.mixing): each image mixed with a partner from a permutation of
    # its batch, one weight lam ~ Beta(mix_alpha, mix_alpha) per batch, the loss the same mix of both
    # labels' cross-entropies; train accuracy is scored against the label of larger weight.
    mix: Literal["none", "mixup", "cutmix"] = "none"
    mix_alpha: float = 0.2  # > 0; 1: lam uniform in [0, 1]
    # Stochastic weight averaging (letterlab.training.swa): the run's final model (saved, tested) is the
    # mean of the weights at the ends of the last `swa_epochs` epochs, batch-norm statistics then
    # recomputed on the training part; each epoch's validation figures stay the live model's. 0 = off.
    swa_epochs: int = 0
    # > 0: the schedule runs over the epochs before the averaged ones and ends at swa_lr (not 0), which the
    # averaged epochs keep (a rate that stays up while averaging, letterlab.training.schedule). 0: the schedule spans the whole run.
    swa_lr: float = 0.0
    # Distillation (letterlab.training.distill): finished run folders (same classes) whose ensemble (the mean
    # of their probabilities at `distill_temperature`, on each training batch as the student sees it) the
    # loss also follows: (1 - distill_weight) * the usual loss + distill_weight * T^2 * KL(ensemble || student).
    teachers: list[str] = field(default_factory=list)
    distill_weight: float = 0.5  # in [0, 1]
    distill_temperature: float = 2.0  # T > 0: softens both distributions


ModelConfig = MLPConfig | CNNConfig | ResNetConfig


@dataclass
class RunConfig:
    """Everything that defines a run; saved as config.toml-equivalent JSON in the run folder."""

    model: ModelConfig = field(default_factory=MLPConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = ""
    data: str = ""  # the data source: a path, a known data set's name or embedded[:options]; "" = the embedded default
    classes: list[str] = field(default_factory=list)  # names for the data's classes (--classes); [] = the data's own


def to_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _build(cls, values: dict[str, Any], where: str):
    """Build dataclass `cls` from `values`, refusing unknown keys and values of the wrong type."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a table, got {values!r}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in values.items()}
    return cls(**kwargs)


def _coerce(hint, value, where: str):
    origin = get_origin(hint)
    if origin is Literal:
        if value not in get_args(hint):
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, get_args(hint)))}")
        return value
    if origin is list:
        (item,) = get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else _build(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def model_from_dict(values: dict[str, Any], where: str = "model") -> ModelConfig:
    kind = values.get("kind", "mlp")
    classes = {"mlp": MLPConfig, "cnn": CNNConfig, "resnet": ResNetConfig}
    if kind not in classes:
        raise ConfigError(f"{where}.kind: {kind!r} is not one of 'mlp', 'cnn', 'resnet'")
    return _build(classes[kind], values, where)


def run_from_dict(values: dict[str, Any], where: str = "config") -> RunConfig:
    values = dict(values)
    unknown = sorted(set(values) - {"model", "train", "preset", "data", "classes"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: classes, data, model, preset, train)")
    model = model_from_dict(values.pop("model", {}), f"{where}: model")
    train = _build(TrainConfig, values.pop("train", {}), f"{where}: train")
    classes = _coerce(list[str], values.pop("classes", []), f"{where}: classes")
    config = RunConfig(model=model, train=train, classes=classes, **{k: _coerce(str, v, f"{where}: {k}") for k, v in values.items()})
    validate(config, where)
    return config


def validate(config: RunConfig, where: str = "config") -> None:
    """Range checks that types alone cannot express."""
    t, m = config.train, config.model
    checks = [
        (0 < t.lr < math.inf, "train.lr must be > 0 and finite"),
        (t.batch_size >= 1, "train.batch_size must be >= 1"),
        (t.eval_batch_size >= 1, "train.eval_batch_size must be >= 1"),
        (t.epochs >= 0, "train.epochs must be >= 0"),
        (0 <= t.val_fraction < 1, "train.val_fraction must be in [0, 1)"),
        (0 < t.test_fraction < 1, "train.test_fraction must be between 0 and 1"),
        (t.val_folds == 0 or t.val_folds >= 2, "train.val_folds must be 0 (one validation part) or at least 2"),
        (0 <= t.val_fold < max(t.val_folds, 1), "train.val_fold must be in 0..val_folds - 1"),
        (0 <= t.momentum < math.inf and 0 <= t.weight_decay < math.inf, "train.momentum and train.weight_decay must be finite and >= 0"),
        (0 < m.init_std < math.inf, "model.init_std must be > 0 and finite"),
        (0 <= t.warmup_fraction <= 1, "train.warmup_fraction must be between 0 and 1"),
        (0 <= t.label_smoothing < 1, "train.label_smoothing must be in [0, 1)"),
        (all(v >= 0 for v in dataclasses.asdict(t.augment).values()) and t.augment.scale < 1 and t.augment.stroke <= 1
         and t.augment.aspect <= 1 and t.augment.crop < 0.5 and t.augment.blur <= 4
         and t.augment.style <= 1,
         "train.augment values must be >= 0, scale < 1, stroke <= 1, aspect <= 1, crop < 0.5, blur <= 4 and style <= 1"),
        (0 < t.mix_alpha < math.inf, "train.mix_alpha must be > 0 and finite"),
        (0 <= t.swa_epochs <= t.epochs, "train.swa_epochs must be between 0 and train.epochs"),
        (0 <= t.swa_lr < math.inf and (t.swa_lr == 0 or 0 < t.swa_epochs < t.epochs),
         "train.swa_lr must be finite and >= 0, and needs 0 < train.swa_epochs < train.epochs (the schedule runs before the averaged epochs)"),
        (0 <= t.distill_weight <= 1, "train.distill_weight must be between 0 and 1"),
        (0 < t.distill_temperature < math.inf, "train.distill_temperature must be > 0 and finite"),
        (all(t.teachers), "train.teachers must be run folders (no empty names)"),
    ]
    if isinstance(m, MLPConfig):
        checks.append((all(h >= 1 for h in m.hidden), "model.hidden sizes must be >= 1"))
    elif isinstance(m, ResNetConfig):
        checks.append((len(m.widths) == len(m.residual) and 1 <= len(m.widths) <= 5, "model.widths and model.residual need the same length, 1 to 5 stages"))
        checks.append((all(w >= 1 for w in m.widths) and all(r >= 0 for r in m.residual), "model.widths must be >= 1 and model.residual >= 0"))
        checks.append((0 <= m.dropout < 1, "dropout probabilities must be in [0, 1)"))
    else:
        checks.append((all(b.filters >= 1 and b.kernel >= 1 and b.stride >= 1 and b.pool >= 0 for b in m.blocks),
                       "model.blocks need filters, kernel and stride >= 1 and pool >= 0"))
        checks.append((all(b.kernel % 2 == 1 or b.stride == 1 for b in m.blocks), "model.blocks with an even kernel need stride 1 ('same' padding)"))
        checks.append((cnn_output_size(m) >= 1, "model.blocks shrink the 28x28 image to nothing; use fewer pooling or stride steps"))
        drops = [m.input_dropout, m.fc_dropout] + [b.dropout for b in m.blocks]
        checks.append((all(0 <= p < 1 for p in drops), "dropout probabilities must be in [0, 1)"))
        checks.append((all(h >= 1 for h in m.fc), "model.fc sizes must be >= 1"))
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{where}: {message}")


def cnn_output_size(config: CNNConfig, size: int = 28) -> int:
    """Side of the last block's feature maps for a size x size input ('same' padding, floor pooling)."""
    for block in config.blocks:
        size = (size - 1) // block.stride + 1
        if block.pool > 1:
            size //= block.pool
    return size


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file; errors name the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: tables merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged
