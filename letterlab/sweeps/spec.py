"""A sweep spec (TOML): a base (a preset name or a config file), overrides applied to everything,
named variants and/or a grid that set only what differs, the seeds, the data, and ranges for a
random or Optuna search. Every setting is a dotted path into the run config (`train.lr`,
`model.hidden`); in a list, a number picks one item and `*` every item (`model.blocks.*.kernel`).

    base = "mlp-tanh-50"
    seeds = [0, 1]
    data = "../shared/data/notmnist/course"
    [overrides]
    train.epochs = 2
    [variants.lr-high]
    train.lr = 0.05
    [grid]
    "train.batch_size" = [32, 64]
    [search]                       # for --search random|optuna
    "train.lr" = {low = 0.001, high = 0.1, log = true}
    "train.batch_size" = [32, 64, 128]

`folds = 5` judges every variant and seed by k-fold cross-validation: a trial per fold, each
validating on one fold of the training pool, every font on one side (`fold_by = "font"`, the
default; the data must name its fonts) or by image (`fold_by = "image"`).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from letterlab.errors import ConfigError
from letterlab.models.presets import resolve_config
from letterlab.run_config import RunConfig, load_toml, run_from_dict, to_dict

BASE = "base"  # the name of the variant that runs the base itself
KNOWN_KEYS = ("base", "seeds", "folds", "fold_by", "data", "overrides", "variants", "grid", "search")
FOLD_BY = {"font": "font", "image": "random"}  # fold_by -> train.val_split


@dataclass(frozen=True)
class Range:
    """A searched setting: numbers from low to high (log-uniform when `log`), or one of `choices`."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple = ()


@dataclass(frozen=True)
class Variant:
    name: str
    settings: dict[str, Any]  # dotted path -> value, what differs from the base
    config: RunConfig  # with the base's seed; each trial sets its own


@dataclass(frozen=True)
class SweepSpec:
    path: Path
    base: RunConfig
    seeds: tuple[int, ...]
    variants: tuple[Variant, ...]  # the base first
    search: dict[str, Range] = field(default_factory=dict)
    folds: int = 0  # k-fold cross-validation: a trial per fold (0: one validation part, as the config says)
    fold_by: str = "font"  # "font": every font's images in one fold; "image": stratified by class

    @property
    def fold_numbers(self) -> tuple[int | None, ...]:
        """The folds each (variant, seed) trains: 0..folds-1, or (None,) without cross-validation."""
        return tuple(range(self.folds)) if self.folds else (None,)


