"""Filling the replay's demonstration partition from a dataset, frame-once, as agent data is stored."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from imitax.data.dataset import Dataset, DatasetError, Episode, action_index_map, check_compatible
from imitax.replay import Replay, ReplayState, Step
from imitax.types import EnvSpec


def rows_needed(dataset: Dataset) -> int:
    """Replay rows a dataset takes: each episode's T steps and its final observation."""
    return dataset.total_steps + dataset.num_episodes


def episode_steps(episode: Episode, action_map: np.ndarray, reward_clip: bool) -> Step:
    """An episode as T+1 replay steps: step j holds observation j, the action taken there, and the reward
    and flags of arriving there. The final observation ends the episode (`last`), terminal if the game
    ended there, not if it was truncated."""
    steps = episode.num_steps
    rewards = np.concatenate([[0.0], episode.rewards]).astype(np.float32)
    if reward_clip:
        rewards = np.sign(rewards)
    ending = np.zeros(steps + 1, bool)
    ending[-1] = True
    terminal = np.zeros(steps + 1, bool)
    terminal[-1] = steps > 0 and bool(episode.terminations[-1])
    pad = np.zeros(1, np.int64)  # no action is taken at the final observation
    return Step(
        frame=episode.frames,
        action=action_map[np.concatenate([episode.actions, pad])],
        label=action_map[np.concatenate([episode.labels, pad])],
        reward=rewards,
        terminal=terminal,
        first=np.arange(steps + 1) == 0,
        last=ending,
    )


def check_room(dataset: Dataset, spec: EnvSpec) -> int:
    """The replay rows `dataset` needs to train on `spec`, after checking that it can.

    Raises:
      DatasetError: another game, a preset whose frames differ, or no steps at all.
    """
    check_compatible(dataset.info, spec, what=f"--demos {dataset.path}")
    if dataset.num_episodes == 0 or dataset.total_steps == 0:
        raise DatasetError(
            f"--demos {dataset.path}: the dataset holds no steps; record or import demonstrations into it."
        )
    return rows_needed(dataset)


def add_episodes(
    episodes: list[Episode],
    replay: Replay,
    state: ReplayState,
    spec: EnvSpec,
    action_map: np.ndarray | None = None,
    what: str = "demonstrations",
) -> ReplayState:
    """Appends in-memory episodes to the demonstration partition of `state`.

    Args:
      episodes: whole or truncated episodes of `spec`'s game.
      action_map: dataset action index -> environment action index (None: the same action set).
      what: names the source in errors.

    Raises:
      DatasetError: no episodes, or not enough room left in the demonstration partition.
    """
    if not episodes:
        raise DatasetError(f"{what}: no episodes to add.")
    needed = sum(e.num_steps + 1 for e in episodes)
    room = replay.config.demo_capacity - int(state.demo_size)
    if needed > room:
        raise DatasetError(
            f"{what}: {len(episodes)} episodes take {needed:,} replay rows with their final observations, "
            f"but the demonstration partition has room for {room:,}. Set the replay's demo_capacity to at "
            f"least {needed + int(state.demo_size):,}."
        )
    if action_map is None:
        action_map = np.arange(spec.num_actions)
    clip = bool(spec.preset and spec.preset.reward_clip and spec.training)
    parts = [episode_steps(episode, action_map, clip) for episode in episodes]
    steps = Step(*(jnp.asarray(np.concatenate(field)) for field in zip(*parts, strict=True)))
    return replay.add_demos(state, steps)


def load_demonstrations(
    dataset: Dataset,
    replay: Replay,
    state: ReplayState,
    spec: EnvSpec,
    indices: Sequence[int] | None = None,
) -> ReplayState:
    """Appends the episodes of `dataset` (those at `indices`; default: every one) to the demonstration
    partition of `state`.

    Args:
      dataset: demonstrations of the game `spec` plays, recorded with a compatible preset.
      replay: the replay the state belongs to.
      state: its state.
      spec: the training environment: its preset decides reward clipping and the action set.
      indices: the dataset's episodes to append, in this order.

    Raises:
      DatasetError: another game, a preset whose frames differ, no steps, or not enough demo_capacity.
    """
    check_room(dataset, spec)
    indices = dataset.indices if indices is None else indices
    episodes = [dataset.episode(i) for i in indices]
    return add_episodes(
        episodes, replay, state, spec, action_index_map(dataset.info, spec), str(dataset.path)
    )
