"""The "how far can we go" section: the best preset against the best homework experiment, and a
sweep's table (its sweep.json, as `letterlab sweep` writes it): per variant the seeds, validation
and test accuracy mean ± sd, the validation difference to the base paired seed by seed and fold by
fold, the test accuracy's 95% interval, McNemar's test against the base, parameters and training
seconds. The table's rows are built here for the report and the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from letterlab.errors import LetterlabError
from letterlab.models.presets import HOMEWORK_PRESETS
from letterlab.reports.blocks import Block, Heading, Paragraph, Table
from letterlab.reports.experiments import Experiment

BEST_PRESET = "letters-best"
SWEEP_JSON = "sweep.json"
SWEEP_HEADER = ["variant", "seeds", "validation %", "validation vs base, paired", "test %", "test 95% CI", "vs base (McNemar)",
                "parameters", "s / trial"]


def _spread(mean, sd) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.2f}" if sd is None else f"{100 * mean:.2f} ± {100 * sd:.2f}"


def _paired(variant: dict) -> str:
    """'+0.12 ± 0.20 (5 pairs)': validation points above the base on the same seeds and folds."""
    paired = variant.get("val_paired")  # absent from a sweep.json written before it was recorded
    if not paired:
        return "(the base)" if variant["name"] == "base" else "-"
    spread = "" if paired["sd"] is None else f" ± {100 * paired['sd']:.2f}"
    return f"{100 * paired['mean']:+.2f}{spread} ({paired['pairs']} pair{'s' if paired['pairs'] > 1 else ''})"


def sweep_rows(variants: list[dict]) -> list[list[str]]:
    """One row of text per variant summary (sweep.json's "variants")."""
    rows = []
    for v in variants:
        interval = "-" if v["test_ci95"] is None else f"{100 * v['test_ci95'][0]:.2f} to {100 * v['test_ci95'][1]:.2f}"
        test = v["mcnemar"]
        against = ("(the base)" if v["name"] == "base" else "-") if test is None else \
            f"+{test['only_variant_correct']} / -{test['only_base_correct']}, p = {test['p_value']:.3g}"
        seeds = f"{v['seeds']} x {v['folds']} folds" if v.get("folds") else str(v["seeds"])
        rows.append([v["name"], seeds, _spread(v["val_mean"], v["val_sd"]), _paired(v), _spread(v["test_mean"], v["test_sd"]), interval,
                     against, "-" if v["parameters"] is None else f"{v['parameters']:,}", "-" if v["train_seconds"] is None else f"{v['train_seconds']:.1f}"])
    return rows


def read_sweep(folder: Path) -> dict:
    path = Path(folder) / SWEEP_JSON
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise LetterlabError(f"{folder}: no {SWEEP_JSON}; is this a `letterlab sweep` folder?") from None
    except json.JSONDecodeError as error:
        raise LetterlabError(f"{path}: not valid JSON ({error})") from None


def how_far_blocks(experiments: list[Experiment], sweep: Path | None) -> list[Block]:
    """The section's blocks: the best preset against the best homework experiment (when the report
    has both) and the sweep's table (when a sweep folder is given)."""
    found = {e.name: e for e in experiments}
    best = found.get(BEST_PRESET)
    homework = [e for e in experiments if e.name in HOMEWORK_PRESETS]
    if best is None and sweep is None:
        return []
    blocks: list[Block] = [Heading(2, "How far can we go")]
    if best is not None and homework:
        top = max(homework, key=lambda e: e.mean("test_accuracy"))
        blocks.append(Paragraph(
            f"{BEST_PRESET}: test accuracy {100 * best.mean('test_accuracy'):.2f}% over {len(best.runs)} seed(s), against "
            f"{100 * top.mean('test_accuracy'):.2f}% for the best homework experiment here ({top.name}); "
            f"{best.mean('train_seconds') / 60:.1f} minutes of training per seed. What each of its settings buys: "
            "docs/accuracy.md."))
    if sweep is not None:
        data = read_sweep(sweep)
        blocks.append(Paragraph(
            f"Sweep {data['spec']} ({len(data['trials'])} trials): each variant changes the base in the way its name says; "
            "accuracy mean ± standard deviation over seeds (cross-validated: over every seed and fold, so the validation "
            "figure is the cross-validation one), the validation difference to the base on the same seeds and folds "
            "(mean ± standard deviation of the paired differences, in points), the test accuracy's 95% t-interval, and McNemar's exact "
            "test against the base on the same test images (images only the variant / only the base got right, summed over the "
            "trials both have). Settings are chosen on validation; test is shown for the record."))
        blocks.append(Table(SWEEP_HEADER, sweep_rows(data["variants"])) if data["variants"] else Paragraph("(no finished trials)"))
    return blocks
