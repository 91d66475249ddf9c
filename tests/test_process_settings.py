"""The `letterlab` command's process settings: passive OpenMP waiting only on a machine that is busy now."""

import itertools

import pytest

from letterlab.cli import main


@pytest.fixture
def machine(monkeypatch):
    """Set the 1-minute load average and the runnable-thread readings the command sees, on 2 cores."""
    def set_up(load: float, readings):
        monkeypatch.setattr(main.os, "cpu_count", lambda: 2)
        monkeypatch.setattr(main.os, "getloadavg", lambda: (load, load, load))
        values = itertools.cycle(readings)
        monkeypatch.setattr(main, "runnable_threads", lambda: next(values))
    return set_up


def waits_passively(argv) -> bool:
    return main.process_settings(argv).get("OMP_WAIT_POLICY") == "PASSIVE"


def test_an_idle_machine_keeps_spinning_waits(machine):
    machine(0.2, [1])
    assert not waits_passively(["train"])
    assert set(main.MALLOC_SETTINGS.items()) <= set(main.process_settings(["train"]).items())


def test_a_load_average_left_over_from_a_finished_job_is_not_busy(machine):
    machine(1.6, [1, 1, 2, 1, 1])  # only this process runs now; one stray reading
    assert not waits_passively(["train"])


def test_other_jobs_running_now_and_for_the_last_minute_make_it_wait_passively(machine):
    machine(1.6, [3, 2, 3, 3, 1])
    assert waits_passively(["train", "--preset", "cnn"])


def test_a_burst_now_on_a_quiet_minute_is_not_busy(machine):
    machine(0.3, [4])
    assert not waits_passively(["train"])


def test_without_proc_the_load_average_decides(machine):
    machine(1.6, [None])
    assert waits_passively(["train"])


def test_the_server_always_waits_passively(machine):
    machine(0.0, [1])
    assert waits_passively(["--debug", "serve", "model.pt"])


def test_runnable_threads_counts_at_least_this_one():
    assert main.runnable_threads() is None or main.runnable_threads() >= 1
