"""`imitax sweep`: the SPEC checked before anything is written, grids and random searches expanded the same
way every time, trials named from their settings, done trials skipped and stopped ones resumed, and the
same tiny CartPole sweep run on this machine (stopped by Ctrl-C and resumed) and on a local Ray."""

from __future__ import annotations

import csv
import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tyro
import yaml

from imitax.sweep import SweepArgs, build_trials, load_spec, spec_from_dict, sweep_command, trial_name
from imitax.trials import parse_flags, trial_state

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "experiments" / "sweeps" / "cartpole_tiny.yaml"


def _spec_file(tmp_path: Path, name: str = "spec", **changes) -> Path:
    data = {**yaml.safe_load(TINY.read_text()), **changes}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


# -- the SPEC ----------------------------------------------------------------------------------------------


def test_every_shipped_spec_loads_and_expands(tmp_path):
    for path in sorted((ROOT / "experiments" / "sweeps").iterdir()):
        spec = load_spec(path)
        assert build_trials(spec, tmp_path / spec.name), path
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"grid": {"learnin_rate": [1e-3]}},
            "'learnin_rate' is not a field of imitax train dqn.*learning_rate",
        ),
        ({"base": {"num-env": 2}}, "did you mean num_envs"),
        ({"algo": "ppo"}, "'ppo' is not an algorithm"),
        ({"preset": "atari"}, "dqn has no preset 'atari'"),
        ({"grid": {"learning_rate": []}}, "grid: learning_rate needs a non-empty list"),
        ({"grid": {"seed": [0, 1]}}, "seeds: \\[...\\]"),
        ({"grid": {"learning_rate": [1e-3]}, "base": {"learning_rate": 1e-3}}, "set in both base and grid"),
        ({"random": {"margin": {"normal": [0, 1]}}, "samples": 2}, "random: margin needs a list of values"),
        ({"random": {"margin": {"loguniform": [0, 1]}}, "samples": 2}, "loguniform needs low > 0"),
        ({"random": {"margin": [0.5]}}, "needs `samples: N`"),
        ({"seeds": []}, "seeds: needs a non-empty list"),
        ({"seeds": [0, 0]}, "lists a value twice"),
        ({"grids": {}}, "unknown SPEC key 'grids' \\(did you mean grid"),
        ({"base": {"num_envs": 0}}, "num_envs must be >= 1"),
        ({"games": ["Pongg"]}, "Pongg"),
    ],
)
def test_a_bad_spec_is_one_message_and_nothing_is_written(tmp_path, changes, message):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        sweep_command(SweepArgs(str(_spec_file(tmp_path, **changes)), out=str(out)))
    assert not out.exists()


def test_a_python_spec_reads_its_SPEC(tmp_path):
    path = tmp_path / "lr.py"
    path.write_text('SPEC = {"algo": "dqn", "preset": "cartpole", "grid": {"learning-rate": [1e-3, 3e-4]}}\n')
    spec = load_spec(path)
    assert (spec.name, spec.grid, spec.games, spec.seeds) == (
        "lr",
        {"learning_rate": [1e-3, 3e-4]},
        ("CartPole-v1",),
        (0,),
    )
    (tmp_path / "none.py").write_text("X = 1\n")
    with pytest.raises(ValueError, match="defines no SPEC"):
        load_spec(tmp_path / "none.py")


def test_the_grid_is_a_product_and_the_random_search_repeats_itself():
    base = {"algo": "dqn", "preset": "cartpole"}
    grid = spec_from_dict({**base, "grid": {"learning_rate": [1e-3, 3e-4], "n_step": [1, 3, 5]}})
    assert len(grid.points()) == 6
    assert grid.points()[:2] == [{"learning_rate": 1e-3, "n_step": 1}, {"learning_rate": 1e-3, "n_step": 3}]
    search = {
        "random": {
            "learning_rate": {"loguniform": [1e-5, 1e-3]},
            "margin": {"uniform": [0.5, 1.0]},
            "n_step": {"randint": [1, 5]},
            "double_q": [True, False],
        },
        "samples": 20,
    }
    first = spec_from_dict({**base, **search, "search_seed": 7}).points()
    assert first == spec_from_dict({**base, **search, "search_seed": 7}).points()
    assert first != spec_from_dict({**base, **search, "search_seed": 8}).points()
    assert all(
        1e-5 <= p["learning_rate"] <= 1e-3 and float(f"{p['learning_rate']:.4g}") == p["learning_rate"]
        for p in first
    )
    assert all(0.5 <= p["margin"] <= 1.0 and p["n_step"] in range(1, 6) for p in first)
    assert {p["double_q"] for p in first} == {True, False}
    both = spec_from_dict({**base, **search, "grid": {"batch_size": [32, 64]}}).points()
    assert len(both) == 40 and both[0]["batch_size"] == 32 and both[20]["batch_size"] == 64


