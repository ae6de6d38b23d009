"""How fast imitax acts and trains, against raw envpool and against the gradient math alone.

Pong, 8 environments, the Nature DQN network and settings. Prints a table, then as its last line one
JSON object:
  envpool_random_steps_per_s  envpool's XLA step in a compiled loop, random actions drawn in the loop
  envpool_python_steps_per_s  envpool stepped from Python with NumPy random actions (for reference)
  acting_steps_per_s          our compiled acting loop: policy network + XLA step + replay insertion
  acting_vs_envpool           the ratio of the two (goal >= 0.85)
  update_ms                   one jitted Nature-CNN batch-32 DQN update (median)
  train_steps_per_s           full training at replay ratio 0.25 (acting, replay, updates)
  update_bound_steps_per_s    4 / update_s: the speed if only the gradient math cost time
  train_vs_update_bound       the ratio of the two (goal >= 0.9)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from imitax.agents.agent import make_agent
from imitax.agents.algorithms import DQN_NATURE as NATURE
from imitax.envs import make_vec_env
from imitax.replay import make_replay
from imitax.train.loop import initial_loop_state, make_learn_step, make_train_chunk, zero_metrics
from imitax.train.runner import Schedule, expected_updates

NUM_ENVS = 8


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return times


def envpool_random(steps: int) -> tuple[float, float]:
    env = make_vec_env("Pong", NUM_ENVS, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    actions = rng.integers(0, env.spec.num_actions, (steps, NUM_ENVS))
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    python_rate = steps * NUM_ENVS / (time.perf_counter() - start)

    xla = env.xla()
    num_actions = env.spec.num_actions

    @jax.jit
    def loop(handle, key):
        def body(_, carry):
            handle, key = carry
            key, sub = jax.random.split(key)
            handle, _ = xla.step(handle, jax.random.randint(sub, (NUM_ENVS,), 0, num_actions))
            return handle, key

        return jax.lax.fori_loop(0, steps, body, (handle, key))

    handle, key = loop(xla.handle, jax.random.key(0))  # compile and warm up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        handle, key = jax.block_until_ready(loop(handle, key))
        times.append(time.perf_counter() - start)
    env.close()
    return steps * NUM_ENVS / np.median(times), python_rate


def training_loop(config, steps: int, warm_chunks: int, chunks: int) -> float:
    """Env steps per second of the compiled loop with `config` (updates on or off by learning_starts)."""
    env = make_vec_env("Pong", NUM_ENVS, seed=1, training=True)
    agent = make_agent(config)
    replay = make_replay(config.replay_config(0), env.spec, NUM_ENVS)
    xla = env.xla()
    first = env.reset()
    state = initial_loop_state(
        agent.init(jax.random.key(0), env.spec), replay.init(), xla.handle, first, jax.random.key(1)
    )
    schedule = Schedule(config, expected_updates(config))
    learn = make_learn_step(agent, replay, schedule.beta)
    chunk = jax.jit(
        make_train_chunk(
            agent,
            replay,
            learn,
            zero_metrics(learn, state.agent, state.replay),
            xla.step,
            stacked=True,
            epsilon_fn=schedule.epsilon,
            learning_starts=config.learning_starts,
            replay_ratio=config.replay_ratio,
        ),
        static_argnums=1,
        donate_argnums=0,
    )
    for _ in range(warm_chunks):  # compile, and fill the replay past learning_starts
        state, _ = chunk(state, steps)
    jax.block_until_ready(state)
    rates = []
    for _ in range(chunks):
        start = time.perf_counter()
        state, logs = chunk(state, steps)
        jax.block_until_ready((state, logs))
        rates.append(steps * NUM_ENVS / (time.perf_counter() - start))
    env.close()
    return float(np.median(rates))


def update_ms(config, repeats: int) -> float:
    env_spec = make_vec_env("Pong", 1).spec
    agent = make_agent(config)
    replay = make_replay(
        dataclasses.replace(config.replay_config(0), capacity=NUM_ENVS * 1000), env_spec, NUM_ENVS
    )
    rng = np.random.default_rng(0)
    state = agent.init(jax.random.key(0), env_spec)
    batch = jax.eval_shape(replay.sample, replay.init(), jax.random.key(0))
    batch = jax.tree.map(lambda s: jnp.asarray(rng.integers(0, 2, s.shape).astype(s.dtype)), batch)
    update = jax.jit(agent.update, donate_argnums=0)
    state, _ = update(state, batch)
    holder = [state]

    def one():
        holder[0], metrics = update(holder[0], batch)
        return metrics

    return float(np.median(_timed(one, repeats)) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    config = dataclasses.replace(NATURE, replay_capacity=100_000, num_envs=NUM_ENVS)

    random_rate, python_rate = envpool_random(int(1000 * scale) or 10)
    acting_rate = training_loop(
        dataclasses.replace(config, learning_starts=10**9), int(500 * scale) or 10, warm_chunks=1, chunks=3
    )
    update = update_ms(config, int(50 * scale) or 5)
    train_rate = training_loop(
        dataclasses.replace(config, learning_starts=2_000), int(250 * scale) or 10, warm_chunks=2, chunks=3
    )
    bound = 4 / (update / 1e3)
    figures = {
        "device": str(jax.devices()[0].device_kind),
        "num_envs": NUM_ENVS,
        "envpool_random_steps_per_s": round(random_rate),
        "envpool_python_steps_per_s": round(python_rate),
        "acting_steps_per_s": round(acting_rate),
        "acting_vs_envpool": round(acting_rate / random_rate, 3),
        "update_ms": round(update, 2),
        "train_steps_per_s": round(train_rate, 1),
        "update_bound_steps_per_s": round(bound, 1),
        "train_vs_update_bound": round(train_rate / bound, 3),
    }
    for name, value in figures.items():
        print(f"{name:>28}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
