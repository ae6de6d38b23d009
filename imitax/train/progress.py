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
    """A rich progress bar on a terminal; a plain line per update elsewhere (logs, CI)."""

    def __init__(self, total: int, start: int = 0, description: str = "train", enabled: bool = True):
        self.total = total
        self.enabled = enabled
        self.live = enabled and sys.stdout.isatty()
        self._start_time = time.perf_counter()
        self._start_steps = start
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
        done = env_steps - self._start_steps
        elapsed = time.perf_counter() - self._start_time
        eta = elapsed / done * (self.total - env_steps) if done > 0 else 0.0
        share = env_steps / self.total if self.total else 1.0  # DAgger with no updates: no steps at all
        print(
            f"steps {env_steps:,}/{self.total:,} ({100 * share:5.1f}%) | {speed} | "
            f"{ret} | ETA {format_duration(eta)}",
            flush=True,
        )

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
