"""Runs any imitax agent through its algorithm's phases, all on one learner state and one replay: by
default offline updates on demonstrations (`pretrain_updates`), then online interaction (`total_steps`);
DAgger puts its rounds between the two (`imitax.train.phases`).

Each phase runs in compiled chunks; between them (in Python) come metrics rows, evaluations,
checkpoints, progress, resuming and Ctrl-C. Rows and checkpoints are keyed by the run's `step`: offline
updates plus environment steps, which only grows.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import jax

from imitax.agents.config import AgentConfig
from imitax.disk import DiskFullError, quiet_full_disk_in_threads
from imitax.train import run_dir as rd
from imitax.train.evaluation import EvalResult
from imitax.train.phases import phase_kinds
from imitax.train.run_log import import_wandb
from imitax.train.session import Session, StopRequest


@dataclass
class TrainResult:
    run_dir: Path
    env_steps: int
    final_eval: EvalResult | None
    interrupted: bool = False
    updates: int = 0


def train(
    config: AgentConfig, *, resume: bool = False, quiet: bool = False, allow_divergence: bool = False
) -> TrainResult:
    """Trains the agent `config` describes through its phases, recording everything in the run directory.

    Raises:
      RunDirError: the run directory holds another run (or, resuming, a run with other settings or none).
      DatasetError: a demonstration dataset that is missing, damaged, empty or of another game or preset.
      ValueError: settings that cannot work (an unknown game, a replay too small, terms without demos...).
      RunInUseError: another process is writing the run directory.
      DivergedError: the loss or Q-values became NaN or infinite (unless `allow_divergence`).
      DiskFullError: no space left for a checkpoint or a row; what was written before is intact.
    """
    with rd.holding(rd.run_paths(config)):
        session = prepare(config, resume, quiet, allow_divergence)
        with _stop_on_signals(session.stop), quiet_full_disk_in_threads():
            return run_phases(session)


def prepare(config: AgentConfig, resume: bool = False, quiet: bool = False, allow_divergence: bool = False):
    """The session of a run, built in full (every bad input refused) before anything is written."""
    config.check_trainable()
    if config.wandb_project:
        import_wandb()  # missing: a message before anything is written
    return Session(config, phase_kinds(config), resume, quiet, allow_divergence)


def run_phases(session: Session) -> TrainResult:
    """Opens the run, runs each phase, evaluates and checkpoints the end; Ctrl-C saves a checkpoint."""
    session.open()
    interrupted = False
    try:
        for phase in session.phases:
            phase.run(session)
        if not session.evaluated_here():
            session.evaluate(_last_planned(session))
        if session.last_ckpt != session.step or session.latest_checkpoint() is None:
            session.save()
    except KeyboardInterrupt:
        interrupted = True
        session.log.progress.close()
        _save_on_interrupt(session)
    except DiskFullError as err:
        raise _disk_full(session, err) from None
    finally:
        events_lost = session.close()
    if events_lost is not None:
        raise _disk_full(session, events_lost)
    run_dir = Path(session.config.resolved_run_dir)
    return TrainResult(run_dir, session.env_steps, session.seeds[0].final_eval, interrupted, session.updates)


def _last_planned(session: Session) -> str:
    """The name of the run's last phase with work to do, which names its final evaluation."""
    planned = [phase.name for phase in session.phases if phase.planned()]
    return planned[-1] if planned else session.phases[-1].name


def _disk_full(session: Session, err: DiskFullError) -> DiskFullError:
    """The message of a full disk, with the command that continues the run and from where."""
    latest = session.latest_checkpoint()
    at = f"from step {latest:,}" if latest is not None else "from the start"
    resume = f"imitax train {session.config.algo} --resume {session.config.resolved_run_dir}"
    return DiskFullError(f"{err} Free some space, then `{resume}` continues {at}.")


def _save_on_interrupt(session: Session) -> None:
    where = session.config.resolved_run_dir
    try:
        jax.block_until_ready(session.state)
        session.save()
        print(f"\nStopped. Saved a checkpoint at step {session.step:,}; continue with --resume {where}")
    except Exception:  # the state was mid-update (donated): the last periodic checkpoint stands
        latest = session.latest_checkpoint()
        at = f"step {latest:,}" if latest is not None else "nowhere yet"
        print(f"\nStopped mid-chunk; the latest checkpoint is at {at} (--resume {where}).")


@contextlib.contextmanager
def _stop_on_signals(stop: StopRequest):
    """Ctrl-C (SIGINT) or a kill (SIGTERM, as schedulers send) asks the run to stop at the end of the
    chunk in flight; a second signal stops at once. The handlers are installed explicitly, because a
    process started in the background inherits SIGINT ignored and Python then never raises
    KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        print("\nStopping at the end of this chunk (signal again to stop at once)...", flush=True)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
