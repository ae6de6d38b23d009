"""The plain progress line's time left: each phase (offline updates, then environment steps) at its own
speed."""

from __future__ import annotations

import pytest

from imitax.train import progress as progress_module
from imitax.train.progress import TrainProgress


@pytest.fixture
def clock(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: now[0])
    return now


def eta_of(capsys) -> str:
    return capsys.readouterr().out.strip().split(" | ")[-1]


def test_the_offline_phase_counts_down_to_its_own_end_and_the_online_phase_at_its_own_speed(clock, capsys):
    line = TrainProgress(total=120, offline_end=20)
    clock[0] = 10.0  # offline: 10 updates in 10 s, 10 left
    line.update(10, 1.0, None, "updates")
    assert eta_of(capsys) == "ETA 0m10s to the end of the offline updates"
    clock[0] = 30.0  # online begins: no speed of its own yet
    line.update(30, 1.0, None, "steps")
    assert eta_of(capsys) == "ETA n/a"
    clock[0] = 31.0  # 10 steps a second online: 80 steps left take 8 s, not the offline pace's 80
    line.update(40, 10.0, None, "steps")
    assert eta_of(capsys) == "ETA 0m08s"


@pytest.mark.parametrize("offline_end", [0, 50])  # no offline updates; offline updates only (DAgger)
def test_a_run_of_one_phase_counts_down_to_its_total(clock, capsys, offline_end):
    line = TrainProgress(total=50, offline_end=offline_end)
    clock[0] = 5.0
    line.update(10, 2.0, None)
    assert eta_of(capsys) == "ETA 0m20s"
