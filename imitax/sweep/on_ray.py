"""Trials on a Ray cluster with Ray Tune: one Tune trial per imitax trial, each running the same child
process as a local sweep (`imitax.trials.run_trial`) on a worker and reporting the run's final return.

The run directories are the sweep's own, so a sweep begun on this machine can finish on a cluster and
the other way round; on a cluster of several machines the output directory must be one they all see (a
shared file system), and imitax must be installed on each. Ctrl-C writes a stop file there that every
trial watches: running children checkpoint and stop, trials not yet begun do not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

from imitax.trials import INTERRUPTED, Trial, final_eval, run_trial, trial_state

STOP_FILE = ".stop"
CONNECT_TIMEOUT_S = 3.0


def connect(address: str) -> None:
    """Starts Ray on this machine (`local`) or joins a cluster (`auto`, HOST:PORT, ray://HOST:PORT);
    an address nothing answers at is a ValueError within `CONNECT_TIMEOUT_S` (Ray itself would wait
    for minutes)."""
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'imitax[ray]' (ray[tune])") from None
    if ray.is_initialized():
        return
    if address != "local" and address != "auto":
        _check_reachable(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, object_store_memory=256 * 2**20, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, TimeoutError, RuntimeError) as err:
        raise ValueError(f"--ray {address}: cannot join a Ray cluster there ({err})") from None


def _check_reachable(address: str) -> None:
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray {address}: expected HOST:PORT, ray://HOST:PORT, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise ValueError(
            f"--ray {address}: no Ray cluster answers there ({err.strerror or err}); start one with "
            "`ray start --head`, or use --ray local"
        ) from None


@contextlib.contextmanager
def _stopping_at_checkpoints(stop_file: Path) -> Iterator[None]:
    """Ctrl-C asks the running trials to stop at a checkpoint (through `stop_file`) instead of Tune's own
    handler killing them; a second Ctrl-C stops at once."""
    stops = 0

    def on_interrupt(signum, frame):
        nonlocal stops
        stops += 1
        if stops > 1:
            raise KeyboardInterrupt
        stop_file.touch()
        print("Stopping: running trials checkpoint and stop (Ctrl-C again: at once). Rerun to resume.")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    tune_handler = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours stops the children at a checkpoint instead
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if tune_handler is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER")
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = tune_handler
        stop_file.unlink(missing_ok=True)


def run_on_ray(
    trials: Sequence[Trial], out: Path, log_dir: Path, resources: dict, workers: int | None, cwd: str
) -> dict[str, int]:
    """Runs the trials as Ray Tune trials; returns each one's exit status (the metric `return_mean` is
    the run's final evaluation). At most `workers` at once if given, else as many as resources allow.
    Paths are absolute (Tune moves a trial into a directory of its own); the children run in `cwd`
    where the worker has it, so relative paths in the flags (`--demos`) mean what they mean here."""
    from ray import tune

    by_name = {t.name: t for t in trials if trial_state(t) != "done"}
    if not by_name:
        return {}
    stop_file = out / STOP_FILE
    stop_file.unlink(missing_ok=True)

    def trainable(config: dict) -> None:
        trial = by_name[config["trial"]]
        workdir = cwd if Path(cwd).is_dir() else None
        code = run_trial(trial, log_dir, should_stop=stop_file.exists, cwd=workdir)
        last = final_eval(trial.run_dir) if code == 0 else None
        metrics = {"exit_code": code, "return_mean": float("nan"), "return_std": float("nan")}
        if last is not None:
            metrics.update(return_mean=float(last["return_mean"]), return_std=float(last["return_std"]))
        tune.report(metrics)

    tuner = tune.Tuner(
        tune.with_resources(trainable, {k: float(v) for k, v in resources.items()}),
        param_space={"trial": tune.grid_search(list(by_name))},
        tune_config=tune.TuneConfig(max_concurrent_trials=workers, reuse_actors=False),
        run_config=tune.RunConfig(name="tune", storage_path=str(out / "ray"), verbose=0, log_to_file=False),
    )
    with _stopping_at_checkpoints(stop_file):
        grid = tuner.fit()
    codes = {}
    for result in grid:
        name = result.config["trial"] if result.config else None
        if name is None:
            continue
        metrics = result.metrics or {}
        codes[name] = int(metrics.get("exit_code", 1 if result.error else INTERRUPTED))
    return codes
