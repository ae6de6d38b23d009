"""The online loop's two orders of a vector step, emulators stepping during the updates (overlapped) or
before them (sequential), make the same run: same transitions in the replay, same updates, same logs."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from imitax.agents.agent import make_agent
from imitax.agents.algorithms import DQN_CARTPOLE, DQN_NATURE
from imitax.envs import make_vec_env
from imitax.replay import make_replay
from imitax.train.loop import initial_loop_state, make_learn_step, make_train_chunk, zero_metrics
from imitax.train.schedule import Schedule


def _run(config, overlap: bool, steps: int, chunks: int):
    env = make_vec_env(config.env, config.num_envs, seed=3, training=True)
    agent, replay = make_agent(config), make_replay(config.replay_config(0), env.spec, config.num_envs)
    xla = env.xla()
    state = initial_loop_state(
        agent.init(jax.random.key(0), env.spec), replay.init(), xla.handle, env.reset(), jax.random.key(1)
    )
    schedule = Schedule(config)
    learn = make_learn_step(agent, replay, schedule.beta)
    chunk = make_train_chunk(
        agent,
        replay,
        learn,
        zero_metrics(learn, state.agent, state.replay),
        xla,
        stacked=env.spec.frame_stack is not None,
        epsilon_fn=schedule.epsilon,
        learning_starts=config.learning_starts,
        replay_ratio=config.replay_ratio,
        overlap=overlap,
    )
    chunk = jax.jit(chunk, static_argnums=1, donate_argnums=0)
    logs = []
    for _ in range(chunks):
        state, log = chunk(state, steps)
        logs.append(jax.device_get(log))
    env.close()
    return jax.device_get(state._replace(handle=None)), logs


def _assert_same(a, b) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(
            np.asarray(jax.random.key_data(x) if _is_key(x) else x),
            np.asarray(jax.random.key_data(y) if _is_key(y) else y),
        )


def _is_key(x) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


@pytest.mark.parametrize(
    "config",
    [
        dataclasses.replace(DQN_CARTPOLE, num_envs=4, learning_starts=64, replay_ratio=0.5),
        dataclasses.replace(
            DQN_NATURE, env="Pong", num_envs=2, replay_capacity=2_000, learning_starts=64, batch_size=8
        ),
    ],
    ids=["cartpole", "pong"],
)
def test_overlapped_and_sequential_steps_make_the_same_run(config):
    steps, chunks = (40, 3) if config.env != "Pong" else (24, 3)
    overlapped, overlapped_logs = _run(config, True, steps, chunks)
    sequential, sequential_logs = _run(config, False, steps, chunks)
    assert int(overlapped.updates) > 0  # learning happened inside the compared chunks
    _assert_same(overlapped, sequential)
    _assert_same(overlapped_logs, sequential_logs)
