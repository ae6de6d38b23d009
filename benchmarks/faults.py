"""The long fault-injection sweep (not in CI): kill a tiny training run at many random moments and resume
it, kill recordings and imports mid-way, and feed every command its bad inputs.

Run from the repository root (it imports the harness in tests/fault_injection.py). Prints a table and,
as its last line, one JSON object, also written to benchmarks/results/faults.json:
  kill_points_tried     training runs killed (SIGKILL mostly, SIGTERM and SIGINT too), recordings and
                        imports killed
  kill_points_survived  those after which a resume (or a restart, when nothing was written yet) ended
                        with the rows and counters of an uninterrupted run, or a dataset kept its games
  bad_inputs_tried      command lines with a bad input, run as a user would
  disk_full_cases       a checkpoint bigger than the free space, the disk filled mid-run, a recording
                        that fills it (on a tmpfs; 0 where none can be mounted, with the reason)
  concurrent_writer_cases  two trainings into one run directory, resume and reproduce of a live run,
                        a lock left by a killed run
  damaged_checkpoint_cases  the newest checkpoint's metadata deleted, a data file truncated or
                        overwritten, the item directory deleted; every checkpoint damaged
  new_cases_answered    those of the three above answered as they should be (one message, the run's
                        rows those of an undisturbed run)
  tracebacks            tracebacks printed by any of the above (goal 0)
  rows_lost             metrics and eval rows of the uninterrupted run missing (or doubled) after a
                        resume (goal 0)
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import publish  # benchmarks/ is on sys.path when a script runs

from tests import fault_injection as fi


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def training_kills(work: Path, count: int, rng: np.random.Generator, report: dict) -> None:
    reference_run = work / "reference"
    start = time.perf_counter()
    assert fi.imitax(*fi.train_args(reference_run)).returncode == 0
    duration = time.perf_counter() - start
    reference = fi.counters(reference_run)
    signals = [signal.SIGKILL] * 6 + [signal.SIGTERM, signal.SIGINT]
    for i in range(count):
        run = work / f"kill{i}"
        delay = float(rng.uniform(0.5, duration))
        sig = signals[int(rng.integers(len(signals)))]
        if not fi.kill_when(run, fi.after_seconds(delay), sig):
            continue  # finished before the kill: not a kill point
        report["kill_points_tried"] += 1
        if (run / "config.json").exists():
            problems = fi.resume_and_check(run, reference)
        else:  # killed before anything was written: starting again is all there is to do
            result = fi.imitax(*fi.train_args(run))
            problems = [] if result.returncode == 0 else [result.stderr[-300:]]
            problems += [] if fi.counters(run) == reference else ["rows differ after a fresh start"]
        report["tracebacks"] += sum("Traceback" in p for p in problems)
        report["rows_lost"] += fi.rows_lost(run, reference)
        report["kill_points_survived"] += not problems
        print(f"kill {i}: {signal.Signals(sig).name} at {delay:5.1f}s: {problems or 'ok'}")
        shutil.rmtree(run, ignore_errors=True)


def writer_kills(
    work: Path, kind: str, argv: list[str], count: int, delays: tuple[float, float], rng, report: dict
) -> None:
    """Kills `count` dataset writers (`imitax <argv> --out DIR`) after a random delay in `delays`; each
    survives when its dataset keeps every episode it had finished (repaired as verify advises)."""
    for i in range(count):
        out = work / f"{kind}{i}"
        command = [sys.executable, "-m", "imitax.cli", *argv, "--out", str(out)]
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        delay = float(rng.uniform(*delays))
        time.sleep(delay)
        if child.poll() is not None:
            continue  # finished before the kill: not a kill point
        child.kill()
        child.wait()
        report["kill_points_tried"] += 1
        kept, promised, tracebacks = fi.kept_episodes(out)
        report["tracebacks"] += tracebacks
        report["kill_points_survived"] += kept >= promised
        print(f"{kind} kill {i} at {delay:4.1f}s: {kept} episodes kept of {promised} finished")


def recording_kills(work: Path, count: int, rng: np.random.Generator, report: dict) -> None:
    argv = ["record", "expert", "--env", "Pong", "--episodes", "400", "--max-episode-steps", "40"]
    writer_kills(work, "recording", argv, count, (3, 12), rng, report)


def import_kills(work: Path, count: int, rng: np.random.Generator, report: dict) -> None:
    source = fi.agc_source(work / "agc", trajectories=24, steps=480)
    argv = ["data", "import", "agc", str(source), "--game", "Pong"]
    writer_kills(work, "import", argv, count, (2, 8), rng, report)


def bad_inputs(work: Path, report: dict) -> None:
    root = fi.make_fixtures(work / "bad")
    for what, argv in fi.bad_inputs(root):
        before = _tree(root)
        result = fi.imitax(*argv)
        report["bad_inputs_tried"] += 1
        report["tracebacks"] += "Traceback" in result.stderr
        ok = result.returncode == 2 and "Traceback" not in result.stderr and _tree(root) == before
        report["bad_inputs_answered"] += ok
        if not ok:
            print(f"bad input {what!r}: exit {result.returncode}: {result.stderr.strip()[-300:]}")


def run_directory_failures(work: Path, report: dict) -> None:
    """The failures of issue #22, each printed with the message imitax answered it with."""
    reference_run = work / "failures-reference"
    assert fi.imitax(*fi.train_args(reference_run)).returncode == 0
    reference = fi.counters(reference_run)
    families = {
        "concurrent_writer_cases": lambda: fi.concurrent_writer_cases(work / "writers", reference),
        "damaged_checkpoint_cases": lambda: fi.damaged_checkpoint_cases(work / "damaged", reference),
        "disk_full_cases": lambda: _on_small_disk(work / "disk", reference),
    }
    report["cases"] = []
    for key, run_cases in families.items():
        cases = run_cases()
        report[key] = len(cases)
        for case in cases:
            report["tracebacks"] += case.tracebacks
            report["rows_lost"] += case.rows_lost
            report["new_cases_answered"] += not (case.problems or case.tracebacks or case.rows_lost)
            report["cases"].append({"case": case.name, "message": case.message, "problems": case.problems})
            print(f"{case.name}: {case.problems or 'ok'}\n    {case.message}")


def _on_small_disk(disk: Path, reference: dict) -> list:
    why = fi.mount_tmpfs(disk, 900)
    if why:
        print(f"disk-full cases skipped: {why}")
        return []
    try:
        return fi.disk_full_cases(disk, reference)
    finally:
        fi.unmount(disk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--kills", type=int, default=44, help="training runs to kill")
    parser.add_argument("--recording-kills", type=int, default=8)
    parser.add_argument("--import-kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    report = dict.fromkeys(
        ("kill_points_tried", "kill_points_survived", "bad_inputs_tried", "bad_inputs_answered"), 0
    )
    report.update(tracebacks=0, rows_lost=0, new_cases_answered=0)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bad_inputs(work, report)
        run_directory_failures(work, report)
        recording_kills(work, args.recording_kills, rng, report)
        import_kills(work, args.import_kills, rng, report)
        training_kills(work, args.kills, rng, report)
    report["minutes"] = round((time.perf_counter() - start) / 60, 1)
    publish(report, "faults.json")


if __name__ == "__main__":
    main()
