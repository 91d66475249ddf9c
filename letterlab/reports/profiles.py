"""Reproduction profiles: how much of the homework's training each `reproduce` run does.

A profile overrides TrainConfig fields per model kind; "full" overrides nothing (the homework's
exact settings, as in `letterlab.models.presets`)."""

from __future__ import annotations

from typing import Any

from letterlab.errors import ConfigError
from letterlab.models.presets import HOMEWORK_PRESETS, get_preset, preset_dict
from letterlab.run_config import RunConfig, merge, run_from_dict, to_dict

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # A smoke run of about a minute: every preset trains and is tested, nothing is converged.
    "quick": {"mlp": {"epochs": 3}, "cnn": {"epochs": 1}, "resnet": {"epochs": 1}},
    # Under 5 minutes on 2 CPU cores with the course data: a CNN epoch of its 11,659 training images
    # costs about 75 s there, more than all 60 epochs of the four MLPs, so only the CNNs train
    # fewer epochs (1 instead of 10).
    "default": {"cnn": {"epochs": 1}},
    "full": {},
}


def profile_config(preset: str, profile: str, *, seed: int = 0, double_softmax: bool = False, data: str = "") -> RunConfig:
    """The preset's config under `profile`, with the run's seed, loss and data source."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    values = preset_dict(preset)
    train = dict(PROFILES[profile].get(values["model"]["kind"], {}), seed=seed)
    if double_softmax:
        train["loss"] = "double_softmax"
    return run_from_dict(merge(values, {"train": train, "data": data}), where=f"preset {preset}, profile {profile}")


def differences_from_homework(config: RunConfig) -> list[str]:
    """'train.epochs: 3 (homework 10)' for every training setting that differs from the preset
    ('(preset 36)' for presets beyond the homework), the seed, loss and data aside."""
    reference = to_dict(get_preset(config.preset))["train"] if config.preset else {}
    ours = to_dict(config)["train"]
    ignored = {"seed", "loss"}
    source = "homework" if config.preset in HOMEWORK_PRESETS else "preset"
    return [f"train.{key}: {ours[key]} ({source} {value})" for key, value in reference.items()
            if key not in ignored and ours.get(key) != value]
