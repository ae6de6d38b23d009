"""How fast imitax acts and trains, against raw envpool and against what the machine's arithmetic allows.

Pong, the Nature DQN network and settings. Prints a table, then as its last line one JSON object (also
written to benchmarks/results/throughput.json):
  envpool_random_steps_per_s  envpool's XLA step in a compiled loop, random actions drawn in the loop
  envpool_python_steps_per_s  envpool stepped from Python with NumPy random actions (for reference)
  acting_steps_per_s          our compiled acting loop: policy network + XLA step + replay insertion
  acting_vs_envpool           the ratio of the two
  matmul_gflops               this machine's float32 rate on a 2048x2048 matrix product, measured here
  <objective>_update_gflop    FLOPs of one update at the objective's preset batch size, by XLA's own cost
                              analysis (bc, dqn, double_dqn, dqfd, bc_dqn: `OBJECTIVES`)
  <objective>_update_flop_bound_ms   those FLOPs at the matmul rate: no update can be faster
  <objective>_update_ms       one update inside a compiled loop of updates
  <objective>_update_vs_flop_bound   bound / measured (1 would be the machine's matrix units at full use)
  <objective>_matmuls_vs_flop_bound  the same for the update's own matrix products run alone: the ceiling
                              the products reach at these shapes, beside what the whole update reaches
  train_steps_per_s_<n>env     full DQN training at replay ratio 0.25 with n envs (--envs, default 8,
                              64 and 1), the emulators stepping during the updates, as `imitax train` runs
  train_steps_per_s_<n>env_sequential  the same with the emulators stepped before the updates
  overlap_speedup_<n>env       overlapped / sequential, measured alternately in one process
  acting_ms_per_vector_step_<n>env, update_ms_in_training_<n>env, sampling_and_bookkeeping_ms_<n>env
                              one training step's parts: acting (policy, envpool, replay insertion),
                              the update as training compiles it (sampling, priorities and metric sums
                              included), and what that adds to the update alone
  update_in_training_vs_flop_bound_<n>env  the FLOP bound over the update as training runs it
  train_vs_parts_<n>env        sequential training speed over the speed its parts predict (1: they
                              account for all of it)
  train_vs_parts, overlap_speedup    the first env count's (8 by default)

On a GPU: `python benchmarks/throughput.py --envs 8 64 --matmul-size 8192 --out throughput_gpu.json`
(the matrix product must be large enough to reach the GPU's rate; float32 at JAX's default precision, the
precision the update runs at).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from _results import publish  # benchmarks/ is on sys.path when a script runs

from imitax.agents.agent import make_agent
from imitax.agents.algorithms import BC_DEFAULT, BC_DQN_FAST, DQFD_FAST, DQN_NATURE
from imitax.envs import atari_spec, make_vec_env
from imitax.replay import make_replay
from imitax.train.loop import (
    initial_loop_state,
    make_learn_step,
    make_offline_chunk,
    make_train_chunk,
    zero_metrics,
)
from imitax.train.schedule import Schedule

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


class Training(NamedTuple):
    """A compiled training loop on Pong, as `imitax train` builds it, and the state it carries."""

    env: Any
    chunks: dict[bool, Callable]  # overlap on/off -> the jitted online chunk
    offline: Callable  # the jitted offline chunk: updates alone, sampling and metrics included
    state: list  # [LoopState], replaced as the chunks donate it
    num_envs: int


def training(config, num_envs: int) -> Training:
    env = make_vec_env("Pong", num_envs, seed=1, training=True)
    agent = make_agent(config)
    replay = make_replay(config.replay_config(0), env.spec, num_envs)
    xla = env.xla()
    state = initial_loop_state(
        agent.init(jax.random.key(0), env.spec), replay.init(), xla.handle, env.reset(), jax.random.key(1)
    )
    schedule = Schedule(config)
    learn = make_learn_step(agent, replay, schedule.beta)
    zeros = zero_metrics(learn, state.agent, state.replay)

    def online(overlap: bool) -> Callable:
        chunk = make_train_chunk(
            agent,
            replay,
            learn,
            zeros,
            xla,
            stacked=True,
            epsilon_fn=schedule.epsilon,
            learning_starts=config.learning_starts,
            replay_ratio=config.replay_ratio,
            overlap=overlap,
        )
        return jax.jit(chunk, static_argnums=1, donate_argnums=0)

    offline = jax.jit(make_offline_chunk(learn, zeros), static_argnums=1, donate_argnums=0)
    return Training(env, {True: online(True), False: online(False)}, offline, [state], num_envs)


def steps_per_s(run: Training, steps: int, overlap: bool = True) -> float:
    """Environment steps per second of one online chunk of `steps` vector steps."""
    start = time.perf_counter()
    run.state[0], logs = run.chunks[overlap](run.state[0], steps)
    jax.block_until_ready((run.state[0], logs))
    return steps * run.num_envs / (time.perf_counter() - start)


def update_in_training_ms(run: Training, updates: int, repeats: int) -> float:
    """ms per update of the offline chunk over the run's filled replay: the update as training compiles
    it, with the batch's sampling, its priorities and the metrics' sums."""

    def chunk():
        run.state[0], log = run.offline(run.state[0], updates)
        return run.state[0], log

    chunk()  # compile
    return float(np.median(_timed(chunk, repeats))) / updates * 1e3


def acting_rate(config, steps: int, chunks: int, num_envs: int = NUM_ENVS) -> float:
    """Env steps per second of the compiled loop without updates (learning never starts)."""
    run = training(dataclasses.replace(config, learning_starts=10**9), num_envs)
    steps_per_s(run, steps)  # compile
    rate = float(np.median([steps_per_s(run, steps) for _ in range(chunks)]))
    run.env.close()
    return rate


BATCHES = 4  # distinct batches the standalone update cycles through


def _batch(config, spec, seed: int = 0):
    """A batch of the replay's shapes (frames of 0s and 1s drawn with `seed`), half of it demonstrations."""
    replay = make_replay(
        dataclasses.replace(config.replay_config(1000), capacity=NUM_ENVS * 1000), spec, NUM_ENVS
    )
    rng = np.random.default_rng(seed)
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
    _, flops = cpu_update(agent, state, batch)
    ms = float(np.median(_timed(compiled_updates(config, updates), repeats))) / updates * 1e3
    return {"gflop": flops / 1e9, "ms": ms, "matmul_ms": _matmuls_ms(agent.update, state, batch, repeats)}


