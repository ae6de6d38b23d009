"""Settings every training run shares: environment, budget, seed, evaluation, logging, checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from imitax.envs import get_preset, resolve_env_name


@dataclass(frozen=True)
class RunConfig:
    """What any imitax training run needs besides its agent's own settings."""

    algo: ClassVar[str] = "run"

    env: str = "Pong"
    """Atari game in any common spelling (Pong, space_invaders, ALE/Breakout-v5), or a vector task."""
    env_preset: str = "nature"
    """Atari preprocessing preset: nature (Mnih et al. 2015) or machado (Machado et al. 2018)."""
    num_envs: int = 8
    """Environments stepped together by envpool."""
    total_steps: int = 1_000_000
    """Environment steps to train for, summed over all environments."""
    seed: int = 0
    """Seeds the network, exploration, replay sampling and environments; same seed, same run."""
    run_dir: str | None = None
    """Where config, metrics, TensorBoard logs and checkpoints go (default: runs/<algo>-<env>-seed<seed>)."""
    log_every: int = 10_000
    """Environment steps per metrics row; also the length of one compiled training chunk."""
    eval_every: int = 250_000
    """Environment steps between evaluations (a final one always runs); 0 evaluates only at the end."""
    eval_episodes: int = 10
    """Whole games per evaluation, played in parallel on separate environments."""
    eval_epsilon: float = 0.05
    """Exploration rate while evaluating."""
    checkpoint_every: int = 250_000
    """Environment steps between checkpoints (one is also saved at the end and on Ctrl-C)."""
    save_replay: bool = True
    """Keep the replay in checkpoints so a resumed run continues exactly; off: a resume refills it."""

    def __post_init__(self) -> None:
        resolve_env_name(self.env)  # an unknown game fails here, with suggestions
        get_preset(self.env_preset)
        for name in ("num_envs", "total_steps", "log_every", "eval_episodes", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")

    @property
    def resolved_run_dir(self) -> str:
        """The run directory, with the default filled in."""
        if self.run_dir:
            return self.run_dir
        return f"runs/{self.algo}-{resolve_env_name(self.env).lower()}-seed{self.seed}"
