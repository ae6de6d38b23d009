"""DQN settings: one frozen dataclass parsed by the CLI, and its named presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal

from imitax.agents.config import RunConfig
from imitax.replay import ReplayConfig


@dataclass(frozen=True)
class DQNConfig(RunConfig):
    """Deep Q-learning (Mnih et al. 2015) and the options its family of papers uses."""

    algo: ClassVar[str] = "dqn"

    # Replay and learning schedule.
    replay_capacity: int = 1_000_000
    """Agent transitions kept in the replay (a multiple of num_envs)."""
    batch_size: int = 32
    """Transitions per gradient update."""
    n_step: int = 1
    """Horizon of the bootstrapped returns (1: one-step Q-learning)."""
    discount: float = 0.99
    """Per-step discount gamma."""
    learning_starts: int = 50_000
    """Environment steps of acting before the first update."""
    replay_ratio: float = 0.25
    """Gradient updates per environment step (0.25: one update every 4 steps, as in Nature DQN)."""

    # Network and loss.
    dueling: bool = False
    """Dueling head (Wang et al. 2016)."""
    torso: Literal["auto", "nature", "mlp"] = "auto"
    """Network torso; auto picks nature for frames and mlp for vectors."""
    mlp_sizes: tuple[int, ...] = (128, 128)
    """Hidden sizes of the MLP torso."""
    double_q: bool = False
    """Double Q-learning targets (van Hasselt et al. 2016)."""
    loss: Literal["huber", "squared"] = "huber"
    """TD loss: huber (Nature's error clipping) or squared."""
    huber_delta: float = 1.0
    """Where the Huber loss turns linear."""
    augment_shift: int = 0
    """Random shifts of up to this many pixels on sampled frames (DrQ, Kostrikov et al. 2021); 0: none."""

    # Target network.
    target_update_period: int = 10_000
    """Copy the online network into the target every this many updates (hard updates)."""
    target_tau: float | None = None
    """Polyak averaging weight per update instead of hard copies (e.g. 0.005); None: hard updates."""

    # Optimizer.
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    """rmsprop (Nature, centered as in dqn_zoo) or adam."""
    learning_rate: float = 2.5e-4
    """Step size."""
    optimizer_eps: float = 0.01 / 32**2
    """Epsilon of the optimizer's denominator (dqn_zoo's Nature value for rmsprop; 1.5e-4 suits adam)."""
    rmsprop_decay: float = 0.95
    """Decay of rmsprop's squared-gradient averages."""
    max_grad_norm: float | None = 10.0
    """Clip gradients to this global norm; None: no clipping."""

    # Exploration.
    epsilon_start: float = 1.0
    """Exploration rate when learning starts (acting is uniformly random before)."""
    epsilon_end: float = 0.1
    """Exploration rate after the decay."""
    epsilon_decay_steps: int = 1_000_000
    """Environment steps, counted from learning_starts, over which epsilon decays linearly."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive(self, "replay_capacity", "batch_size", "n_step", "target_update_period")
        _at_least(self, 0, "learning_starts", "epsilon_decay_steps")
        _in_unit(self, "discount", "epsilon_start", "epsilon_end", "eval_epsilon")
        if self.replay_ratio <= 0:
            raise ValueError(f"replay_ratio must be > 0, got {self.replay_ratio}")
        if self.learning_rate <= 0 or self.optimizer_eps <= 0:
            raise ValueError("learning_rate and optimizer_eps must be > 0")
        if self.target_tau is not None and not 0 < self.target_tau <= 1:
            raise ValueError(f"target_tau must be in (0, 1], got {self.target_tau}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        if self.augment_shift < 0:
            raise ValueError(f"augment_shift must be >= 0, got {self.augment_shift}")
        if self.batch_size > self.replay_capacity:
            raise ValueError(
                f"batch_size {self.batch_size} is larger than replay_capacity {self.replay_capacity}"
            )

    @property
    def replay(self) -> ReplayConfig:
        """The replay settings these fields define."""
        return ReplayConfig(
            capacity=self.replay_capacity,
            batch_size=self.batch_size,
            n_step=self.n_step,
            discount=self.discount,
        )


def _positive(config: object, *names: str) -> None:
    _at_least(config, 1, *names)


def _at_least(config: object, low: int, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")


def _in_unit(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")


NATURE = DQNConfig(total_steps=50_000_000)
"""Mnih et al. 2015: 50M agent steps (200M frames), RMSProp 2.5e-4, replay 1M, target every 10k updates."""

FAST = dataclasses.replace(
    NATURE,
    total_steps=1_000_000,
    replay_capacity=100_000,
    learning_starts=5_000,
    n_step=10,
    double_q=True,
    augment_shift=4,
    optimizer="adam",
    learning_rate=1e-4,
    optimizer_eps=1.5e-4,
    target_update_period=1_000,
    epsilon_end=0.01,
    epsilon_decay_steps=50_000,
    eval_every=50_000,
    checkpoint_every=50_000,
)
"""Tuned for quick learning on a small budget (Pong on a CPU, where one update costs about 80 ms and a
90-minute run affords some 60,000): Adam, 10-step double Q-learning with random shifts of the frames
(DrQ's data-efficient recipe, Kostrikov et al. 2021), a small replay and a short exploration decay."""

CARTPOLE = dataclasses.replace(
    NATURE,
    env="CartPole-v1",
    total_steps=80_000,
    replay_capacity=50_000,
    batch_size=128,
    learning_starts=1_000,
    replay_ratio=1.0,
    n_step=3,
    double_q=True,
    loss="squared",
    optimizer="adam",
    learning_rate=3e-4,
    optimizer_eps=1e-8,
    target_update_period=1_000,
    epsilon_end=0.05,
    epsilon_decay_steps=10_000,
    log_every=5_000,
    eval_every=20_000,
    eval_epsilon=0.0,
    checkpoint_every=40_000,
)
"""A vector task with the MLP torso in about a minute on a CPU: the quick end-to-end check of DQN
(mean evaluation return 478-495 of 500 at 80k steps for seeds 0, 1, 2)."""

PRESETS: dict[str, DQNConfig] = {"nature": NATURE, "fast": FAST, "cartpole": CARTPOLE}
