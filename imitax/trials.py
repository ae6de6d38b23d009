"""Trials: one `imitax train <algo>` run directory each, the unit that experiment settings and sweeps
run. A trial is done when its eval.csv holds the evaluation at its final step, stopped when its run
directory holds a run that is not done (it is resumed with `--resume`), and new otherwise (it is started).

Every trial runs as a child process (`python -m imitax.cli train ...`), so each has its own JAX and the
same call serves this machine (`run_local`, a pool of children) and a Ray worker (`run_trial`, one child).
A trial is checked before anything runs: its flags are parsed as `imitax train` parses them, and a run
already in its directory must have been made with the same settings (`total_steps` may grow).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from imitax.agents.algorithms import ALGORITHMS, config_class
from imitax.flags import parse_train
from imitax.train.memory import host_memory_available
from imitax.train.run_dir import (
    EVAL_FILE,
    METRICS_FILE,
    holds_run,
    is_finished,
    load_run_record,
    read_rows,
    setting_differences,
)
from imitax.train.schedule import final_step

State = Literal["done", "stopped", "new"]
INTERRUPTED = 130
"""Exit status of a child stopped by Ctrl-C (it saved a checkpoint), and of a runner that was stopped."""
GIB_PER_TRIAL = 4
"""Memory a trial is given when `default_workers` counts how many fit (an Atari replay of 100k frames
takes about 3 GiB)."""


@dataclass(frozen=True)
class Trial:
    """One training run: the flags of a fresh `imitax train <algo>` and the directory it runs in."""

    name: str
    algo: str
    flags: tuple[str, ...]
    """Flags of a fresh run, without --run-dir (the trial adds it)."""
    run_dir: Path
    final_step: int
    """The `step` of the run's last evaluation: offline updates plus environment steps."""
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    """What the trial stands for in tables (the swept fields, game, seed)."""

    def argv(self, resume: bool) -> list[str]:
        """The command line after `imitax`; a stopped run is resumed with the same flags."""
        argv = ["train", self.algo, *self.flags, "--run-dir", str(self.run_dir)]
        return [*argv, "--resume", str(self.run_dir)] if resume else argv


def parse_flags(algo: str, flags: Sequence[str]) -> Any:
    """The config `imitax train <algo> FLAGS` would run, or a ValueError saying why it would not."""
    config_class(algo)  # an unknown algorithm: a clear message
    prog = f"imitax train {algo}"
    try:
        config = parse_train(list(flags), prog, ALGORITHMS[algo]).config
    except SystemExit:  # tyro has printed what it could not parse
        raise ValueError(f"{prog} {' '.join(flags)}: flags rejected (see above)") from None
    return config


def make_trial(
    name: str, algo: str, flags: Sequence[str], run_dir: Path, params: dict | None = None, config: Any = None
) -> Trial:
    """A checked trial: its flags parse (`config`, when given, is what they parse to), and a run already
    in `run_dir` has the same settings."""
    if config is None:
        try:
            config = parse_flags(algo, flags)
        except ValueError as err:
            raise ValueError(f"trial {name}: {err}") from None
    trial = Trial(name, algo, tuple(flags), Path(run_dir), final_step(config), dict(params or {}))
    if holds_run(trial.run_dir):
        diffs = setting_differences(load_run_record(trial.run_dir), algo, dataclasses.asdict(config))
        if diffs:
            raise ValueError(
                f"trial {name}: {trial.run_dir} holds a run made with other settings:\n  "
                + "\n  ".join(diffs)
                + "\nChoose another output directory, or restore the settings the run was made with."
            )
    return trial


def final_eval(run_dir: Path) -> dict | None:
    """The last row of the run's eval.csv, or None before its first evaluation."""
    rows = read_rows(Path(run_dir) / EVAL_FILE)
    return rows[-1] if rows else None


def trial_state(trial: Trial) -> State:
    if not holds_run(trial.run_dir):
        return "new"
    return "done" if is_finished(trial.run_dir, trial.final_step) else "stopped"


