"""Replay memory and speed at Nature scale: 1,000,000 transitions of 84x84 frames from 8 environments.

Prints a table, then as its last line one JSON object with `bytes_per_transition` (from the state's
arrays at capacity 1,000,000), `sample_ms` (median of one jitted batch-32 sample, n_step 3) and
`add_us` (median of one jitted batched add of 8 environments' steps). The `per_` figures are those of
prioritized replay over the same steps, every transition given a random priority:
`per_bytes_per_transition`, `per_sample_ms` (rows drawn from the sum trees, then gathered with their
importance weights), `per_set_priorities_us` (a batch of 32 TD errors) and `per_add_us`.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from _results import publish  # benchmarks/ is on sys.path when a script runs

from imitax.envs import atari_spec
from imitax.replay import ReplayConfig, Step, make_replay, state_nbytes

CAPACITY = 1_000_000
NUM_ENVS = 8
EPISODE = 900  # steps between episode ends, about a Pong game at random play


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def _median_update_us(update, state, *args, repeats: int = 200):
    """Median time of a jitted update of `state` (donated, so updated in place): (state, microseconds)."""
    state = update(state, *args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state = jax.block_until_ready(update(state, *args))
        times.append(time.perf_counter() - start)
    return state, float(np.median(times) * 1e6)


def main() -> None:
    spec = atari_spec("Pong")
    config = ReplayConfig(capacity=CAPACITY, batch_size=32, n_step=3)
    replay = make_replay(config, spec, NUM_ENVS)
    state = replay.init()
    bytes_per_transition = state_nbytes(state) / CAPACITY

    def step_at(t):
        frame = jnp.full((NUM_ENVS, 84, 84), t % 251, jnp.uint8)
        ends = (t + jnp.arange(NUM_ENVS) * 97) % EPISODE
        return Step(
            frame,
            jnp.zeros(NUM_ENVS, jnp.int32),
            jnp.zeros(NUM_ENVS, jnp.int32),
            jnp.ones(NUM_ENVS),
            ends == EPISODE - 1,
            ends == 0,
            ends == EPISODE - 1,
        )

    add = jax.jit(replay.add, donate_argnums=0)

    @jax.jit
    def fill(state):
        return jax.lax.fori_loop(
            0, CAPACITY // NUM_ENVS + 1000, lambda t, s: replay.add(s, step_at(t)), state
        )

    start = time.perf_counter()
    state = jax.block_until_ready(jax.jit(fill, donate_argnums=0)(state))
    fill_s = time.perf_counter() - start

    one_step = step_at(jnp.int32(5))
    state, add_us = _median_update_us(add, state, one_step)

    sample = jax.jit(replay.sample)
    keys = iter(jax.random.split(jax.random.key(0), 2000))
    jax.block_until_ready(sample(state, next(keys)))
    sample_ms = _median_ms(lambda: sample(state, next(keys)), 500)
    assert bool(replay.can_sample(state))

    state_gib = state_nbytes(state) / 2**30

    # Prioritized replay over the same stored steps (their arrays move over, donated: no copy), with a
    # random priority for every transition, as after many updates.
    per_replay = make_replay(dataclasses.replace(config, prioritized=True), spec, NUM_ENVS)
    trees = jax.eval_shape(per_replay.init)
    per_state = state._replace(
        demo_tree=jnp.zeros(trees.demo_tree.shape), agent_tree=jnp.zeros(trees.agent_tree.shape)
    )
    per_bytes_per_transition = state_nbytes(per_state) / CAPACITY
    rows = jnp.arange(CAPACITY)
    rows = rows[np.asarray(jax.jit(per_replay.is_valid)(per_state, rows))]
    set_priorities = jax.jit(per_replay.set_priorities, donate_argnums=0)
    per_state = set_priorities(per_state, rows, jnp.abs(jax.random.normal(next(keys), rows.shape)))

    per_sample = jax.jit(per_replay.sample)
    beta = jnp.float32(0.4)
    jax.block_until_ready(per_sample(per_state, next(keys), beta))
    per_sample_ms = _median_ms(lambda: per_sample(per_state, next(keys), beta), 500)
    assert bool(per_replay.can_sample(per_state))

    batch_rows = per_replay.sample_rows(per_state, next(keys))
    per_state, per_set_priorities_us = _median_update_us(
        set_priorities, per_state, batch_rows, jnp.linspace(0.0, 2.0, 32)
    )
    per_state, per_add_us = _median_update_us(jax.jit(per_replay.add, donate_argnums=0), per_state, one_step)
    figures = {
        "capacity": CAPACITY,
        "num_envs": NUM_ENVS,
        "bytes_per_transition": round(bytes_per_transition, 1),
        "naive_bytes_per_transition": 2 * 4 * 84 * 84,
        "state_gib": round(state_gib, 2),
        "sample_ms": round(sample_ms, 3),
        "add_us": round(add_us, 1),
        "fill_s": round(fill_s, 1),
        "per_bytes_per_transition": round(per_bytes_per_transition, 1),
        "per_sample_ms": round(per_sample_ms, 3),
        "per_set_priorities_us": round(per_set_priorities_us, 1),
        "per_add_us": round(per_add_us, 1),
        "device": jax.devices()[0].device_kind,
    }
    publish(figures, "replay.json")


if __name__ == "__main__":
    main()
