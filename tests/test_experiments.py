"""The experiment scripts run end to end at a tiny budget, and a finished sweep is reused, not redone."""

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


@pytest.mark.timeout(600)
def test_dqn_sweep_runs_and_resumes(tmp_path, capsys):
    sweep = _load("dqn_atari")
    argv = [
        "--games",
        "CartPole-v1",
        "--seeds",
        "0",
        "1",
        "--preset",
        "cartpole",
        "--out",
        str(tmp_path),
        "--",
        "--total-steps",
        "2000",
        "--log-every",
        "1000",
        "--eval-every",
        "0",
        "--eval-episodes",
        "2",
    ]
    assert sweep.main(argv) == 0
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["game"], r["seed"], r["env_steps"]) for r in rows] == [
        ("CartPole-v1", "0", "2000"),
        ("CartPole-v1", "1", "2000"),
    ]
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("metrics.csv")}
    assert sweep.main(argv) == 0  # complete runs are reused
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("metrics.csv")} == stamps
    assert "CartPole-v1" in capsys.readouterr().out
