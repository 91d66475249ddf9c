"""McNemar between two runs of a reproduce folder, from their inspection.json files alone."""

import json

from letterlab.reports.inspection import mcnemar_between
from letterlab.runs import INSPECTION


def write(run, correct, sha="abc"):
    run.mkdir()
    (run / INSPECTION).write_text(json.dumps({"n": len(correct), "data_sha256": sha, "test_correct": correct}))


def test_mcnemar_between_runs_on_the_same_images(tmp_path):
    write(tmp_path / "a", [1, 1, 1, 1, 0, 1])
    write(tmp_path / "b", [0, 0, 0, 1, 0, 1])
    result = mcnemar_between(tmp_path / "a", tmp_path / "b")
    assert (result["only_a_correct"], result["only_b_correct"]) == (3, 0)
    assert result["p_value"] == 0.25  # two-sided: 2 * (1/2)^3


def test_no_test_between_runs_on_different_data(tmp_path):
    write(tmp_path / "a", [1, 0], sha="one")
    write(tmp_path / "b", [1, 0], sha="two")
    assert mcnemar_between(tmp_path / "a", tmp_path / "b") is None
    assert mcnemar_between(tmp_path / "a", tmp_path / "missing") is None
