"""Training DQN online on envpool environments."""

from __future__ import annotations

from imitax.agents.dqn.agent import make_dqn
from imitax.agents.dqn.config import DQNConfig
from imitax.train.runner import Schedule, TrainResult, train


def schedule_of(config: DQNConfig) -> Schedule:
    return Schedule(
        learning_starts=config.learning_starts,
        replay_ratio=config.replay_ratio,
        epsilon_start=config.epsilon_start,
        epsilon_end=config.epsilon_end,
        epsilon_decay_steps=config.epsilon_decay_steps,
    )


def train_dqn(config: DQNConfig, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Trains DQN as `config` says; see `imitax.train.runner.train` for what the run directory gets."""
    return train(config, make_dqn(config), config.replay, schedule_of(config), resume=resume, quiet=quiet)
