"""Fault injection shared by the tests and `benchmarks/faults.py`: a tiny training run killed at a chosen
moment and resumed, checked against the same run left alone; and a table of bad inputs for every command.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

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


def resume_and_check(run: Path, reference: dict[str, list], *flags: str) -> list[str]:
    """Resumes a stopped run to its end; the problems found (none: it survived)."""
    result = imitax("train", "dqn", "--resume", str(run), *flags)
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


def make_fixtures(root: Path) -> Path:
    """The fixtures `bad_inputs` names, made in `root`."""
    from imitax.data.record import ExpertRecordConfig, record_expert

    root.mkdir(parents=True, exist_ok=True)
    (root / "file").write_text("not a directory")
    (root / "empty").mkdir()
    record_expert(
        ExpertRecordConfig(env="Pong", out=str(root / "pong"), episodes=1, max_episode_steps=30, quiet=True)
    )
    shutil.copytree(root / "pong", root / "damaged")
    (root / "damaged" / "data" / "main_data.hdf5").write_text("not HDF5")
    assert imitax(*train_args(root / "run"), "--total-steps", "1000").returncode == 0
    shutil.copytree(root / "run", root / "broken")
    record = (root / "run" / "config.json").read_text()
    (root / "broken" / "config.json").write_text(record[: len(record) // 2])
    shutil.copytree(root / "run", root / "lacking")
    parsed = json.loads(record)
    del parsed["config"]["learning_rate"]
    (root / "lacking" / "config.json").write_text(json.dumps(parsed))
    return root


def bad_inputs(tmp: Path) -> list[tuple[str, list[str]]]:
    """(what, argv) for every command with its plausible bad inputs; `tmp` holds the fixtures:
    `file` (a plain file), `empty/` (an empty directory), `damaged/` (a dataset whose file is not HDF5),
    `pong/` (a sound Pong dataset), `run/` (a finished CartPole run), `broken/` (that run with its record
    cut in half), `lacking/` (that run with `learning_rate` gone from its record)."""
    file, empty, damaged, pong, run = (str(tmp / n) for n in ("file", "empty", "damaged", "pong", "run"))
    broken, lacking = str(tmp / "broken"), str(tmp / "lacking")
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
        ("data relabel: no states", ["data", "relabel", pong, "--expert", "pong-search"]),
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
        ("eval: record not JSON", ["eval", broken]),
        ("eval: record lacks a setting", ["eval", lacking]),
        ("resume: record not JSON", ["train", "dqn", "--resume", broken]),
        ("resume: record lacks a setting", ["train", "dqn", "--resume", lacking]),
        ("reproduce: record lacks a setting", ["reproduce", lacking, "--out", new]),
        ("report: record not JSON", ["report", broken, "--out", new]),
        ("eval: no such checkpoint", ["eval", run, "--step", "7"]),
        ("unknown command", ["trian", "dqn"]),
        ("unknown subcommand", ["train", "ppo"]),
    ]
    return cases


# -- failures of the run directory: two writers, damaged checkpoints, a full disk ------------------------


class Case(NamedTuple):
    """One injected failure: what was done, what imitax printed about it, and what went wrong (none: it
    was answered as it should be)."""

    name: str
    message: str
    problems: list[str]
    tracebacks: int = 0
    rows_lost: int = 0


IN_USE = "is in use by process"


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "imitax.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for(ready: Callable[[], bool], child: subprocess.Popen, timeout: float = 240) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and child.poll() is None:
        if ready():
            return True
        time.sleep(0.05)
    return False


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if "error:" in line or "damaged" in line or "using" in line]
    return " / ".join(lines)[-600:]


def _finish(child: subprocess.Popen) -> tuple[int, str]:
    _, err = child.communicate(timeout=600)
    return child.returncode, err


def _refusal(code: int, err: str, expect: str) -> tuple[str, list[str]]:
    """The refused process's message, and what is wrong with the refusal (exit 2, saying `expect`)."""
    problems = [] if code == 2 and expect in err else [f"the second writer exited {code}: {err[-300:]}"]
    return _error_line(err), problems


def _rows(run: Path, reference: dict[str, list]) -> tuple[list[str], int]:
    """What is wrong with the rows of a run that should hold exactly the reference's, and how many of the
    reference's rows are missing or doubled."""
    got = counters(run)
    doubled = sum(len(got[p]) - len(set(got[p])) for p in ("metrics", "evals"))
    problems = [] if got == reference else [f"rows differ from the undisturbed run: {got}"]
    return problems, rows_lost(run, reference) + doubled


def _rows_in_order(run: Path) -> list[str]:
    """Rows of one writer: each step once, in order, up to the run's end."""
    problems = []
    for name in (METRICS_FILE, EVAL_FILE):
        steps = [int(r["step"]) for r in read_rows(run / name)]
        if steps != sorted(set(steps)):
            problems.append(f"{name} holds steps twice or out of order: {steps}")
    return problems