# -- trials -------------------------------------------------------------------------------------------------


def test_trials_are_named_from_their_settings(tmp_path):
    assert (
        trial_name("Pong", {"n_step": 3, "learning_rate": 1e-4}, 2)
        == "pong-learning_rate=0.0001,n_step=3-seed2"
    )
    assert trial_name("ALE/Pong-v5", {}, 0) == "pong-seed0"
    assert trial_name("Pong", {"loss": "td=1,bc=0.5:20000"}, 0) == "pong-loss=td=1_bc=0.5_20000-seed0"
    long = trial_name("Pong", {f"field{i}": "x" * 20 for i in range(8)}, 0)
    assert len(long) <= 120 and long != trial_name("Pong", {f"field{i}": "y" * 20 for i in range(8)}, 0)
    # YAML reads 1e-4 as a string; the name comes from the parsed value, so both spellings share a run.
    as_text = build_trials(load_spec(_spec_file(tmp_path, grid={"learning_rate": ["1e-4"]})), tmp_path)
    as_float = build_trials(load_spec(_spec_file(tmp_path, grid={"learning_rate": [0.0001]})), tmp_path)
    assert (
        [t.name for t in as_text] == [t.name for t in as_float] == ["cartpole-v1-learning_rate=0.0001-seed0"]
    )
    assert as_text[0].params == {"learning_rate": 0.0001, "game": "CartPole-v1", "seed": 0}
    assert as_text[0].final_step == 1000


def _fake_run(trial, steps: list[int], config=None) -> None:
    """A run directory as `imitax train` leaves it, evaluated at `steps`."""
    trial.run_dir.mkdir(parents=True)
    config = config or parse_flags(trial.algo, trial.flags)
    record = {"algo": trial.algo, "config": json.loads(json.dumps(dataclasses.asdict(config)))}
    (trial.run_dir / "config.json").write_text(json.dumps(record))
    lines = ["step,phase,env_steps,updates,return_mean,return_std"] + [
        f"{s},online,{s},0,10,1" for s in steps
    ]
    (trial.run_dir / "eval.csv").write_text("\n".join(lines) + "\n")


def test_done_trials_are_skipped_stopped_ones_resumed_and_changed_ones_refused(tmp_path, capsys):
    spec_path = _spec_file(tmp_path, grid={"learning_rate": [1e-3, 3e-4, 1e-4]})
    out = tmp_path / "out"
    done, stopped, new = build_trials(load_spec(spec_path), out)
    _fake_run(done, [500, 1000])
    _fake_run(stopped, [500])
    assert [trial_state(t) for t in (done, stopped, new)] == ["done", "stopped", "new"]
    assert "--resume" in stopped.argv(resume=True) and "--resume" not in new.argv(resume=False)
    assert sweep_command(SweepArgs(str(spec_path), out=str(out), dry_run=True)) == 0
    listing = capsys.readouterr().out
    assert "1 done, 1 stopped, 1 new" in listing
    assert f"--resume {stopped.run_dir}" in listing and f"--resume {new.run_dir}" not in listing
    assert not (out / "results.csv").exists()
    # A longer run is the same run, to be continued; another setting is refused before anything runs.
    longer = build_trials(
        load_spec(
            _spec_file(
                tmp_path,
                base={**yaml.safe_load(TINY.read_text())["base"], "total_steps": 2000},
                grid={"learning_rate": [1e-3]},
            )
        ),
        out,
    )
    assert trial_state(longer[0]) == "stopped"
    changed = {**yaml.safe_load(TINY.read_text())["base"], "batch_size": 64}
    with pytest.raises(ValueError, match="batch_size: run has 128, asked for 64"):
        build_trials(load_spec(_spec_file(tmp_path, base=changed, grid={"learning_rate": [1e-3]})), out)


def test_sweep_args_parse_as_the_command_line_does():
    args = tyro.cli(
        SweepArgs,
        args=["s.yaml", "--ray", "local", "--workers", "2", "--dry-run", "True"],
        config=(tyro.conf.FlagConversionOff,),
    )
    assert args == SweepArgs("s.yaml", ray="local", workers=2, dry_run=True)
    with pytest.raises(ValueError, match="--workers must be >= 1"):
        SweepArgs("s.yaml", workers=0)