def cpu_update(agent, state, batch) -> tuple[Any, float]:
    """`agent.update` compiled for the CPU backend, on any machine, and its FLOPs by XLA's cost analysis.
    Counted on the CPU: GPU convolutions are library calls whose FLOPs the analysis leaves out, and the
    arithmetic an update needs does not depend on where it runs."""
    on_cpu = jax.device_put((state, batch), jax.devices("cpu")[0])
    compiled = jax.jit(agent.update).lower(*on_cpu).compile()
    analysis = compiled.cost_analysis()
    return compiled, (analysis[0] if isinstance(analysis, list) else analysis)["flops"]


def compiled_updates(config, updates: int) -> Callable[[], Any]:
    """A call that makes `updates` updates of `config` in one compiled loop (compiled and run once here)."""
    spec = atari_spec("Pong", "nature", training=True)
    agent = make_agent(config)
    state = agent.init(jax.random.key(0), spec)
    # A different batch each update, as sampling gives in training: with one fixed batch XLA hoists the
    # work on it (the first layer's patch extraction) out of the loop. Picked from a stack, not rolled:
    # a roll copies the whole batch every update, which training does not.
    distinct = [_batch(config, spec, seed) for seed in range(BATCHES)]
    batches = jax.tree.map(lambda *xs: jnp.stack(xs), *distinct)

    def many(state, batches):
        def step(i, state):
            pick = jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(x, i % BATCHES, 0, False), batches)
            return agent.update(state, pick)[0]

        return jax.lax.fori_loop(0, updates, step, state)

    loop = jax.jit(many, donate_argnums=0)
    holder = [loop(state, batches)]
    jax.block_until_ready(holder[0])

    def run():
        holder[0] = loop(holder[0], batches)
        return holder[0]

    return run


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
    "bc": BC_DEFAULT,
    "dqn": DQN_NATURE,
    "double_dqn": dataclasses.replace(DQN_NATURE, double_q=True),
    "dqfd": DQFD_FAST,
    "bc_dqn": BC_DQN_FAST,
}
"""Every objective the registry trains, each at its default preset (its batch size, random shifts and
terms): cloning, Q-learning plain and double, DQfD's four terms, and the clone's term beside n-step TD."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test)")
    parser.add_argument("--envs", type=int, nargs="+", default=[8, 64, 1], help="env counts to train with")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the n x n x n rate probe")
    parser.add_argument("--out", default="throughput.json", help="file name under benchmarks/results")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    config = dataclasses.replace(DQN_NATURE, replay_capacity=100_000, num_envs=NUM_ENVS)

    random_rate, python_rate = envpool_random(int(1000 * scale) or 10)
    acting = acting_rate(config, int(500 * scale) or 10, chunks=3)
    rate = matmul_gflops(int(20 * scale) or 3, args.matmul_size)
    figures = {
        "device": str(jax.devices()[0].device_kind),
        "num_envs": NUM_ENVS,
        "envpool_random_steps_per_s": round(random_rate),
        "envpool_python_steps_per_s": round(python_rate),
        "acting_steps_per_s": round(acting),
        "acting_vs_envpool": round(acting / random_rate, 3),
        "matmul_gflops": round(rate, 1),
    }
    for name, objective in OBJECTIVES.items():
        cost = update_cost(objective, int(20 * scale) or 4, 3)
        bound_ms = cost["gflop"] / rate * 1e3
        figures[f"{name}_batch_size"] = objective.batch_size
        figures[f"{name}_update_gflop"] = round(cost["gflop"], 3)
        figures[f"{name}_update_flop_bound_ms"] = round(bound_ms, 4)
        figures[f"{name}_update_ms"] = round(cost["ms"], 2)
        figures[f"{name}_update_vs_flop_bound"] = round(bound_ms / cost["ms"], 4)
        figures[f"{name}_matmuls_ms"] = round(cost["matmul_ms"], 2)
        figures[f"{name}_matmuls_vs_flop_bound"] = round(bound_ms / cost["matmul_ms"], 4)
    figures["dqfd_vs_dqn_update"] = round(figures["dqfd_update_ms"] / figures["dqn_update_ms"], 3)
    for envs in args.envs:
        figures.update(
            train_figures(config, envs, scale, figures["dqn_update_ms"], figures["dqn_update_flop_bound_ms"])
        )
    first = args.envs[0]
    figures["train_vs_parts"] = figures[f"train_vs_parts_{first}env"]
    figures["overlap_speedup"] = figures[f"overlap_speedup_{first}env"]
    publish(figures, args.out)


def train_figures(config, envs: int, scale: float, update_ms: float, bound_ms: float) -> dict[str, float]:
    """Training Pong with `envs` environments at the preset's replay ratio, in chunks of 2,000 steps (the
    first two compile and fill the replay past learning_starts): steps/s sequential and overlapped,
    alternated in one process, and one vector step split into acting, the update alone (`update_ms`)
    and what the training loop's sampling and bookkeeping add to it; their sum predicts the sequential
    rate."""
    capacity = config.replay_capacity // envs * envs  # a whole stream per environment
    steps = max(1, int(2000 * scale) // envs)
    starts = 2 * steps * envs
    train = dataclasses.replace(config, num_envs=envs, learning_starts=starts, replay_capacity=capacity)
    run = training(train, envs)
    for overlap in (True, True, False):  # compile both; fill the replay past learning_starts
        steps_per_s(run, steps, overlap)
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):
        for overlap in (False, True):
            rates[overlap].append(steps_per_s(run, steps, overlap))
    in_training_ms = update_in_training_ms(run, max(4, int(50 * scale)), 3)
    run.env.close()
    acting_ms = 1e3 * envs / acting_rate(train, steps, chunks=3, num_envs=envs)  # per vector step
    updates_per_vector_step = envs * train.replay_ratio
    parts_ms = acting_ms + in_training_ms * updates_per_vector_step
    sequential, overlapped = (float(np.median(rates[o])) for o in (False, True))
    return {
        f"train_steps_per_s_{envs}env": round(overlapped, 1),
        f"train_steps_per_s_{envs}env_sequential": round(sequential, 1),
        f"overlap_speedup_{envs}env": round(overlapped / sequential, 3),
        f"acting_ms_per_vector_step_{envs}env": round(acting_ms, 2),
        f"update_ms_in_training_{envs}env": round(in_training_ms, 2),
        f"sampling_and_bookkeeping_ms_{envs}env": round(in_training_ms - update_ms, 2),
        f"update_in_training_vs_flop_bound_{envs}env": round(bound_ms / in_training_ms, 4),
        f"parts_steps_per_s_{envs}env": round(1e3 * envs / parts_ms, 1),
        f"train_vs_parts_{envs}env": round(sequential * parts_ms / (1e3 * envs), 3),
    }


if __name__ == "__main__":
    main()