def _both(run: Path) -> list[tuple[int, str]]:
    """Two trainings of `run` started together; their (exit code, stderr)."""
    children = [_start(*train_args(run)), _start(*train_args(run))]
    return [_finish(child) for child in children]


def concurrent_writer_cases(work: Path, reference: dict[str, list]) -> list[Case]:
    """A second process on a run directory in use is refused with the holder's pid; the first run's rows
    are exactly an undisturbed run's; a lock left by a killed process is taken over."""
    cases = []

    run = work / "together"  # two trainings started at once into one directory
    (code_a, err_a), (code_b, err_b) = sorted(_both(run))  # the run (0), then the refused one (2)
    message, problems = _refusal(code_b, err_b, IN_USE)
    problems += [] if code_a == 0 else [f"the run exited {code_a}: {err_a[-300:]}"]
    bad_rows, lost = _rows(run, reference)
    tracebacks = (err_a + err_b).count("Traceback")
    cases.append(
        Case("two `train` at once into one --run-dir", message, problems + bad_rows, tracebacks, lost)
    )

    run = work / "live"  # --resume and reproduce of a run still going (a longer one, to be sure of it)
    child = _start(*train_args(run), "--total-steps", "20000")
    _wait_for(lambda: (run / "config.json").exists(), child)
    resume = _start("train", "dqn", "--resume", str(run))
    reproduce = _start("reproduce", str(run))
    (resume_code, resume_err), (reproduce_code, reproduce_err) = _finish(resume), _finish(reproduce)
    code, err = _finish(child)
    message, problems = _refusal(resume_code, resume_err, IN_USE)
    problems += [] if code == 0 else [f"the run exited {code}: {err[-300:]}"]
    problems += _rows_in_order(run)
    tracebacks = (resume_err + err).count("Traceback")
    cases.append(Case("`train --resume` of a run still going", message, problems, tracebacks))
    message, problems = _refusal(reproduce_code, reproduce_err, "still being written by process")
    problems += ["reproduce left a directory"] if run.with_name(run.name + "-reproduced").exists() else []
    cases.append(
        Case("`reproduce` of a run still going", message, problems, reproduce_err.count("Traceback"))
    )

    run = work / "stale-lock"  # killed with its lock held: the lock file stays, and is taken over
    kill_when(run, after_rows(METRICS_FILE, 3))
    problems = [] if (run / "lock").exists() else ["the killed run left no lock file to take over"]
    problems += resume_and_check(run, reference)
    problems += ["the lock file outlived the run"] if (run / "lock").exists() else []
    cases.append(Case("a lock left by a killed run", "(taken over)", problems, 0, rows_lost(run, reference)))
    return cases


def _damage(step_dir: Path, how: str) -> None:
    default = step_dir / "default"
    data = max(
        (p for p in default.rglob("*") if p.is_file() and "/d/" in str(p)), key=lambda p: p.stat().st_size
    )
    if how == "metadata deleted":
        (default / "_METADATA").unlink()
    elif how == "data file truncated":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif how == "data file overwritten":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 3 : len(raw) // 3 + 64] = bytes(64)
        data.write_bytes(bytes(raw))
    elif how == "item directory deleted":
        shutil.rmtree(default)


DAMAGES = ("metadata deleted", "data file truncated", "data file overwritten", "item directory deleted")


def damaged_checkpoint_cases(
    work: Path, reference: dict[str, list], damages: Sequence[str] = DAMAGES
) -> list[Case]:
    """A finished 2,000-step run whose newest checkpoint is damaged in each of `damages`' ways: `eval`
    names it and uses the one before; `--resume --total-steps 4000` does too and ends with the undisturbed
    4,000-step run's rows. With every checkpoint damaged, one message says what to do and nothing is
    changed."""
    base = work / "base"
    assert imitax(*train_args(base), "--total-steps", "2000").returncode == 0
    cases = []
    for how in damages:
        run = work / how.replace(" ", "-")
        shutil.copytree(base, run)
        _damage(run / "checkpoints" / "2000", how)
        evaluation = imitax("eval", str(run), "--episodes", "1")
        problems = []
        if evaluation.returncode != 0 or "using the checkpoint at step 1,000" not in evaluation.stderr:
            problems.append(f"eval exited {evaluation.returncode}: {evaluation.stderr[-300:]}")
        problems += resume_and_check(run, reference, "--total-steps", "4000")
        if not (run / "checkpoints-damaged" / "2000").is_dir():
            problems.append("the damaged checkpoint was not set aside")
        tracebacks = evaluation.stderr.count("Traceback")
        cases.append(
            Case(
                f"newest checkpoint: {how}",
                _error_line(evaluation.stderr),
                problems,
                tracebacks,
                rows_lost(run, reference),
            )
        )
    run = work / "all-damaged"
    shutil.copytree(base, run)
    for step in ("1000", "2000"):
        _damage(run / "checkpoints" / step, "metadata deleted")
    before = sorted(str(p) for p in run.rglob("*"))
    answers = [imitax("eval", str(run)), imitax("train", "dqn", "--resume", str(run))]
    problems = [
        f"exit {a.returncode}: {a.stderr[-300:]}"
        for a in answers
        if a.returncode != 2 or "no intact checkpoint" not in a.stderr
    ]
    problems += [] if sorted(str(p) for p in run.rglob("*")) == before else ["files changed"]
    tracebacks = sum(a.stderr.count("Traceback") for a in answers)
    cases.append(Case("every checkpoint damaged", _error_line(answers[1].stderr), problems, tracebacks))
    return cases


