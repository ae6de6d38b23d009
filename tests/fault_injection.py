"""Fault injection shared by the tests and `benchmarks/faults.py`: a tiny training run killed at a chosen
moment and resumed, checked against the same run left alone; and a table of bad inputs for every command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from imitax.train.run_dir import EVAL_FILE, METRICS_FILE, read_rows

TRAIN = "train dqn --preset cartpole --total-steps 4000 --log-every 500 --eval-every 1000"
TRAIN += " --checkpoint-every 1000 --eval-episodes 2 --learning-starts 200 --replay-capacity 2000"
PONG = "train dqn --preset fast --env Pong --num-envs 2 --total-steps 1536 --log-every 256 --eval-every 512"
PONG += (
    " --checkpoint-every 512 --eval-episodes 1 --learning-starts 256 --replay-capacity 2000 --batch-size 8"
)


def imitax(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs the imitax command line in a child process (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "imitax.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def train_args(run: Path, base: str = TRAIN) -> list[str]:
    return [*base.split(), "--run-dir", str(run)]


def counters(run: Path) -> dict[str, list]:
    """What an interrupted run must share with an uninterrupted one: its rows' grid and counters."""
    metrics, evals = read_rows(run / METRICS_FILE), read_rows(run / EVAL_FILE)
    return {
        "metrics": [(r["step"], r["env_steps"], r["updates"]) for r in metrics],
        "evals": [(r["step"], r["env_steps"], r["updates"]) for r in evals],
    }


def kill_when(
    run: Path, ready: Callable[[Path, float], bool], sig: int = signal.SIGKILL, base: str = TRAIN
) -> bool:
    """Starts the tiny run, sends `sig` once `ready(run, seconds since start)`; returns whether the run
    was still going when the signal came (False: it had finished first)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "imitax.cli", *train_args(run, base)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    start = time.perf_counter()
    while child.poll() is None and not ready(run, time.perf_counter() - start):
        time.sleep(0.05)
    if child.poll() is not None:
        return False
    child.send_signal(sig)
    child.wait(timeout=300)
    return True


def after_seconds(delay: float) -> Callable[[Path, float], bool]:
    return lambda run, seconds: seconds >= delay


def after_file(name: str, delay: float = 0.0) -> Callable[[Path, float], bool]:
    """Once the run directory holds `name`, and `delay` seconds later."""
    seen: list[float] = []

    def ready(run: Path, seconds: float) -> bool:
        if not seen and (run / name).exists():
            seen.append(seconds)
        return bool(seen) and seconds - seen[0] >= delay

    return ready


def after_rows(file: str, rows: int, delay: float = 0.0) -> Callable[[Path, float], bool]:
    """Once `file` has `rows` rows, and `delay` seconds later."""
    seen: list[float] = []

    def ready(run: Path, seconds: float) -> bool:
        if not seen and len(read_rows(run / file)) >= rows:
            seen.append(seconds)
        return bool(seen) and seconds - seen[0] >= delay

    return ready


def resume_and_check(run: Path, reference: dict[str, list]) -> list[str]:
    """Resumes a stopped run to its end; the problems found (none: it survived)."""
    result = imitax("train", "dqn", "--resume", str(run))
    problems = []
    if result.returncode != 0 or "Traceback" in result.stderr:
        problems.append(f"resume exited {result.returncode}: {result.stderr.strip()[-400:]}")
        return problems
    got = counters(run)
    for part in ("metrics", "evals"):
        if got[part] != reference[part]:
            problems.append(
                f"{part} rows differ from the uninterrupted run: {got[part]} != {reference[part]}"
            )
    return problems


def rows_lost(run: Path, reference: dict[str, list]) -> int:
    got = counters(run)
    return sum(len(set(reference[p]) - set(got[p])) for p in ("metrics", "evals"))


def kept_episodes(out: Path) -> tuple[int, int, int]:
    """After a dataset writer was killed: (episodes a load finds, episodes the metadata promised, tracebacks
    printed by `data verify` and its repair). A cut write is repaired as a user would, on verify's advice."""
    from imitax.data.dataset import DatasetError, load_dataset

    metadata = out / "data" / "metadata.json"
    if not metadata.exists():
        return 0, 0, 0
    promised = json.loads(metadata.read_text())["total_episodes"]
    verify = imitax("data", "verify", str(out))
    tracebacks = "Traceback" in verify.stderr
    if verify.returncode != 0:
        repair = imitax("data", "verify", str(out), "--repair", "True")
        tracebacks += "Traceback" in repair.stderr
    try:
        return load_dataset(out).num_episodes, promised, tracebacks
    except DatasetError:
        return 0, promised, tracebacks


def agc_source(root: Path, trajectories: int, steps: int) -> Path:
    """An Atari Grand Challenge folder of Pong `trajectories`, each of `steps` real emulator screens."""
    from tests.test_importers import LEFT, RIGHT, record, write_agc

    for n in range(trajectories):
        write_agc(root, "pong", str(n + 1), record("Pong", [(RIGHT, LEFT)[n % 2]] * steps))
    return root


