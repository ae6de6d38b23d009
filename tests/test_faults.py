"""Faults a user can cause, injected: every command's bad inputs end in a message and exit 2 with nothing
written; a training run killed at any moment resumes into the rows and counters of a run never stopped;
a recording killed mid-way keeps its finished games. The long sweep is `benchmarks/faults.py`."""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imitax import cli
from imitax.data.dataset import load_dataset
from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.train.run_dir import EVAL_FILE, METRICS_FILE
from tests import fault_injection as fi


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    return fi.make_fixtures(tmp_path_factory.mktemp("bad"))


def _cases():
    return [pytest.param(argv, id=what) for what, argv in fi.bad_inputs(Path("{root}"))]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("argv", _cases())
def test_bad_input_exits_2_with_a_message_and_writes_nothing(fixtures, capsys, argv):
    argv = [a.replace("{root}", str(fixtures)) for a in argv]
    before = _tree(fixtures)
    try:
        code = cli.main(argv)
    except SystemExit as stop:  # argument errors are reported by the parser, as usage
        code = stop.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip() and "Traceback" not in err
    assert _tree(fixtures) == before  # nothing written or changed


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list]:
    run = tmp_path_factory.mktemp("ref") / "run"
    assert fi.imitax(*fi.train_args(run)).returncode == 0
    return fi.counters(run)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(fi.after_file("config.json"), id="before-first-checkpoint", marks=pytest.mark.slow),
        pytest.param(
            fi.after_rows(EVAL_FILE, 1, delay=0.3), id="after-an-evaluation", marks=pytest.mark.slow
        ),
        pytest.param(fi.after_rows(METRICS_FILE, 5), id="mid-run"),
    ],
)
def test_a_killed_run_resumes_into_the_uninterrupted_rows(tmp_path, reference, moment):
    run = tmp_path / "run"
    assert fi.kill_when(run, moment), "the run finished before the kill"
    assert fi.resume_and_check(run, reference) == []


@pytest.mark.slow  # benchmarks/slow_checks.py runs it; the mid-run kill above covers resuming
@pytest.mark.timeout(600)
def test_sigterm_mid_interval_resumes_onto_the_grid(tmp_path, reference):
    run = tmp_path / "run"
    assert fi.kill_when(run, fi.after_rows(METRICS_FILE, 3, delay=0.5), sig=signal.SIGTERM)
    assert fi.resume_and_check(run, reference) == []


@pytest.mark.timeout(600)
def test_a_killed_recording_keeps_its_finished_games(tmp_path):
    out = tmp_path / "demos"
    args = ["record", "expert", "--env", "Pong", "--episodes", "50", "--max-episode-steps", "60"]
    child = subprocess.Popen([sys.executable, "-m", "imitax.cli", *args, "--out", str(out)])
    metadata = out / "data" / "metadata.json"
    deadline = time.time() + 240
    while time.time() < deadline and child.poll() is None:
        if metadata.exists() and '"total_episodes": 3' in metadata.read_text():
            break
        time.sleep(0.02)
    child.kill()
    child.wait()
    verify = fi.imitax("data", "verify", str(out))
    if verify.returncode != 0:  # killed inside a write: repair keeps the episodes before the cut
        assert "--repair True" in verify.stdout + verify.stderr or "PROBLEM" in verify.stdout
        fi.imitax("data", "verify", str(out), "--repair", "True")
    dataset = load_dataset(out)
    assert dataset.num_episodes >= 3
    assert all(e.num_steps == 60 for e in dataset.episodes())


def _kill_when_episodes(args: list[str], metadata: Path, episodes: int) -> None:
    child = subprocess.Popen([sys.executable, "-m", "imitax.cli", *args])
    deadline = time.time() + 240
    while time.time() < deadline and child.poll() is None:
        if metadata.exists() and f'"total_episodes": {episodes}' in metadata.read_text():
            break
        time.sleep(0.02)
    child.kill()
    child.wait()


@pytest.mark.timeout(600)
def test_killed_appends_and_relabels_keep_every_earlier_episode(tmp_path):
    out = tmp_path / "demos"
    config = ExpertRecordConfig(env="Pong", out=str(out), episodes=2, max_episode_steps=50, keep_states=True)
    record_expert(dataclasses.replace(config, quiet=True))
    before = [e.frames for e in load_dataset(out).episodes()]
    append = [
        "record",
        "expert",
        "--env",
        "Pong",
        "--out",
        str(out),
        "--append",
        "True",
        "--keep-states",
        "True",
    ]
    append += ["--episodes", "30", "--max-episode-steps", "50"]
    _kill_when_episodes(append, out / "data" / "metadata.json", 4)
    for delay in (3.0, 4.5):  # killed while relabelling: the file is the old one or the new one, whole
        child = subprocess.Popen([sys.executable, "-m", "imitax.cli", "data", "relabel", str(out)])
        time.sleep(delay)
        child.kill()
        child.wait()
    if fi.imitax("data", "verify", str(out)).returncode != 0:
        fi.imitax("data", "verify", str(out), "--repair", "True")
    dataset = load_dataset(out)
    assert dataset.num_episodes >= 4
    for frames, episode in zip(before, dataset.episodes(), strict=False):
        np.testing.assert_array_equal(frames, episode.frames)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_pong_run_resumes_into_the_uninterrupted_rows(tmp_path):
    reference = tmp_path / "reference"
    assert fi.imitax(*fi.train_args(reference, fi.PONG)).returncode == 0
    run = tmp_path / "run"
    assert fi.kill_when(run, fi.after_rows(METRICS_FILE, 3, delay=1.0), base=fi.PONG)
    assert fi.resume_and_check(run, fi.counters(reference)) == []


@pytest.mark.timeout(600)
def test_a_killed_import_keeps_its_finished_episodes(tmp_path):
    source = fi.agc_source(tmp_path / "agc", trajectories=6, steps=240)
    out = tmp_path / "imported"
    args = ["data", "import", "agc", str(source), "--game", "Pong", "--out", str(out)]
    _kill_when_episodes(args, out / "data" / "metadata.json", 2)
    kept, promised, tracebacks = fi.kept_episodes(out)
    assert promised >= 2 and kept >= promised and not tracebacks
    first = load_dataset(out).episode(0)
    assert first.num_steps == 240 // 4 and first.score == 0.0
