"""Resuming a run however its directory is named, from any stop, and the small bad inputs around it."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from pathlib import Path

import pytest

from imitax import cli
from imitax.agents.algorithms import DQN_CARTPOLE
from imitax.train.run_dir import EVAL_FILE, METRICS_FILE, read_rows
from imitax.train.runner import train
from tests import fault_injection as fi

TINY = dataclasses.replace(
    DQN_CARTPOLE,
    total_steps=2_000,
    log_every=1_000,
    eval_every=1_000,
    checkpoint_every=1_000,
    eval_episodes=2,
    learning_starts=200,
    replay_capacity=2_000,
)


def _steps(run: Path, file: str) -> list[int]:
    return [int(r["step"]) for r in read_rows(run / file)]


@pytest.fixture
def finished(tmp_path) -> Path:
    run = tmp_path / "run"
    train(dataclasses.replace(TINY, run_dir=str(run)), quiet=True)
    return run


@pytest.mark.timeout(600)
def test_resume_finds_a_run_however_its_path_is_spelled(finished, tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(finished, moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    for spelling in ("copy/", "./copy", str(moved)):
        assert cli.main(["train", "dqn", "--resume", spelling]) == 0
    assert cli.main(["train", "dqn", "--resume", "copy", "--run-dir", "./copy/"]) == 0  # the same directory
    assert cli.main(["train", "dqn", "--resume", "copy", "--run-dir", str(finished)]) == 2


@pytest.mark.timeout(600)
def test_resuming_a_finished_run_adds_no_rows(finished):
    metrics, evals = _steps(finished, METRICS_FILE), _steps(finished, EVAL_FILE)
    assert evals == [1000, 2000]
    assert cli.main(["train", "dqn", "--resume", str(finished)]) == 0
    assert cli.main(["train", "dqn", "--resume", str(finished), "--total-steps", "1000"]) == 0
    assert (_steps(finished, METRICS_FILE), _steps(finished, EVAL_FILE)) == (metrics, evals)


@pytest.mark.timeout(600)
def test_a_run_stopped_before_its_first_checkpoint_starts_again_in_place(finished, capsys):
    expected = read_rows(finished / METRICS_FILE)
    shutil.rmtree(finished / "checkpoints")  # as if killed before the first checkpoint was written
    assert cli.main(["train", "dqn", "--run-dir", str(finished), "--preset", "cartpole"]) == 2
    assert f"--resume {finished}" in capsys.readouterr().err
    assert cli.main(["train", "dqn", "--resume", str(finished)]) == 0
    assert "starting again in place" in capsys.readouterr().out
    again = read_rows(finished / METRICS_FILE)
    assert [r["step"] for r in again] == [r["step"] for r in expected]  # unique rows, from step 0
    assert [r["updates"] for r in again] == [r["updates"] for r in expected]


@pytest.mark.timeout(600)
def test_episode_lengths_count_the_game_steps_only(finished):
    # CartPole pays 1 a step, so a game's length is its return: the reset step counts for neither.
    for row in read_rows(finished / METRICS_FILE):
        if row["episode_return"]:
            assert float(row["episode_length"]) == pytest.approx(float(row["episode_return"]))


def test_training_into_a_dataset_directory_is_refused(tmp_path, capsys):
    dataset = tmp_path / "demos"
    (dataset / "data").mkdir(parents=True)
    (dataset / "data" / "metadata.json").write_text("{}")
    assert cli.main(["train", "dqn", "--preset", "cartpole", "--run-dir", str(dataset)]) == 2
    assert "holds a demonstration dataset" in capsys.readouterr().err
    assert sorted(os.listdir(dataset)) == ["data"]


@pytest.mark.parametrize(
    "args, message",
    [(["--episodes", "0"], "--episodes must be >= 1"), (["--epsilon", "1.5"], "--epsilon must be in [0, 1]")],
)
def test_eval_checks_its_arguments_like_train(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as stop:  # tyro reports a config's own check in its usage box
        cli.main(["eval", str(tmp_path), *args])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_reproduce_gives_the_same_metrics_bit_for_bit(tmp_path, capsys):
    original = tmp_path / "original"
    assert cli.main([*fi.TRAIN.split(), "--total-steps", "1500", "--run-dir", str(original)]) == 0
    assert cli.main(["reproduce", str(original)]) == 0
    copy = tmp_path / "original-reproduced"
    timing = {"steps_per_s", "updates_per_s"}

    def rows(run, name):
        return [{k: v for k, v in r.items() if k not in timing} for r in read_rows(run / name)]

    for name in (METRICS_FILE, EVAL_FILE):
        assert rows(copy, name) == rows(original, name) and rows(original, name)
    assert cli.main(["reproduce", str(original)]) == 2  # the copy is there: nothing is overwritten
    assert "already holds a run" in capsys.readouterr().err
    assert cli.main(["reproduce", str(tmp_path / "nothing")]) == 2


class _FakeWandb:
    """Stands in for the wandb package: records what a run logs."""

    def __init__(self):
        self.runs = []

    def init(self, **kwargs):
        run = type("Run", (), {"logged": [], "finished": False, "kwargs": kwargs})()
        run.log = lambda data, step: run.logged.append((step, data))
        run.finish = lambda: setattr(run, "finished", True)
        self.runs.append(run)
        return run


def test_weights_and_biases_logging_when_asked(tmp_path, monkeypatch, capsys):
    fake = _FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    run = tmp_path / "run"
    args = [*fi.TRAIN.split(), "--total-steps", "1000", "--wandb-project", "imitax-tests"]
    args += ["--run-dir", str(run)]
    assert cli.main(args) == 0
    (logged,) = fake.runs
    assert logged.finished and logged.kwargs["project"] == "imitax-tests"
    assert logged.kwargs["config"]["config"]["seed"] == 0  # the run's record
    keys = {key for _, data in logged.logged for key in data}
    assert {"train/loss", "train/episode_return", "eval/return_mean"} <= keys
    assert [step for step, _ in logged.logged] == sorted(step for step, _ in logged.logged)

    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed: a message, nothing written
    other = tmp_path / "other"
    assert cli.main([*args[:-1], str(other)]) == 2
    assert "pip install wandb" in capsys.readouterr().err and not other.exists()