def searched_variant(base: dict[str, Any], settings: dict[str, Any], where: str) -> Variant:
    """The variant of a search trial's sampled `settings` over the base config (a dict), named by
    its values, so the same draw finds the same run folder again."""
    digest = hashlib.sha1(repr(sorted(settings.items())).encode()).hexdigest()[:6]  # two draws that print alike differ here
    return Variant(f"{_setting_names(settings)}-{digest}", settings, _configured(run_from_dict(base, where), settings, f"{where}: search"))


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'lr': 1}} and {'train.lr': 1} alike -> {'train.lr': 1}."""
    flat = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not _is_range(value):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _is_range(value: dict) -> bool:
    return bool(value) and set(value) <= {"low", "high", "log", "integer"}


def set_setting(values: dict[str, Any], path: str, value: Any, where: str) -> None:
    """Set the dotted `path` in a config dict, in place; unknown keys are refused."""
    *parents, last = path.split(".")
    targets = [values]
    for i, key in enumerate(parents + [last]):
        stepped = []
        for target in targets:
            if isinstance(target, list):
                if key == "*":
                    picked = list(range(len(target)))
                elif key.isdigit() and int(key) < len(target):
                    picked = [int(key)]
                else:
                    raise ConfigError(f"{where}: {path}: {key!r} is not an item of a list of {len(target)} (a number or '*')")
            elif isinstance(target, dict) and key in target:
                picked = [key]
            else:
                known = ", ".join(sorted(target)) if isinstance(target, dict) else "none"
                raise ConfigError(f"{where}: unknown key {path!r} ({'.'.join(parents[:i] + [key])} is not a setting; known there: {known})")
            if i == len(parents):
                for k in picked:
                    target[k] = copy.deepcopy(value)
            else:
                stepped += [target[k] for k in picked]
        targets = stepped


def get_setting(values: dict[str, Any], path: str) -> Any:
    """The value at a dotted `path` of a config dict (`*`: the first item's); None where there is none."""
    for key in path.split("."):
        try:
            values = values[0 if key == "*" else int(key)] if isinstance(values, list) else values[key]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return values


def _configured(base: RunConfig, settings: dict[str, Any], where: str) -> RunConfig:
    """The base with `settings`; data paths a setting gives are made absolute, as for the base."""
    values = to_dict(base)
    for path, value in settings.items():
        set_setting(values, path, value, where)
    try:
        return resolve_config(run_from_dict(values, where))
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _value_text(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value).replace(" ", "")


def _setting_names(settings: dict[str, Any]) -> str:
    """'batch_size=32,lr=0.05': each setting by the last part of its path (the whole path where two
    share it)."""
    last = [path.split(".")[-1] for path in settings]
    return ",".join(f"{short if last.count(short) == 1 else path}={_value_text(value)}"
                    for (path, value), short in zip(settings.items(), last))


def _grid_variants(grid: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every combination of the grid's values, named by `_setting_names`."""
    if not grid:
        return []
    for path, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: grid: {path} needs a list of values, got {values!r}")
    combinations = [dict(zip(grid, combination)) for combination in itertools.product(*grid.values())]
    return [(_setting_names(settings), settings) for settings in combinations]


def _range(path: str, value: Any, where: str) -> Range:
    if isinstance(value, list) and value:
        return Range(choices=tuple(value))
    if isinstance(value, dict) and _is_range(value) and {"low", "high"} <= set(value):
        low, high = value["low"], value["high"]
        if not (isinstance(low, int | float) and isinstance(high, int | float) and low < high and (low > 0 or not value.get("log"))):
            raise ConfigError(f"{where}: search: {path} needs numbers low < high (low > 0 with log = true)")
        return Range(low=low, high=high, log=bool(value.get("log")), integer=bool(value.get("integer")))
    raise ConfigError(f"{where}: search: {path} needs a list of choices or {{low = ..., high = ..., log = true|false}}, got {value!r}")


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    seeds = list(range(value)) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"{where}: seeds needs a list of seeds >= 0 (or their count), got {value!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds {seeds} has a seed twice")
    return tuple(seeds)


def _folds(table: dict[str, Any], where: str) -> tuple[int, str]:
    folds, fold_by = table.get("folds", 0), table.get("fold_by", "font")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds == 1 or folds < 0:
        raise ConfigError(f"{where}: folds needs a whole number of folds, 2 or more (0: no cross-validation), got {folds!r}")
    if fold_by not in FOLD_BY:
        raise ConfigError(f"{where}: fold_by needs \"font\" or \"image\", got {fold_by!r}")
    return folds, fold_by


def load_spec(path: str | Path, seeds: int | None = None, settings: dict[str, Any] | None = None,
              only: list[str] | None = None, folds: int | None = None) -> SweepSpec:
    """Read and check a sweep spec; `seeds` (a count) replaces the spec's seeds with 0..seeds-1,
    `settings` (dotted path -> value) are added to its overrides, `only` keeps those variants
    (the base always runs) and `folds` replaces the spec's folds. Errors (ConfigError) name the file and the key."""
    path = Path(path)
    where = str(path)
    table = load_toml(path)
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KNOWN_KEYS)})")
    if not isinstance(table.get("base"), str):
        raise ConfigError(f"{where}: base needs a preset name or a config file, e.g. base = \"mlp-tanh-50\"")
    if seeds is not None:
        table["seeds"] = seeds
    if "seeds" not in table:
        raise ConfigError(f"{where}: no seeds; e.g. seeds = [0, 1, 2] (or --seeds N)")
    for key in ("overrides", "variants", "grid", "search"):
        if not isinstance(table.get(key, {}), dict):
            raise ConfigError(f"{where}: {key} needs a table, got {table[key]!r}")
    data = table.get("data")
    if data is not None and not isinstance(data, str):
        raise ConfigError(f"{where}: data needs a path or a data set name, got {data!r}")
    try:
        base = resolve_config(table["base"], data)
    except ConfigError as error:
        raise ConfigError(f"{where}: base: {error}") from None
    base = _configured(base, flatten(table.get("overrides", {})) | (settings or {}), f"{where}: overrides")

    for name, changes in table.get("variants", {}).items():
        if not isinstance(changes, dict):
            raise ConfigError(f"{where}: variants.{name} needs a table of settings, got {changes!r}")
    named = [(name, flatten(changes), False) for name, changes in table.get("variants", {}).items()]
    named += [(name, changes, True) for name, changes in _grid_variants(flatten(table.get("grid", {})), where)]
    variants = [Variant(BASE, {}, base)]
    for name, changes, from_grid in named:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError(f"{where}: variants.{name}: a variant's name becomes a folder: no '/', '\\' or leading '.'")
        if name == BASE or name in {v.name for v in variants}:
            raise ConfigError(f"{where}: variants.{name}: the name is taken ({BASE!r} is the base itself)")
        config = _configured(base, changes, f"{where}: variants.{name}")
        same = next((v.name for v in variants if v.config == config), None)
        if same is not None and from_grid:  # a grid point that is the base (or a named variant) runs once, as that
            continue
        if same is not None:
            changes_text = "changes nothing" if same == BASE else f"is the same run as {same!r}"
            raise ConfigError(f"{where}: variants.{name} {changes_text}")
        variants.append(Variant(name, changes, config))
    if only is not None:
        missing = [name for name in only if name not in {v.name for v in variants}]
        if missing:
            raise ConfigError(f"{where}: no variant {missing[0]!r} (variants: {', '.join(v.name for v in variants)})")
        variants = [v for v in variants if v.name == BASE or v.name in only]
    search = {p: _range(p, v, where) for p, v in flatten(table.get("search", {})).items()}
    if folds is not None:
        table["folds"] = folds
    spec = SweepSpec(path, base, _seeds(table["seeds"], where), tuple(variants), search, *_folds(table, where))
    for key, searched in search.items():  # every value a search may draw must make a valid config
        if not searched.choices and isinstance(get_setting(to_dict(base), key), int) and not searched.integer:
            raise ConfigError(f"{where}: search: {key} is a whole number: add integer = true to its range")
        for value in searched.choices or (searched.low, searched.high):
            searched_variant(to_dict(base), {key: value}, where)
    return spec
