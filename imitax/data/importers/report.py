"""What an import returns: `ImportReport`, the account of what it wrote, decided and left out; and the
`Progress` callback type the importers accept.

Every other module of `imitax.data.importers` fills a report, so it lives here, below them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Progress = Callable[[int, int], None]
"""Called as progress(done, total): screens read so far and in all (AGC, Atari-HEAD), or episodes (Minari)."""


@dataclass
class ImportReport:
    """What an import wrote, and everything it had to decide or leave out."""

    source: str
    """"agc", "atari-head" or "minari"."""
    game: str
    preset: str
    out: Path
    episodes: int = 0
    steps: int = 0
    scores: list[float] = field(default_factory=list)
    """Unclipped score of each written episode."""
    episode_names: list[str] = field(default_factory=list)
    """Where each written episode came from ("trajectory 12", "trial 55_RZ_... episode 3")."""
    terminated: int = 0
    truncated: int = 0
    frames_dropped: int = 0
    """Emulator frames of the recordings left out: those after a game over."""
    mixed_action_steps: int = 0
    """Steps whose frames carried more than one action (the first one is kept)."""
    unknown_actions: dict[str, int] = field(default_factory=dict)
    """Steps whose action the game lacks, by ALE action name (mapped as `unknown_action` says)."""
    skipped_episodes: int = 0
    """Episodes with no step, not written."""
    pixels: int = 0
    off_palette_pixels: int = 0
    """Pixels whose colour is not in ALE's palette (see `imitax.data.screens.AleGrayscale`)."""
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{self.source} -> {self.out}: {self.game}, preset {self.preset!r}, {self.episodes} episodes, "
            f"{self.steps} steps ({self.terminated} ended by a game over, {self.truncated} truncated)",
        ]
        if self.scores:
            lines.append(
                f"  scores: mean {np.mean(self.scores):.1f}, min {min(self.scores):g}, "
                f"max {max(self.scores):g}"
            )
        if self.frames_dropped or self.skipped_episodes:
            lines.append(f"  left out: {self.frames_dropped} frames, {self.skipped_episodes} empty episodes")
        if self.mixed_action_steps:
            lines.append(
                f"  {self.mixed_action_steps} steps had several actions in their frames (kept the first)"
            )
        if self.unknown_actions:
            lines.append(f"  actions the game lacks: {self.unknown_actions}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)
