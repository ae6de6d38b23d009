"""A live progress line for long runs: steps, speed, recent return and time left."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class TrainProgress:
    """A rich progress bar on a terminal; a plain line per update elsewhere (logs, CI).

    A run's steps are its offline updates (up to `offline_end`), then its environment steps. The two go at
    different speeds, so the plain line times each phase by itself: offline, its ETA is to the end of
    the offline updates; online, to the end of the run.
    """

    def __init__(
        self,
        total: int,
        start: int = 0,
        description: str = "train",
        enabled: bool = True,
        offline_end: int = 0,
    ):
        self.total = total
        self.offline_end = offline_end
        self.enabled = enabled
        self.live = enabled and sys.stdout.isatty()
        self._start_time = time.perf_counter()
        self._start_steps = start
        self._offline = self._in_offline_phase(start)  # the phase the clock was started in
        self.console = Console()
        self._bar: Progress | None = None
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
                TextColumn("{task.fields[speed]}"),
                TextColumn("{task.fields[ret]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._task = self._bar.add_task(description, total=total, completed=start, speed="", ret="")
            self._bar.start()

    def update(self, env_steps: int, speed: float, recent_return: float | None, unit: str = "steps") -> None:
        """The run at `env_steps` of its total, going at `speed` `unit`/s (steps online, updates offline)."""
        if not self.enabled:
            return
        ret = "return  n/a" if recent_return is None else f"return {recent_return:7.2f}"
        speed = f"{speed:8,.1f} {unit}/s"
        if self._bar is not None:
            self._bar.update(self._task, completed=env_steps, speed=speed, ret=ret)
            return
        print(
            f"steps {env_steps:,}/{self.total:,} ({100 * self._share(env_steps):5.1f}%) | {speed} | "
            f"{ret} | {self._eta(env_steps)}",
            flush=True,
        )

    def _share(self, env_steps: int) -> float:
        return env_steps / self.total if self.total else 1.0  # DAgger with no updates: no steps at all

    def _in_offline_phase(self, step: int) -> bool:
        """Whether `step` is an offline update of a run with environment steps after them (a run of
        offline updates only, DAgger's, is one phase)."""
        return 0 < self.offline_end < self.total and step <= self.offline_end

    def _eta(self, env_steps: int) -> str:
        """Time left in this phase at this phase's own speed (a phase's first line has no speed yet)."""
        offline = self._in_offline_phase(env_steps)
        if offline != self._offline:  # a new phase: its speed is measured from here
            self._offline, self._start_time, self._start_steps = offline, time.perf_counter(), env_steps
            return "ETA n/a"
        done = env_steps - self._start_steps
        end = self.offline_end if offline else self.total
        eta = (time.perf_counter() - self._start_time) / done * (end - env_steps) if done > 0 else 0.0
        return f"ETA {format_duration(eta)}" + (" to the end of the offline updates" if offline else "")

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
