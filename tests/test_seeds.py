"""Many seeds in one compiled program (`--num-seeds K`): each seed's run directory holds what a separate
run of that seed writes, and replays that would not fit are refused before anything is allocated."""

from __future__ import annotations

import pytest

from imitax import cli
from imitax.train.loop import seeds_vectorized
from imitax.train.run_dir import EVAL_FILE, METRICS_FILE, read_rows
from tests import fault_injection as fi

TIMING = {"steps_per_s", "updates_per_s"}
TINY = [*fi.TRAIN.split(), "--total-steps", "1500"]


EXACT = {"step", "phase", "env_steps", "updates", "episodes", "episode_return", "episode_length", "epsilon"}
"""Columns equal to the digit everywhere. On a CPU, where the seeds are looped, every column is; with
vmap (accelerators) the update metrics agree to about 6 digits: a batched sum adds in another order."""


def _rows(run, name):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_rows(run / name)]


def _assert_same_run(together, alone):
    assert _rows(together, EVAL_FILE) == _rows(alone, EVAL_FILE)
    rows, expected = _rows(together, METRICS_FILE), _rows(alone, METRICS_FILE)
    assert [{k: r[k] for k in EXACT} for r in rows] == [{k: r[k] for k in EXACT} for r in expected]
    if not seeds_vectorized():
        assert rows == expected
    for row, want in zip(rows, expected, strict=True):
        for name in set(row) - EXACT:
            assert float(row[name]) == pytest.approx(float(want[name]), rel=1e-4, nan_ok=True), name


@pytest.mark.timeout(900)
def test_seeds_trained_together_equal_separate_runs(tmp_path):
    together = tmp_path / "together"
    assert cli.main([*TINY, "--seed", "3", "--num-seeds", "2", "--run-dir", str(together)]) == 0
    for seed in (3, 4):
        alone = tmp_path / f"alone{seed}"
        assert cli.main([*TINY, "--seed", str(seed), "--run-dir", str(alone)]) == 0
        _assert_same_run(together / f"seed{seed}", alone)
    assert _rows(together / "seed3", METRICS_FILE) != _rows(together / "seed4", METRICS_FILE)
    assert cli.main(["eval", str(together / "seed4"), "--episodes", "1"]) == 0  # each seed is a run


def test_replays_that_do_not_fit_are_refused_naming_what_would(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "dqn", "--preset", "nature", "--num-seeds", "64", "--run-dir", str(run)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "GiB" in err and "--num-seeds" in err and "--replay-capacity" in err
    assert not run.exists()


@pytest.mark.slow  # benchmarks/slow_checks.py runs it; 30 s; resuming one seed is tested elsewhere
@pytest.mark.timeout(600)
def test_a_run_of_several_seeds_resumes_as_one(tmp_path):
    run = tmp_path / "seeds"
    assert cli.main([*TINY, "--total-steps", "1000", "--num-seeds", "2", "--run-dir", str(run)]) == 0
    assert cli.main(["train", "dqn", "--resume", str(run), "--total-steps", "1500"]) == 0
    for seed in ("seed0", "seed1"):
        rows = read_rows(run / seed / METRICS_FILE)
        assert [int(r["step"]) for r in rows] == [504, 1000, 1504]
        assert int(read_rows(run / seed / EVAL_FILE)[-1]["step"]) == 1504
