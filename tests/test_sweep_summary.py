"""A sweep's summary rows from trial results alone (no Ray): the paired validation difference to the base."""

import pytest

from letterlab.reports.sweep_section import SWEEP_HEADER, sweep_rows
from letterlab.run_config import RunConfig
from letterlab.sweeps.results import TrialResult, summarise
from letterlab.sweeps.spec import BASE, Variant


def _trial(variant, seed, fold, val):
    return TrialResult(variant, seed, f"runs/{variant}/{seed}-{fold}", "trained", epochs=1, val_accuracy=val, test_accuracy=0.9, fold=fold)


def test_validation_is_compared_with_the_base_on_the_same_seed_and_fold():
    base = [_trial(BASE, 0, f, v) for f, v in enumerate([0.90, 0.80, 0.95])]
    # one point above the base on every fold although its folds spread as widely as the base's
    wider = [_trial("wider", 0, f, v) for f, v in enumerate([0.91, 0.81, 0.96])]
    lone = [_trial("lone", 1, 0, 0.5)]  # seed 1 has no base trial to pair with
    variants = [Variant(name, {}, RunConfig()) for name in (BASE, "wider", "lone")]
    rows = {s.name: s for s in summarise(variants, base + wider + lone, {})}
    paired = rows["wider"].val_paired
    assert paired["pairs"] == 3 and paired["mean"] == pytest.approx(0.01) and paired["sd"] == pytest.approx(0, abs=1e-12)
    assert rows["wider"].val_sd == pytest.approx(rows[BASE].val_sd)  # the unpaired spread hides it
    assert rows[BASE].val_paired is None and rows["lone"].val_paired is None
    text = {row[0]: row for row in sweep_rows([vars(s) for s in rows.values()])}
    column = SWEEP_HEADER.index("validation vs base, paired")
    assert text["wider"][column] == "+1.00 ± 0.00 (3 pairs)"
    assert (text[BASE][column], text["lone"][column]) == ("(the base)", "-")


def test_one_pair_has_no_spread_and_old_sweep_files_still_read():
    variants = [Variant(name, {}, RunConfig()) for name in (BASE, "b")]
    rows = summarise(variants, [_trial(BASE, 0, None, 0.9), _trial("b", 0, None, 0.88)], {})
    column = SWEEP_HEADER.index("validation vs base, paired")
    assert sweep_rows([vars(s) for s in rows])[1][column] == "-2.00 (1 pair)"
    old = {key: value for key, value in vars(rows[1]).items() if key != "val_paired"}  # a sweep.json from before
    assert sweep_rows([old])[0][column] == "-"