def mount_tmpfs(path: Path, kib: int) -> str | None:
    """Mounts a small tmpfs at `path`; why it could not (not root, no mount), or None."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(path)], capture_output=True, text=True
        )
    except OSError as err:
        return f"cannot run mount: {err}"
    return None if result.returncode == 0 else f"cannot mount a tmpfs: {result.stderr.strip()}"


def resize_tmpfs(path: Path, kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={kib}k", str(path)], check=True)


def unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False)


def disk_full_cases(disk: Path, reference: dict[str, list]) -> list[Case]:
    """`disk` is a tmpfs of 900 KiB, grown as the cases need. A checkpoint too big for it; the disk filled
    by another file mid-run; a recording that fills it: each ends in one message, what was written stays
    readable, and once space is freed the run resumes into the undisturbed run's rows (the recording
    appends)."""
    from imitax.data.dataset import load_dataset

    cases = []
    run = disk / "run"
    result = imitax(*train_args(run))
    problems = _disk_refusal(result) + _intact(run)
    resize_tmpfs(disk, 16 * 1024)
    problems += resume_and_check(run, reference)
    cases.append(
        Case(
            "a checkpoint bigger than the free space",
            _error_line(result.stderr),
            problems,
            result.stderr.count("Traceback"),
            rows_lost(run, reference),
        )
    )
    shutil.rmtree(run)

    filler = disk / "filler"
    child = _start(*train_args(run))
    _wait_for(lambda: len(read_rows(run / METRICS_FILE)) >= 1, child)
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
    code, err = _finish(child)
    result = subprocess.CompletedProcess([], code, "", err)
    problems = _disk_refusal(result) + _intact(run)
    filler.unlink()
    problems += resume_and_check(run, reference)
    cases.append(
        Case(
            "the disk filled by another file mid-run",
            _error_line(err),
            problems,
            err.count("Traceback"),
            rows_lost(run, reference),
        )
    )
    shutil.rmtree(run)

    resize_tmpfs(disk, 400)
    demos = disk / "demos"
    record = ["record", "expert", "--env", "Pong", "--max-episode-steps", "300", "--out", str(demos)]
    result = imitax(*record, "--episodes", "30")
    problems = _disk_refusal(result)
    kept = load_dataset(demos).num_episodes
    verify = imitax("data", "verify", str(demos))
    problems += (
        []
        if verify.returncode == 0 and kept >= 1
        else [f"{kept} episodes kept; verify: {verify.stdout[-300:]}"]
    )
    resize_tmpfs(disk, 4 * 1024)
    more = imitax(*record, "--episodes", "1", "--append", "True")
    if more.returncode != 0 or load_dataset(demos).num_episodes != kept + 1:
        problems.append(f"appending after freeing space failed: {more.stderr[-300:]}")
    cases.append(
        Case(
            "a recording that fills the disk",
            _error_line(result.stderr),
            problems,
            result.stderr.count("Traceback"),
        )
    )
    return cases


def _disk_refusal(result: subprocess.CompletedProcess) -> list[str]:
    ok = result.returncode == 2 and "no space left on" in result.stderr and "Traceback" not in result.stderr
    return [] if ok else [f"exit {result.returncode}: {result.stderr[-400:]}"]


def _intact(run: Path) -> list[str]:
    """What of a run stopped by a full disk is not readable: rows, checkpoints, orbax's leftovers."""
    from imitax.train.checkpoints import Checkpointer

    problems = []
    for name in (METRICS_FILE, EVAL_FILE):
        path = run / name
        if path.exists() and path.read_text() and not path.read_text().endswith("\n"):
            problems.append(f"{name} ends in a cut row")
        read_rows(path)
    checkpointer = Checkpointer(run / "checkpoints", create=False)
    problems += [f"checkpoint {s}: {p}" for s in checkpointer.all_steps() if (p := checkpointer.problem(s))]
    problems += [f"left {p.name}" for p in (run / "checkpoints").glob("*orbax-checkpoint-tmp*")]
    return problems
