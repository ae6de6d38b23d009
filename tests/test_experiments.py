"""Every experiment script runs end to end at its tiny budget on Pong, and a finished run is reused."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("dqn_nature", marks=pytest.mark.slow),
        pytest.param("dqfd_2018", marks=pytest.mark.slow),
        "bc",
        "dagger",
    ],
)
def test_script_runs_at_a_tiny_budget_and_reuses_finished_runs(tmp_path, capsys, name):
    script = _load(name)
    argv = ["--games", "Pong", "--seeds", "0", "--budget", "tiny", "--out", str(tmp_path)]
    assert script.run_setting(script.SETTING, argv) == 0
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["game"], r["seed"]) for r in rows] == [("Pong", "0")]
    assert -21 <= float(rows[0]["return_mean"]) <= 21
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("metrics.csv")}
    assert script.run_setting(script.SETTING, argv) == 0  # complete runs are reused
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("metrics.csv")} == stamps
    assert "Pong" in capsys.readouterr().out