def test_a_ray_address_nothing_answers_at_is_one_quick_message(tmp_path):
    out = tmp_path / "out"
    start = time.perf_counter()
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1"):
        with pytest.raises(ValueError, match=f"--ray {address}: no Ray cluster answers there"):
            sweep_command(SweepArgs(str(TINY), out=str(out), ray=address))
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        sweep_command(SweepArgs(str(TINY), out=str(out), ray="nowhere"))
    assert time.perf_counter() - start < 30
    assert not out.exists()


# -- running ------------------------------------------------------------------------------------------------


def test_a_trial_started_from_a_thread_that_blocks_sigint_can_still_be_stopped():
    """Ray runs a trial in a thread that blocks SIGINT; the child must not inherit that mask."""
    from imitax.trials import _stop_signals_unblocked

    def blocked_in_child() -> bool:
        status = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True).stdout
        mask = int(next(line for line in status.splitlines() if line.startswith("SigBlk")).split()[1], 16)
        return bool(mask & (1 << (signal.SIGINT - 1)))

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        assert blocked_in_child()
        with _stop_signals_unblocked():
            assert not blocked_in_child()
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@pytest.mark.timeout(300)
def test_a_local_sweep_stops_on_ctrl_c_resumes_and_then_skips(tmp_path, capsys):
    base = {**yaml.safe_load(TINY.read_text())["base"], "total_steps": 3000, "log_every": 100}
    spec = str(_spec_file(tmp_path, base=base))
    out = tmp_path / "out"
    args = f"SweepArgs({spec!r}, out={str(out)!r}, workers=2)"
    code = f"from imitax.sweep import *; raise SystemExit(sweep_command({args}))"
    sweep = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and sweep.poll() is None:
        metrics = list(out.glob("*/metrics.csv"))
        if len(metrics) == 2 and all(len(m.read_text().splitlines()) > 1 for m in metrics):
            break
        time.sleep(0.05)
    sweep.send_signal(signal.SIGINT)
    report = sweep.communicate(timeout=120)[0]
    assert sweep.returncode == 130, report
    assert "Stopped; run the same command again to resume." in report
    trials = build_trials(load_spec(spec), out)
    # On a loaded machine one trial may finish before the other has begun: Ctrl-C then finds one running.
    states = [trial_state(t) for t in trials]
    assert set(states) <= {"stopped", "done"} and "stopped" in states, report
    assert all(list((t.run_dir / "checkpoints").iterdir()) for t in trials)

    assert sweep_command(SweepArgs(spec, out=str(out), workers=2)) == 0
    rows = _rows(out / "results.csv")
    assert [(r["learning_rate"], r["game"], r["seed"], r["state"], r["step"]) for r in rows] == [
        ("0.001", "CartPole-v1", "0", "done", "3000"),
        ("0.0003", "CartPole-v1", "0", "done", "3000"),
    ]
    assert all(float(r["return_mean"]) > 0 and float(r["wall_s"]) > 0 for r in rows)
    assert (out / "results.png").stat().st_size > 0
    for trial, state in zip(trials, states, strict=True):
        steps = [int(r["step"]) for r in _rows(trial.run_dir / "metrics.csv")]
        assert steps == sorted(set(steps)) and steps[-1] == 3000  # resumed: no row twice
        runs = 2 if state == "stopped" else 1
        assert json.loads((out / "logs" / f"{trial.name}.json").read_text())["runs"] == runs

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.csv")}
    assert sweep_command(SweepArgs(spec, out=str(out), workers=2)) == 0  # every trial done: none runs
    assert {p: p.stat().st_mtime_ns for p in out.rglob("metrics.csv")} == stamps
    assert "2 done, 0 stopped, 0 new" in capsys.readouterr().out


@pytest.mark.slow  # benchmarks/slow_checks.py runs it; the local sweep above covers the loop
@pytest.mark.timeout(300)
def test_the_same_sweep_runs_on_a_local_ray(tmp_path):
    out = tmp_path / "out"
    assert sweep_command(SweepArgs(str(TINY), out=str(out), ray="local")) == 0
    rows = _rows(out / "results.csv")
    assert [(r["learning_rate"], r["state"], r["step"]) for r in rows] == [
        ("0.001", "done", "1000"),
        ("0.0003", "done", "1000"),
    ]
    assert all(float(r["return_mean"]) > 0 for r in rows)
    assert (out / "results.png").exists() and not (out / ".stop").exists()
    for row in rows:
        assert "Final evaluation" in (out / "logs" / f"{Path(row['run_dir']).name}.log").read_text()
