"""Data-only types that every layer shares: what an environment is (`EnvSpec`), what it returns each
step (`EnvStep`), what the replay stores (`Step`) and the one transition every loss reads (`Transition`).

This module imports nothing heavy (no emulators, no networks), so the replay, the networks and the losses
read these types without loading the environments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import jax

if TYPE_CHECKING:
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


class Step(NamedTuple):
    """What is stored for one time step of one stream (leading axes are batch axes).

    Step j holds observation o_j (as its newest frame only), the action taken at o_j, and how the
    environment arrived at o_j. Transitions are rebuilt from consecutive steps at sample time.
    """

    frame: jax.Array
    """The newest frame of o_j, e.g. (84, 84) uint8; the whole observation when it is not a stack."""
    action: jax.Array
    """Action executed at o_j (int32). Ignored at a last step, where the environment resets."""
    label: jax.Array
    """Action to imitate at o_j (int32): the executed one for agent data, the expert's for demos."""
    reward: jax.Array
    """Training reward received on arrival at o_j (float32); 0 at a first step."""
    terminal: jax.Array
    """o_j ends its episode with no value beyond it: bootstrapping stops here (bool)."""
    first: jax.Array
    """o_j starts a new game: its frame stack is its own frame repeated (bool)."""
    last: jax.Array
    """o_j ends its episode (terminal or truncated): no transition starts at o_j (bool)."""


class Transition(NamedTuple):
    """One transition, as every loss reads it: BC uses the first fields, TD losses the rest.

    Names follow rlax: `_tm1` is the time the action was taken, `_t` one step later, and the `nstep_`
    fields look n steps ahead (n is a replay setting; with n = 1 they are the one-step fields). Discounts
    already include gamma and are zero past a terminal observation.
    """

    obs_tm1: jax.Array
    """Observation the action was taken in, (*obs_shape)."""
    action_tm1: jax.Array
    """Action executed (int32)."""
    label_tm1: jax.Array
    """Action to imitate (int32): the executed one for agent data, the expert's for demonstrations."""
    reward_t: jax.Array
    """One-step reward (float32)."""
    discount_t: jax.Array
    """gamma, or 0 when obs_t is terminal (float32)."""
    obs_t: jax.Array
    """One-step next observation."""
    nstep_return_t: jax.Array
    """Discounted sum of the next m <= n rewards, stopping at the episode's end (float32)."""
    nstep_discount_t: jax.Array
    """gamma**m, or 0 when the episode terminated within those m steps (float32)."""
    nstep_obs_t: jax.Array
    """Observation m steps ahead, to bootstrap from."""
    is_demo: jax.Array
    """The transition comes from the demonstration partition (bool)."""
    weight: jax.Array | float = 1.0
    """Importance weight of the example in the loss: 1 under uniform sampling, the correction of
    prioritized replay otherwise (float32)."""
