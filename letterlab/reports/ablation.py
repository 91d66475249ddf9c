"""The "how far can we go" section: an ablation folder (one subfolder per config, holding run folders
seed0, seed1, ... as `docs/ablation/run.py` writes them) summarised as mean ± std over seeds, and the
best model of the report compared with the best homework experiment."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from letterlab.models.presets import HOMEWORK_PRESETS
from letterlab.reports.blocks import Block, Heading, Paragraph, Table
from letterlab.reports.experiments import Experiment

BEST_PRESET = "letters-best"


@dataclass
class AblationRow:
    name: str
    results: list[dict]  # results.json of each finished seed

    def spread(self, key: str, scale: float = 100, digits: int = 2) -> str:
        """'mean ± std' over seeds; '-' where not measured (NaN: trained without a validation part)."""
        values = [r[key] * scale for r in self.results if not math.isnan(r[key])]
        if not values:
            return "-"
        deviation = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.{digits}f} ± {deviation:.{digits}f}"


def read_ablation(folder: Path) -> list[AblationRow]:
    """One row per config subfolder with at least one finished seed, in name order."""
    rows = []
    for config in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        results = [json.loads(p.read_text()) for p in sorted(config.glob("seed*/results.json"))]
        if results:
            rows.append(AblationRow(config.name, results))
    return rows


def ablation_table(rows: list[AblationRow]) -> Table:
    return Table(["config", "seeds", "validation accuracy %", "test accuracy %", "training minutes"],
                 [[row.name, str(len(row.results)), row.spread("val_accuracy"), row.spread("test_accuracy"),
                   row.spread("train_seconds", 1 / 60, 1)] for row in rows])


def how_far_blocks(experiments: list[Experiment], ablation: Path | None) -> list[Block]:
    """The section's blocks: the best preset against the best homework experiment (when the report
    has both) and the ablation table (when a folder is given)."""
    found = {e.name: e for e in experiments}
    best = found.get(BEST_PRESET)
    homework = [e for e in experiments if e.name in HOMEWORK_PRESETS]
    if best is None and ablation is None:
        return []
    blocks: list[Block] = [Heading(2, "How far can we go")]
    if best is not None and homework:
        top = max(homework, key=lambda e: e.mean("test_accuracy"))
        blocks.append(Paragraph(
            f"{BEST_PRESET}: test accuracy {100 * best.mean('test_accuracy'):.2f}% over {len(best.runs)} seed(s), against "
            f"{100 * top.mean('test_accuracy'):.2f}% for the best homework experiment here ({top.name}); "
            f"{best.mean('train_seconds') / 60:.1f} minutes of training per seed. What each of its settings buys: "
            "docs/accuracy.md."))
    if ablation is not None:
        rows = read_ablation(ablation)
        blocks.append(Paragraph(f"Ablation from {ablation}: each row changes the validation-time base of {BEST_PRESET} "
                                "in one way (the row's name says how); mean ± standard deviation over seeds. Settings "
                                "are chosen on validation; test is shown for the record."))
        blocks.append(ablation_table(rows) if rows else Paragraph("(no finished runs in that folder)"))
    return blocks
