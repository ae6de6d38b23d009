"""How fast imitax acts and trains, against raw envpool and against what the machine's arithmetic allows.

Pong, the Nature DQN network and settings. Prints a table, then as its last line one JSON object (also
written to benchmarks/results/throughput.json):
  envpool_random_steps_per_s  envpool's XLA step in a compiled loop, random actions drawn in the loop
  envpool_python_steps_per_s  envpool stepped from Python with NumPy random actions (for reference)
  acting_steps_per_s          our compiled acting loop: policy network + XLA step + replay insertion
  acting_vs_envpool           the ratio of the two
  matmul_gflops               this machine's float32 rate on a 2048x2048 matrix product, measured here
  <objective>_update_gflop    FLOPs of one batch-32 update by XLA's own cost analysis (dqn, double_dqn,
                              dqfd)
  <objective>_update_flop_bound_ms   those FLOPs at the matmul rate: no update can be faster
  <objective>_update_ms       one update inside a compiled loop, as training runs it
  <objective>_update_vs_flop_bound   bound / measured (1 would be the machine's matrix units at full use)
  train_steps_per_s_<n>env     full training at replay ratio 0.25 with n envs (--envs, default 8 and 1)

On a GPU: `python benchmarks/throughput.py --envs 8 64 --matmul-size 8192 --out throughput_gpu.json`
(the matrix product must be large enough to reach the GPU's rate; float32 at JAX's default precision, the
precision the update runs at).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from _results import publish  # benchmarks/ is on sys.path when a script runs

from imitax.agents.agent import make_agent
from imitax.agents.algorithms import DQN_NATURE as NATURE
from imitax.envs import atari_spec, make_vec_env
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


def training_loop(config, steps: int, warm_chunks: int, chunks: int, num_envs: int = NUM_ENVS) -> float:
    """Env steps per second of the compiled loop with `config` (updates on or off by learning_starts)."""
    env = make_vec_env("Pong", num_envs, seed=1, training=True)
    agent = make_agent(config)
    replay = make_replay(config.replay_config(0), env.spec, num_envs)
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
        rates.append(steps * num_envs / (time.perf_counter() - start))
    env.close()
    return float(np.median(rates))


def _batch(config, spec):
    """A fixed batch of the replay's shapes (frames of 0s and 1s), half of it demonstrations."""
    replay = make_replay(
        dataclasses.replace(config.replay_config(1000), capacity=NUM_ENVS * 1000), spec, NUM_ENVS
    )
    rng = np.random.default_rng(0)
    shapes = jax.eval_shape(replay.sample, replay.init(), jax.random.key(0))
    batch = jax.tree.map(lambda s: jnp.asarray(rng.integers(0, 2, s.shape).astype(s.dtype)), shapes)
    return batch._replace(is_demo=jnp.arange(config.batch_size) % 2 == 0)


def matmul_gflops(repeats: int, n: int) -> float:
    """The machine's float32 matrix-product rate, GFLOP/s (median of `repeats`)."""
    a, b = (jax.random.normal(jax.random.key(i), (n, n)) for i in range(2))
    product = jax.jit(jnp.matmul)
    product(a, b).block_until_ready()
    return 2 * n**3 / float(np.median(_timed(lambda: product(a, b), repeats))) / 1e9


def update_cost(config, updates: int, repeats: int) -> dict[str, float]:
    """One batch-32 update of `config`: its FLOPs, its time in a compiled loop, and its matrix products'.

    Returns GFLOP (XLA's cost analysis), `ms` per update inside a compiled loop of `updates`, and
    `matmul_ms`: the update's own matrix products (every dot_general and convolution of its forward and
    backward passes, at their shapes) run alone. That splits the gap to the FLOP bound into what the
    matrix kernels reach at these small shapes and what the rest of the update (patch extraction,
    element-wise work, Adam) adds.
    """
    spec = atari_spec("Pong", "nature", training=True)
    agent = make_agent(config)
    batch = _batch(config, spec)
    state = agent.init(jax.random.key(0), spec)
    # Counted on the CPU backend on any machine: GPU convolutions are library calls whose FLOPs XLA's
    # cost analysis leaves out, and the arithmetic an update needs does not depend on where it runs.
    on_cpu = jax.device_put((state, batch), jax.devices("cpu")[0])
    analysis = jax.jit(agent.update).lower(*on_cpu).compile().cost_analysis()
    flops = (analysis[0] if isinstance(analysis, list) else analysis)["flops"]

    def many(state, batch):
        # A different batch each update, as sampling gives in training: with one fixed batch XLA hoists
        # the work on it (the first layer's patch extraction) out of the loop.
        def step(i, state):
            return agent.update(state, jax.tree.map(lambda x: jnp.roll(x, i, axis=0), batch))[0]

        return jax.lax.fori_loop(0, updates, step, state)

    loop = jax.jit(many, donate_argnums=0)
    holder = [loop(state, batch)]

    def run():
        holder[0] = loop(holder[0], batch)
        return holder[0]

    ms = float(np.median(_timed(run, repeats))) / updates * 1e3
    return {"gflop": flops / 1e9, "ms": ms, "matmul_ms": _matmuls_ms(agent.update, state, batch, repeats)}


