"""Named Atari preprocessing presets: the settings that define what an agent sees and is scored on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class AtariPreset:
    """How an Atari game is turned into an RL environment.

    Both environment paths (envpool and ale-py) implement these settings identically, frame for frame.
    """

    name: str
    """Name the preset is known by."""
    noop_max: int = 30
    """Each game starts with U{1..noop_max} no-op actions (one fewer when `fire_reset`), as in envpool."""
    frame_skip: int = 4
    """Emulator frames per agent step; the action repeats and the last two frames are max-pooled."""
    frame_stack: int = 4
    """Preprocessed frames stacked into one observation."""
    image_size: int = 84
    """Observations are image_size x image_size grayscale, resized with area interpolation."""
    sticky_action_prob: float = 0.0
    """Probability that the emulator repeats the previous action instead of the chosen one."""
    full_action_space: bool = False
    """Use all 18 ALE actions instead of the game's minimal action set."""
    fire_reset: bool = True
    """Press FIRE after the no-ops at every reset, in games that have FIRE."""
    episodic_life: bool = True
    """Training only: a lost life ends the learning episode (the game itself goes on)."""
    reward_clip: bool = True
    """Training only: rewards are clipped to their sign. Reported scores are never clipped."""
    max_episode_frames: int = 108_000
    """Emulator frames after which an episode is truncated (108,000 frames = 30 minutes)."""

    def __post_init__(self) -> None:
        if self.noop_max < 1:
            raise ValueError(f"noop_max must be >= 1 (envpool plays at least one no-op), got {self.noop_max}")
        if self.frame_skip < 1 or self.frame_stack < 1 or self.image_size < 8:
            raise ValueError("frame_skip and frame_stack must be >= 1 and image_size >= 8")
        if not 0.0 <= self.sticky_action_prob <= 1.0:
            raise ValueError(f"sticky_action_prob must be in [0, 1], got {self.sticky_action_prob}")
        if self.max_episode_frames < self.frame_skip:
            raise ValueError("max_episode_frames must cover at least one agent step")

    @property
    def max_episode_steps(self) -> int:
        """Agent steps after which an episode is truncated."""
        return self.max_episode_frames // self.frame_skip

    def settings(self, training: bool) -> dict[str, object]:
        """Every setting as a plain dict, with the training-only ones resolved, for run records."""
        out = dataclasses.asdict(self)
        out["training"] = training
        out["episodic_life"] = self.episodic_life and training
        out["reward_clip"] = self.reward_clip and training
        return out


NATURE = AtariPreset(name="nature")
"""Mnih et al. 2015, "Human-level control through deep reinforcement learning"."""

MACHADO = AtariPreset(
    name="machado",
    noop_max=1,
    sticky_action_prob=0.25,
    full_action_space=True,
    fire_reset=False,
    episodic_life=False,
)
"""Machado et al. 2018, "Revisiting the Arcade Learning Environment": sticky actions, the full action
set, no loss-of-life signal and no game-specific resets."""

PRESETS: dict[str, AtariPreset] = {p.name: p for p in (NATURE, MACHADO)}


def with_sticky_actions(preset: str | AtariPreset) -> AtariPreset:
    """`preset` (or the preset of that name) made as stochastic as Machado et al. 2018 ask: sticky actions
    0.25, a single no-op, no FIRE at reset, games cut at 108,000 frames. The action set and the frames stay
    `preset`'s, so an agent trained on it plays these games as it is: its robustness is measured, not its
    transfer."""
    preset = get_preset(preset)
    return dataclasses.replace(
        preset,
        name=f"{preset.name}+sticky",
        noop_max=MACHADO.noop_max,
        sticky_action_prob=MACHADO.sticky_action_prob,
        fire_reset=MACHADO.fire_reset,
        max_episode_frames=MACHADO.max_episode_frames,
    )


def get_preset(preset: str | AtariPreset) -> AtariPreset:
    """Looks a preset up by name (or passes an `AtariPreset` through)."""
    if isinstance(preset, AtariPreset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"Unknown env preset {preset!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[preset]


@dataclass(frozen=True)
class EvalProtocol:
    """A published way of playing evaluation games: the preset it belongs to, its exploration and its
    cap on a game's length."""

    name: str
    preset: str
    """The environment preset the protocol evaluates (agents trained on it)."""
    epsilon: float | None
    """Exploration while evaluating; None: the run's own --eval-epsilon."""
    max_episode_frames: int
    """Emulator frames after which an evaluation game is cut."""

    def eval_preset(self) -> AtariPreset:
        """The preset evaluation games are played under."""
        return dataclasses.replace(get_preset(self.preset), max_episode_frames=self.max_episode_frames)


EVAL_PROTOCOLS: dict[str, EvalProtocol] = {
    # Mnih et al. 2015: up to 30 no-op starts, epsilon 0.05, games cut at 5 minutes (18,000 frames).
    "nature": EvalProtocol("nature", "nature", 0.05, 18_000),
    # Machado et al. 2018: sticky actions 0.25 (in the preset), games cut at 108,000 frames.
    "machado": EvalProtocol("machado", "machado", None, 108_000),
}
"""Evaluation protocols by name (`--eval-protocol`); a run records the one it used."""