def bad_inputs(tmp: Path) -> list[tuple[str, list[str]]]:
    """(what, argv) for every command with its plausible bad inputs; `tmp` holds the fixtures:
    `file` (a plain file), `empty/` (an empty directory), `damaged/` (a dataset whose file is not HDF5),
    `pong/` (a sound Pong dataset), `run/` (a finished CartPole run)."""
    file, empty, damaged, pong, run = (str(tmp / n) for n in ("file", "empty", "damaged", "pong", "run"))
    missing = str(tmp / "missing")
    new = str(tmp / "new")
    cases = [
        ("train: unknown game", ["train", "dqn", "--env", "Pongg", "--run-dir", new]),
        ("train: negative steps", ["train", "dqn", "--total-steps", "-1", "--run-dir", new]),
        ("train: run dir is a file", ["train", "dqn", "--run-dir", file]),
        ("train: resume nothing", ["train", "dqn", "--resume", missing]),
        ("train: resume other algo", ["train", "bc", "--resume", run]),
        ("bc: missing demos", ["train", "bc", "--demos", missing, "--run-dir", new]),
        ("bc: empty dir as demos", ["train", "bc", "--demos", empty, "--run-dir", new]),
        ("bc: damaged demos", ["train", "bc", "--demos", damaged, "--run-dir", new]),
        ("bc: another game's demos", ["train", "bc", "--env", "Breakout", "--demos", pong, "--run-dir", new]),
        ("bc: no demos", ["train", "bc", "--run-dir", new]),
        ("dqfd: bad loss", ["train", "dqfd", "--loss", "td=x", "--demos", pong, "--run-dir", new]),
        ("dqn: margin without demos", ["train", "dqn", "--loss", "td=1,margin=1", "--run-dir", new]),
        ("dagger: game without expert", ["train", "dagger", "--env", "Seaquest", "--run-dir", new]),
        ("dagger: rounds 0", ["train", "dagger", "--rounds", "0", "--run-dir", new]),
        ("eval: missing run", ["eval", missing]),
        ("eval: empty dir", ["eval", empty]),
        ("eval: episodes 0", ["eval", run, "--episodes", "0"]),
        ("eval: epsilon 1.5", ["eval", run, "--epsilon", "1.5"]),
        ("record expert: unknown game", ["record", "expert", "--env", "Pongg", "--out", new]),
        ("record expert: no expert", ["record", "expert", "--env", "Seaquest", "--out", new]),
        ("record expert: out is a file", ["record", "expert", "--env", "Pong", "--out", file]),
        ("record expert: out holds data", ["record", "expert", "--env", "Pong", "--out", pong]),
        ("record expert: noise 2", ["record", "expert", "--env", "Pong", "--noise", "2", "--out", new]),
        ("record agent: missing run", ["record", "agent", "--run-dir", missing, "--out", new]),
        ("data info: missing", ["data", "info", missing]),
        ("data info: empty dir", ["data", "info", empty]),
        ("data info: a file", ["data", "info", file]),
        ("data info: damaged", ["data", "info", damaged]),
        ("data verify: missing", ["data", "verify", missing]),
        ("data relabel: no states", ["data", "relabel", pong]),
        ("data relabel: missing", ["data", "relabel", missing]),
        ("import agc: missing", ["data", "import", "agc", missing, "--out", new]),
        ("import agc: empty", ["data", "import", "agc", empty, "--out", new]),
        ("import atari-head: missing", ["data", "import", "atari-head", missing, "--out", new]),
        ("import minari: missing", ["data", "import", "minari", missing, "--game", "Pong", "--out", new]),
        ("import minari: unknown game", ["data", "import", "minari", empty, "--game", "Pongg", "--out", new]),
        ("train: num-seeds 0", ["train", "dqn", "--num-seeds", "0", "--run-dir", new]),
        ("train: machado protocol", ["train", "dqn", "--eval-protocol", "machado", "--run-dir", new]),
        ("run: game without expert", ["run", "--env", "Seaquest", "--run-dir", new]),
        ("run: missing demos", ["run", "--demos", missing, "--run-dir", new]),
        ("report: no run", ["report", empty, "--out", new]),
        ("report: a file", ["report", file, "--out", new]),
        ("report: unfinished run", ["report", missing, "--out", new]),
        ("reproduce: no run", ["reproduce", empty, "--out", new]),
        ("reproduce: into a run", ["reproduce", run, "--out", run]),
        ("sweep: missing spec", ["sweep", missing, "--out", new]),
        ("sweep: spec is a dir", ["sweep", empty, "--out", new]),
        ("unknown command", ["trian", "dqn"]),
        ("unknown subcommand", ["train", "ppo"]),
    ]
    return cases