PRODUCTS = ("dot_general", "conv_general_dilated")
"""The primitives whose arithmetic the FLOP bound is about (convolutions are matmuls here on CPU)."""


def _products(jaxpr) -> list:
    """Every matrix product or convolution of a jaxpr, its sub-jaxprs (jit, custom rules) included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in PRODUCTS:
            found.append(eqn)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found.extend(_products(inner))
    return found


def _matmuls_ms(update, state, batch, repeats: int) -> float:
    """ms for the matrix products of one `update`, alone, on random operands of their shapes."""
    products = _products(jax.make_jaxpr(update)(state, batch).jaxpr)
    keys = iter(jax.random.split(jax.random.key(0), 2 * len(products)))
    operands = [
        [jax.random.normal(next(keys), v.aval.shape, v.aval.dtype) for v in eqn.invars] for eqn in products
    ]

    @jax.jit
    def run_all(operands):
        return [e.primitive.bind(*ops, **e.params) for e, ops in zip(products, operands, strict=True)]

    jax.block_until_ready(run_all(operands))
    return float(np.median(_timed(lambda: run_all(operands), repeats * 5))) * 1e3


OBJECTIVES = {
    "dqn": {},
    "double_dqn": {"double_q": True},
    "dqfd": {"loss": "td=1,nstep=1,margin=1", "n_step": 10, "double_q": True, "weight_decay": 1e-5},
}
"""The objectives whose updates are measured, as changes to the Nature DQN settings (batch 32)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    parser.add_argument("--envs", type=int, nargs="+", default=[8, 1], help="env counts to train with")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the n x n x n rate probe")
    parser.add_argument("--out", default="throughput.json", help="file name under benchmarks/results")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    config = dataclasses.replace(NATURE, replay_capacity=100_000, num_envs=NUM_ENVS)

    random_rate, python_rate = envpool_random(int(1000 * scale) or 10)
    acting_rate = training_loop(
        dataclasses.replace(config, learning_starts=10**9), int(500 * scale) or 10, warm_chunks=1, chunks=3
    )
    train_rates = {}
    for envs in args.envs:  # chunks of 2,000 environment steps, the replay past learning_starts after two
        capacity = config.replay_capacity // envs * envs  # a whole stream per environment
        train = dataclasses.replace(config, num_envs=envs, learning_starts=2_000, replay_capacity=capacity)
        steps = max(1, int(2000 * scale) // envs)
        train_rates[envs] = training_loop(train, steps, warm_chunks=2, chunks=3, num_envs=envs)
    rate = matmul_gflops(int(20 * scale) or 3, args.matmul_size)
    figures = {
        "device": str(jax.devices()[0].device_kind),
        "num_envs": NUM_ENVS,
        "envpool_random_steps_per_s": round(random_rate),
        "envpool_python_steps_per_s": round(python_rate),
        "acting_steps_per_s": round(acting_rate),
        "acting_vs_envpool": round(acting_rate / random_rate, 3),
        "matmul_gflops": round(rate, 1),
    }
    for name, changes in OBJECTIVES.items():
        cost = update_cost(dataclasses.replace(config, **changes), int(20 * scale) or 4, 3)
        bound_ms = cost["gflop"] / rate * 1e3
        figures[f"{name}_update_gflop"] = round(cost["gflop"], 3)
        figures[f"{name}_update_flop_bound_ms"] = round(bound_ms, 4)
        figures[f"{name}_update_ms"] = round(cost["ms"], 2)
        figures[f"{name}_update_vs_flop_bound"] = round(bound_ms / cost["ms"], 4)
        figures[f"{name}_matmuls_ms"] = round(cost["matmul_ms"], 2)
        figures[f"{name}_matmuls_vs_flop_bound"] = round(bound_ms / cost["matmul_ms"], 4)
    figures["dqfd_vs_dqn_update"] = round(figures["dqfd_update_ms"] / figures["dqn_update_ms"], 3)
    for envs, train_rate in train_rates.items():
        figures[f"train_steps_per_s_{envs}env"] = round(train_rate, 1)
    publish(figures, args.out)


if __name__ == "__main__":
    main()
