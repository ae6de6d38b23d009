"""Run directories with a checkpoint, trained in seconds: agents for tests that load, record or teach."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from imitax.agents.algorithms import DQNConfig
from imitax.train.runner import train


def train_tiny_dqn(run: Path, **changes) -> Path:
    """A Nature-CNN DQN on Pong (or `env=`...) trained for 32 steps, checkpointed at step 32."""
    settings = dict(
        env="Pong",
        num_envs=2,
        total_steps=32,
        log_every=32,
        replay_capacity=200,
        batch_size=4,
        learning_starts=16,
        eval_every=0,
        eval_episodes=1,
        checkpoint_every=32,
        run_dir=str(run),
    )
    train(dataclasses.replace(DQNConfig(), **{**settings, **changes}), quiet=True)
    return run