def default_workers() -> int:
    """Trials at once on this machine: one per two cores (a trial steps its environments on one and runs
    XLA on another), and no more than `GIB_PER_TRIAL` of available memory each allows; at least one."""
    cores = max(1, (os.cpu_count() or 2) // 2)
    return max(1, min(cores, int(host_memory_available() / 2**30 // GIB_PER_TRIAL)))


# -- running ---------------------------------------------------------------------------------------------


class Child:
    """A trial's `imitax train` in a child process of its own session, so that a Ctrl-C at the terminal
    reaches only the runner, which then asks each child once to stop (it checkpoints first)."""

    def __init__(
        self, trial: Trial, log_dir: Path | None, shared_device: bool = False, cwd: str | None = None
    ):
        self.trial = trial
        self.log_dir = log_dir
        self.resumed = trial_state(trial) == "stopped"
        self.start = time.perf_counter()
        self.stopping = False
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if shared_device:  # several trials on one accelerator: each takes memory as it needs it
            env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        out: Any = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            out = (log_dir / f"{trial.name}.log").open("a")
            out.write(f"\n$ imitax {' '.join(trial.argv(self.resumed))}\n")
            out.flush()
        try:
            with _stop_signals_unblocked():
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "imitax.cli", *trial.argv(self.resumed)],
                    stdout=out,
                    stderr=subprocess.STDOUT if out is not None else None,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=cwd,
                    start_new_session=True,
                )
        finally:
            if out is not None:
                out.close()

    def poll(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        """Asks the child to stop (the first time: at a checkpoint; again: at once)."""
        self.stopping = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def finish(self) -> float:
        """Adds this run's wall time to the trial's timing record; returns it."""
        seconds = time.perf_counter() - self.start
        if self.log_dir is not None:
            path = self.log_dir / f"{self.trial.name}.json"
            timing = json.loads(path.read_text()) if path.exists() else {"wall_s": 0.0, "runs": 0}
            timing = {"wall_s": timing["wall_s"] + seconds, "runs": timing["runs"] + 1}
            timing["last_exit"] = self.process.returncode
            path.write_text(json.dumps(timing) + "\n")
        return seconds


@contextlib.contextmanager
def _stop_signals_unblocked():
    """A child inherits the signal mask of the thread that starts it; a Ray worker's threads block SIGINT,
    which would keep a trial's child from ever seeing the request to stop."""
    stops = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def wall_time(trial: Trial, log_dir: Path | None) -> float | None:
    """Seconds the trial's runs have taken, over all its starts and resumes (None: not recorded)."""
    path = None if log_dir is None else log_dir / f"{trial.name}.json"
    return json.loads(path.read_text())["wall_s"] if path is not None and path.exists() else None


def run_trial(
    trial: Trial,
    log_dir: Path | None,
    should_stop: Callable[[], bool] = lambda: False,
    cwd: str | None = None,
) -> int:
    """Runs one trial unless it is done (a stopped one resumes); returns the child's exit status. Polls
    `should_stop` every second and then asks the child to stop (Ray workers, which get no Ctrl-C)."""
    if trial_state(trial) == "done":
        return 0
    if should_stop():
        return INTERRUPTED
    child = Child(trial, log_dir, cwd=cwd)
    while child.poll() is None:
        if should_stop() and not child.stopping:
            child.stop()
        time.sleep(1.0)
    child.finish()
    return child.process.returncode


def run_local(
    trials: Sequence[Trial], workers: int, log_dir: Path | None, progress: bool = True, cwd: str | None = None
) -> dict[str, int]:
    """Runs the trials that are not done, `workers` at once, as child processes; returns each run
    trial's exit status (INTERRUPTED for those Ctrl-C stopped or kept from starting).

    With a `log_dir`, each child writes to `<log_dir>/<name>.log` and a live view shows the trials'
    steps; without one (and one worker), the child writes to this terminal. Ctrl-C asks the running
    children to checkpoint and stop, and starts no more; a second Ctrl-C stops them at once.
    """
    pending = [t for t in trials if trial_state(t) != "done"]
    codes: dict[str, int] = {}
    running: list[Child] = []
    stops = 0

    def on_interrupt(signum, frame):
        nonlocal stops
        stops += 1
        for child in running:
            child.stop()

    in_main = _in_main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main else None
    view = _View(trials, len(pending), enabled=progress and log_dir is not None)
    try:
        with view:
            while pending or running:
                while pending and not stops and len(running) < workers:
                    trial = pending.pop(0)
                    running.append(Child(trial, log_dir, shared_device=workers > 1, cwd=cwd))
                    view.started(running[-1])
                for child in list(running):
                    code = child.poll()
                    if code is None:
                        view.update(child)
                        continue
                    running.remove(child)
                    codes[child.trial.name] = code
                    view.finished(child, code, child.finish(), log_dir)
                if stops:
                    codes.update({t.name: INTERRUPTED for t in pending})
                    pending = []
                time.sleep(0.2)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    return codes


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def current_step(run_dir: Path) -> int:
    """The last `step` the run logged (0 before its first row), from the tails of its CSV logs."""
    step = 0
    for name in (METRICS_FILE, EVAL_FILE):
        path = run_dir / name
        if not path.exists():
            continue
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 1024))
            lines = f.read().decode(errors="replace").strip().splitlines()
        with contextlib.suppress(IndexError, ValueError):  # no row yet, or the header only
            step = max(step, int(float(lines[-1].split(",", 1)[0])))
    return step


class _View:
    """The live view of a local run: one bar for the trials, one for each trial running."""

    def __init__(self, trials: Sequence[Trial], todo: int, enabled: bool):
        from rich.console import Console

        self.enabled = enabled
        self.console = Console()
        self.done = len(trials) - todo
        self.total = len(trials)
        self.tasks: dict[str, Any] = {}
        self.progress = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.overall = self.progress.add_task("trials", total=self.total, completed=self.done)

    def __enter__(self):
        if self.progress is not None:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def started(self, child: Child) -> None:
        verb = "resumed" if child.resumed else "started"
        if self.progress is None:
            self.console.print(f"{verb} {child.trial.name}")
            return
        trial = child.trial
        self.tasks[trial.name] = self.progress.add_task(
            f"  {trial.name}", total=trial.final_step, completed=current_step(trial.run_dir)
        )

    def update(self, child: Child) -> None:
        if self.progress is not None:
            self.progress.update(self.tasks[child.trial.name], completed=current_step(child.trial.run_dir))

    def finished(self, child: Child, code: int, seconds: float, log_dir: Path | None) -> None:
        trial = child.trial
        if code == 0:
            last = final_eval(trial.run_dir)
            score = f"return {float(last['return_mean']):.2f}" if last else "no evaluation"
            line = f"[green]done[/] {trial.name}: {score} ({seconds:.0f} s)"
        elif code == INTERRUPTED:
            line = f"[yellow]stopped[/] {trial.name} at step {current_step(trial.run_dir):,}"
        else:
            log = f"; see {log_dir / (trial.name + '.log')}" if log_dir is not None else ""
            line = f"[red]failed[/] {trial.name} (exit status {code}){log}"
        self.console.print(line)
        if self.progress is not None:
            self.progress.remove_task(self.tasks.pop(trial.name))
            if code == 0:
                self.progress.advance(self.overall)
