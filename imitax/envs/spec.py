"""What every environment path returns: a static spec and a per-step record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from imitax.envs.presets import AtariPreset


@dataclass(frozen=True)
class EnvSpec:
    """Static description of an environment, shared by both Atari paths and the vector tasks."""

    name: str
    """Canonical game name ("Pong") or envpool task id ("CartPole-v1")."""
    obs_shape: tuple[int, ...]
    """Shape of one observation, e.g. (4, 84, 84) for stacked frames."""
    obs_dtype: str
    """NumPy dtype name of observations ("uint8" for frames)."""
    frame_stack: int | None
    """Frames stacked on the leading observation axis, or None when observations are not stacks."""
    num_actions: int
    """Size of the discrete action set."""
    action_ids: tuple[int, ...] = ()
    """Full-set ALE action id of each action (Atari only)."""
    action_meanings: tuple[str, ...] = ()
    """Name of each action ("NOOP", "FIRE", ...), empty where the task has none."""
    preset: AtariPreset | None = None
    """The Atari preset, None for other tasks."""
    training: bool = False
    """Whether the training-only settings (episodic life, reward clipping) are on."""

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one stored frame: an observation without its stack axis."""
        return self.obs_shape[1:] if self.frame_stack is not None else self.obs_shape

    def settings(self) -> dict[str, Any]:
        """Everything that defines the environment, for run records and dataset metadata."""
        out: dict[str, Any] = {
            "name": self.name,
            "obs_shape": list(self.obs_shape),
            "obs_dtype": self.obs_dtype,
            "frame_stack": self.frame_stack,
            "num_actions": self.num_actions,
            "action_ids": list(self.action_ids),
            "action_meanings": list(self.action_meanings),
        }
        if self.preset is not None:
            out["preset"] = self.preset.settings(self.training)
        return out


class EnvStep(NamedTuple):
    """One step of N environments. Arrays have a leading axis of size N.

    Environments reset themselves: the step after an episode's last one returns the first observation of
    the next episode (reward 0, `first` set) and ignores the action it was given.
    """

    obs: Any
    """Observation, (N, *obs_shape)."""
    reward: Any
    """Training reward on arrival at `obs` (clipped when the preset says so), float32."""
    score: Any
    """Unclipped game reward on arrival at `obs`, float32: the true score, always."""
    terminated: Any
    """`obs` ends a learning episode with no value beyond it (game over, or a lost life in training)."""
    truncated: Any
    """`obs` ends an episode by the time limit; its value still counts."""
    first: Any
    """`obs` starts a new game (its frame stack is the first frame repeated)."""
    game_over: Any
    """The whole game ended at `obs` (game over or time limit): the end of a scored episode."""

    @property
    def last(self) -> Any:
        """`obs` ends a learning episode: no transition starts from it."""
        return self.terminated | self.truncated
