"""Held-out demonstrations: whole episodes kept out of training and scored with the objective, so that a
run logs how well it imitates games it never trained on (`val_*` columns) beside its training metrics.

Training accuracy alone cannot tell a clone that generalises from one that memorised its batches; BC's
and DAgger's held-out accuracy can (Ross et al. 2011 measure imitation on the learner's own states; the
held-out expert games are the offline half of that picture).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from imitax.agents.base import Agent
from imitax.agents.config import AgentConfig
from imitax.data.dataset import Dataset, action_index_map
from imitax.data.replay_loader import add_episodes
from imitax.replay import Replay, make_replay
from imitax.types import EnvSpec

CHUNK = 256  # held-out transitions scored per network pass
PREFIX = "val_"


def held_out_count(config: AgentConfig, datasets: Sequence[Dataset]) -> int:
    """Episodes a run holds out: `val_episodes`, leaving at least one to train on, and none for a run with
    no offline phase (nothing would score them)."""
    if not config.offline_updates:
        return 0
    total = sum(d.num_episodes for d in datasets)
    return min(config.val_episodes, max(total - 1, 0))


def split_episodes(datasets: Sequence[Dataset], count: int) -> tuple[list[list[int]], list[list[int]]]:
    """Per dataset, the indices of the episodes to train on and of those held out: the last `count`
    episodes of all, the last dataset's first."""
    train = [list(d.indices) for d in datasets]
    held: list[list[int]] = [[] for _ in datasets]
    for k in reversed(range(len(datasets))):
        take = min(count, len(train[k]))
        if take:
            held[k], train[k] = train[k][-take:], train[k][:-take]
        count -= take
    return train, held


class HeldOut:
    """Held-out episodes in a replay of their own, scored whole by an agent's `measure`.

    Args:
      agent: whose `measure` scores them (the objective of the phase being logged).
      config: the run's settings (batch shape of the replay, n-step horizon, discount).
      spec: the training environment.
      datasets, held: the datasets and, per dataset, the indices of the episodes held out.
    """

    def __init__(
        self,
        agent: Agent,
        config: AgentConfig,
        spec: EnvSpec,
        datasets: Sequence[Dataset],
        held: Sequence[Sequence[int]],
    ):
        parts = [(d, [d.episode(i) for i in indices]) for d, indices in zip(datasets, held, strict=True)]
        rows = sum(e.num_steps + 1 for _, episodes in parts for e in episodes)
        # A replay of demonstrations alone, read in order rather than sampled.
        only_demos = dict(capacity=0, demo_fraction=None, batch_size=1, prioritized=False)
        replay = make_replay(dataclasses.replace(config.replay_config(rows), **only_demos), spec, 1)
        state = replay.init()
        for dataset, episodes in parts:
            if episodes:
                actions = action_index_map(dataset.info, spec)
                what = f"held-out episodes of {dataset.path}"
                state = add_episodes(episodes, replay, state, spec, actions, what)
        valid = np.flatnonzero(jax.device_get(jax.jit(replay.is_valid)(state, jnp.arange(rows))))
        self.episodes = sum(len(episodes) for _, episodes in parts)
        self.transitions = len(valid)
        padded = max(-(-len(valid) // CHUNK), 1) * CHUNK  # no transition at all: NaN scores
        mask = np.arange(padded) < len(valid)
        self._rows = jnp.asarray(np.resize(valid, padded).reshape(-1, CHUNK))
        self._mask = jnp.asarray(mask.reshape(-1, CHUNK), jnp.float32)
        self._state = state
        self._score = jax.jit(self._make_score(agent, replay))
        state_shape = jax.eval_shape(lambda key: agent.init(key, spec), jax.random.key(0))
        scored = jax.eval_shape(
            lambda a, r: agent.measure(a, replay.gather(r, self._rows[0])), state_shape, state
        )
        self.columns = [PREFIX + name for name in sorted(scored)]
        """The metrics columns it fills: the objective's metrics, prefixed."""

    @staticmethod
    def _make_score(agent: Agent, replay: Replay):
        def score(agent_state: Any, replay_state: Any, rows: jax.Array, mask: jax.Array) -> dict:
            def body(sums: dict, chunk: tuple[jax.Array, jax.Array]) -> tuple[dict, None]:
                chunk_rows, chunk_mask = chunk
                metrics = agent.measure(agent_state, replay.gather(replay_state, chunk_rows))
                return jax.tree.map(lambda s, m: s + (m * chunk_mask).sum(), sums, metrics), None

            shapes = jax.eval_shape(agent.measure, agent_state, replay.gather(replay_state, rows[0]))
            zeros = jax.tree.map(lambda s: jnp.zeros((), s.dtype), shapes)
            sums, _ = jax.lax.scan(body, zeros, (rows, mask))
            return jax.tree.map(lambda s: s / mask.sum(), sums)

        return score

    def metrics(self, agent_state: Any) -> dict[str, float]:
        """The objective's metrics averaged over every held-out transition, as `val_<name>`."""
        scores = jax.device_get(self._score(agent_state, self._state, self._rows, self._mask))
        return {PREFIX + name: float(value) for name, value in scores.items()}
