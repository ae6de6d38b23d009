"""Failures of a run's directory and record that a user meets without meaning to: two writers on one run,
a damaged checkpoint, a full disk, a diverging run, a record that does not say what ran, a closed pipe,
a damaged dataset. Each is one message, and nothing already written is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from imitax import cli
from imitax.data.dataset import load_dataset
from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.train import run_dir as rd
from imitax.train.divergence import first_non_finite
from tests import fault_injection as fi

TINY = [*fi.TRAIN.split(), "--total-steps", "1000"]


def _problems(cases: list[fi.Case]) -> list[tuple]:
    return [
        (c.name, c.problems, c.tracebacks, c.rows_lost)
        for c in cases
        if c.problems or c.tracebacks or c.rows_lost
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list]:
    run = tmp_path_factory.mktemp("ref") / "run"
    assert fi.imitax(*fi.train_args(run)).returncode == 0
    return fi.counters(run)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 1,000-step CartPole run, to be copied by tests that change it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert cli.main([*TINY, "--run-dir", str(run)]) == 0
    return run


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


# -- one writer per run directory ---------------------------------------------------------------------------


def test_the_lock_names_its_holder_and_is_taken_over_when_it_dies(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from imitax.train import run_dir as rd\n"
            "with rd.holding([Path(sys.argv[1])]):\n    print('held', flush=True); time.sleep(60)",
            str(run),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(rd.RunInUseError, match=f"in use by process {holder.pid}"), rd.holding([run]):
        pass
    assert rd.in_use_by(run) == str(holder.pid)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (run / rd.LOCK_FILE).exists() and rd.in_use_by(run) is None  # left behind, and free
    with rd.holding([run]):
        assert (run / rd.LOCK_FILE).read_text().strip() == str(os.getpid())
    assert not (run / rd.LOCK_FILE).exists()


def test_a_refused_run_leaves_no_directory(tmp_path):
    new = tmp_path / "runs" / "new"
    with pytest.raises(ValueError), rd.holding([new]):
        raise ValueError("bad input found late")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # 80 s of two processes racing; benchmarks/faults.py runs it (the lock itself: above)
@pytest.mark.timeout(600)
def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path, reference):
    assert _problems(fi.concurrent_writer_cases(tmp_path, reference)) == []


# -- damaged checkpoints ------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_a_damaged_checkpoint_is_named_and_the_newest_intact_one_used(tmp_path, reference):
    # The damage that used to end in a TensorStore traceback; benchmarks/faults.py tries every kind.
    assert _problems(fi.damaged_checkpoint_cases(tmp_path, reference, ["data file truncated"])) == []


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_kind_of_checkpoint_damage_is_named_and_skipped(tmp_path, reference):
    assert _problems(fi.damaged_checkpoint_cases(tmp_path, reference)) == []


# -- a full disk --------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    why = fi.mount_tmpfs(disk, 900)
    if why:
        pytest.skip(why)
    yield disk
    fi.unmount(disk)


@pytest.mark.slow  # 75 s of runs filling a tmpfs; benchmarks/faults.py runs it (a cut row: below)
@pytest.mark.timeout(900)
def test_a_full_disk_is_a_message_and_the_run_resumes_once_space_is_freed(small_disk, reference):
    assert _problems(fi.disk_full_cases(small_disk, reference)) == []


def test_a_row_cut_by_a_full_disk_is_taken_back(tmp_path, monkeypatch):
    log = rd.CsvLog(tmp_path / "metrics.csv", ["step", "loss"])
    log.append({"step": 1, "loss": 0.5})
    before = (tmp_path / "metrics.csv").read_bytes()
    real_write = os.write

    def half_then_full(fd, data):  # half the row lands, then the disk is full
        if len(data) > 2:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(ValueError, match=r"no space left on .* while writing a row of .*metrics.csv"):
        log.append({"step": 2, "loss": 0.25})
    monkeypatch.undo()
    assert (tmp_path / "metrics.csv").read_bytes() == before


# -- a diverging run ----------------------------------------------------------------------------------------


def test_non_finite_metrics_are_found_term_first_at_their_step():
    logs = {
        "loss": np.array([1.0, np.inf, np.nan]),
        "td_loss": np.array([1.0, 2.0, np.nan]),
        "nstep_loss": np.array([1.0, np.inf, 3.0]),
        "epsilon_like": np.array([np.nan, 0.0, 0.0]),  # not watched
    }
    assert first_non_finite(logs, per_step=True) == ("nstep_loss", np.inf, 1)
    assert first_non_finite({"q_mean": np.float64(np.nan)}, per_step=False)[0] == "q_mean"
    assert first_non_finite({"loss": np.ones(3)}, per_step=True) is None


def test_a_diverging_run_stops_naming_the_step_the_term_and_the_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    args = [*TINY, "--learning-rate", "1e6", "--run-dir", str(run)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "the run diverged" in err and "term's loss became" in err and "at step" in err
    assert "No checkpoint was saved before it" in err and "Traceback" not in err
    assert all(r["loss"] not in ("", "nan", "inf") for r in rd.read_rows(run / rd.METRICS_FILE))
    kept = tmp_path / "kept"
    assert cli.main([*args[:-1], str(kept), "--allow-divergence", "True"]) == 0  # asked to keep going


# -- a record that reproduces what ran ----------------------------------------------------------------------


def test_a_resume_that_raises_total_steps_updates_the_record_and_reproduce_follows(
    finished, tmp_path, capsys
):
    run = _copy(finished, tmp_path)
    assert cli.main(["train", "dqn", "--resume", str(run), "--total-steps", "1500"]) == 0
    record = rd.load_run_record(run)
    assert record["config"]["total_steps"] == 1500
    assert [r["step"] for r in record["resumes"]] == [1000]
    capsys.readouterr()
    copy = tmp_path / "copy"
    code = cli.main(["reproduce", str(run), "--out", str(copy)])
    out = capsys.readouterr().out
    assert int(rd.read_rows(copy / rd.EVAL_FILE)[-1]["step"]) >= 1500  # the recorded 1,500 steps
    # The resumed run's environments restarted with new games at step 1,000: a straight run matches it
    # up to there, and reproduce says where they part and why.
    if code != 0:
        assert code == 1 and "Not reproduced" in out and "the original was resumed at step 1,000" in out
        assert int(out.split("(step ")[1].split(")")[0]) > 1000


def test_reproduce_says_where_the_rows_first_differ(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    rows = rd.read_rows(run / rd.EVAL_FILE)
    rows[-1]["return_mean"] = "-1"
    with (run / rd.EVAL_FILE).open("w", newline="") as f:
        import csv

        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert cli.main(["reproduce", str(run), "--out", str(tmp_path / "copy")]) == 1
    out = capsys.readouterr().out
    assert "Not reproduced" in out and f"{rd.EVAL_FILE}, row {len(rows)}" in out and "return_mean" in out


@pytest.mark.parametrize(
    "command",
    [["eval", "{run}"], ["train", "dqn", "--resume", "{run}"], ["reproduce", "{run}", "--out", "{out}"]],
    ids=["eval", "resume", "reproduce"],
)
def test_a_record_missing_a_setting_is_named_as_damaged(finished, tmp_path, capsys, command):
    run = _copy(finished, tmp_path)
    record = json.loads((run / rd.CONFIG_FILE).read_text())
    del record["config"]["learning_rate"]
    (run / rd.CONFIG_FILE).write_text(json.dumps(record))
    argv = [a.format(run=run, out=tmp_path / "out") for a in command]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{run / rd.CONFIG_FILE} is damaged: its config lacks learning_rate" in err
    assert not (tmp_path / "out").exists()


def test_a_record_that_is_not_json_is_named(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path)
    (run / rd.CONFIG_FILE).write_text('{"algo": "dqn",')
    assert cli.main(["eval", str(run)]) == 2
    assert f"{run / rd.CONFIG_FILE} is not valid JSON" in capsys.readouterr().err


# -- output and datasets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["games", "train dqn --help", "experts"])
def test_output_into_a_closed_pipe_ends_quietly(command):
    shell = f"{sys.executable} -m imitax.cli {command} | head -c 10"
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120)
    assert result.stdout and "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def _overwrite_frames(dataset: Path, episode: int) -> None:
    """Overwrites the middle of an episode's first chunk of frames (its checksum then fails)."""
    file = dataset / "data" / "main_data.hdf5"
    with h5py.File(file, "r") as f:
        chunk = f[f"episode_{episode}/observations"].id.get_chunk_info(0)
    with file.open("r+b") as f:
        f.seek(chunk.byte_offset + chunk.size // 2)
        f.write(b"\x55" * min(256, chunk.size // 4))


def test_data_info_says_when_an_episode_cannot_be_read_and_training_leaves_nothing(tmp_path, capsys):
    demos = tmp_path / "demos"
    record_expert(
        ExpertRecordConfig(env="Pong", out=str(demos), episodes=2, max_episode_steps=40, quiet=True)
    )
    _overwrite_frames(demos, 1)
    assert cli.main(["data", "info", str(demos)]) == 1
    err = capsys.readouterr().err
    assert "episode 1 cannot be read" in err and "1 of 2 episodes are damaged" in err
    run = tmp_path / "runs" / "bc"
    assert cli.main(["train", "bc", "--demos", str(demos), "--run-dir", str(run)]) == 2
    assert "episode 1" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    assert load_dataset(demos).num_episodes == 2  # the dataset itself is left as it was


def test_eval_of_a_live_run_reads_it_without_disturbing_it(tmp_path):
    """Evaluation only reads a run, so it is allowed while the run goes on (a writer is not)."""
    run = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "imitax.cli", *fi.train_args(run), "--total-steps", "12000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while time.time() < deadline and not list((run / "checkpoints").glob("[0-9]*")):
        time.sleep(0.1)
    result = fi.imitax("eval", str(run), "--episodes", "1")
    assert child.wait(timeout=600) == 0
    assert result.returncode == 0, result.stderr
