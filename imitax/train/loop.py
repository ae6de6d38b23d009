"""The compiled training loops, each inside one `jax.jit`; Python only runs between chunks.

- online chunk: acting through envpool's XLA step, replay insertion and the gradient updates the replay
  ratio owes, for K environment steps (DQN, DQfD's interaction phase);
- offline chunk: K gradient updates from the replay and no environment (BC, DQfD's pre-training, DAgger's
  training between rounds).

Both take their batches through `learn_step`: sample rows, gather them with importance weights, update
the agent, and write the new priorities back (a no-op under uniform replay).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from imitax.agents.base import Agent
from imitax.agents.objective import PRIORITIES
from imitax.envs import XlaEnv
from imitax.replay import Replay, ReplayState
from imitax.types import EnvStep, Step


class LoopState(NamedTuple):
    """Everything the training loop carries from one environment step to the next."""

    agent: Any
    replay: ReplayState
    handle: jax.Array  # envpool's handle: thread it, never reuse an old one
    env_step: EnvStep  # the latest step of every environment
    score: jax.Array  # (N,) unclipped score of each environment's current game
    length: jax.Array  # (N,) steps of each environment's current game
    env_steps: jax.Array  # () int32, environment steps taken, all environments together
    fresh_steps: jax.Array  # () int32, steps since the replay started filling (learning starts after)
    update_debt: jax.Array  # () float32, fractional updates owed by the replay ratio
    updates: jax.Array  # () int32, gradient updates done, offline and online
    key: jax.Array


class StepLog(NamedTuple):
    """What one vector step reports to the host (stacked over a chunk by `lax.scan`)."""

    game_over: jax.Array  # (N,) a game ended at this step
    game_score: jax.Array  # (N,) its unclipped score, where game_over
    game_length: jax.Array  # (N,) its length in steps, where game_over
    updates: jax.Array  # () gradient updates done at this step
    metrics: dict[str, jax.Array]  # sums of the update metrics over those updates


def newest_frame(obs: jax.Array, stacked: bool) -> jax.Array:
    """The part of an observation the replay stores: the newest frame of a stack, or all of it."""
    return obs[:, -1] if stacked else obs


def initial_loop_state(
    agent_state: Any, replay_state: ReplayState, handle: jax.Array, first_step: EnvStep, key: jax.Array
) -> LoopState:
    num_envs = first_step.obs.shape[0]
    first_step = jax.tree.map(jnp.asarray, first_step)
    return LoopState(
        agent=agent_state,
        replay=replay_state,
        handle=jnp.asarray(handle),
        env_step=first_step,
        score=jnp.zeros(num_envs, jnp.float32),
        length=jnp.zeros(num_envs, jnp.int32),
        env_steps=jnp.zeros((), jnp.int32),
        fresh_steps=jnp.zeros((), jnp.int32),
        update_debt=jnp.zeros((), jnp.float32),
        updates=jnp.zeros((), jnp.int32),
        key=key,
    )


Schedule = Callable[[jax.Array], jax.Array]
LearnStep = Callable[[Any, ReplayState, jax.Array, jax.Array], tuple[Any, ReplayState, dict]]


def make_learn_step(agent: Agent, replay: Replay, importance_exponent: Schedule) -> LearnStep:
    """`learn(agent_state, replay_state, updates, key) -> (agent_state, replay_state, metrics)`: one batch
    drawn (prioritized or uniform), one update, the batch's priorities written back."""

    def learn(agent_state, replay_state, updates, key):
        rows = replay.sample_rows(replay_state, key)
        batch = replay.gather(replay_state, rows, importance_exponent(updates))
        agent_state, metrics = agent.update(agent_state, batch)
        metrics = dict(metrics)
        replay_state = replay.set_priorities(replay_state, rows, metrics.pop(PRIORITIES))
        return agent_state, replay_state, metrics

    return learn


class UpdateLog(NamedTuple):
    """What an offline chunk reports: its updates and the sums of their metrics."""

    updates: jax.Array
    metrics: dict[str, jax.Array]


def make_offline_chunk(
    learn: LearnStep, zeros: dict[str, jax.Array]
) -> Callable[[LoopState, int], tuple[LoopState, UpdateLog]]:
    """Builds `chunk(state, num_updates) -> (state, log)`: updates from the replay, no environment step.
    Jit it with `num_updates` static and the state donated."""

    def chunk(state: LoopState, num_updates: int) -> tuple[LoopState, UpdateLog]:
        def body(_, carry):
            agent_state, replay_state, updates, key, sums = carry
            key, key_sample = jax.random.split(key)
            agent_state, replay_state, metrics = learn(agent_state, replay_state, updates, key_sample)
            return agent_state, replay_state, updates + 1, key, jax.tree.map(jnp.add, sums, metrics)

        carry = (state.agent, state.replay, state.updates, state.key, zeros)
        agent_state, replay_state, updates, key, sums = jax.lax.fori_loop(0, num_updates, body, carry)
        state = state._replace(agent=agent_state, replay=replay_state, updates=updates, key=key)
        return state, UpdateLog(jnp.asarray(num_updates, jnp.int32), sums)

    return chunk


def seed_axes() -> LoopState:
    """`vmap` axes of the state of several seeds trained together: every field has the seed axis first,
    except envpool's handle, which all seeds share (their environments are one envpool)."""
    return LoopState(*[0] * len(LoopState._fields))._replace(handle=None)


def seeds_vectorized() -> bool:
    """How the seeds of one program share the device: vectorized (vmap) on accelerators, where one wide
    program fills the device, or looped (lax.map) on a CPU, where the arithmetic is the bound and a
    batched matrix product runs slower than the same products one by one."""
    return jax.default_backend() != "cpu"


def per_seed(fn: Callable, num_seeds: int) -> Callable:
    """`fn(state, *args) -> (state, out)` of one seed, run on the stacked states (and args) of
    `num_seeds`; envpool's handle in the state is shared and `fn` must pass it through unchanged."""
    if num_seeds == 1:
        return fn

    def vectorized(state: LoopState, *args):
        in_axes = (seed_axes(), *(0,) * len(args))
        return jax.vmap(fn, in_axes=in_axes, out_axes=(seed_axes(), 0))(state, *args)

    def looped(state: LoopState, *args):
        handle = state.handle

        def one(xs):
            out_state, out = fn(xs[0]._replace(handle=handle), *xs[1:])
            return out_state._replace(handle=None), out

        states, out = jax.lax.map(one, (state._replace(handle=None), *args))
        return states._replace(handle=handle), out

    return vectorized if seeds_vectorized() else looped


def over_seeds(chunk: Callable, num_seeds: int) -> Callable:
    """An offline chunk over `num_seeds` independent states (stacked on a leading axis)."""
    if num_seeds == 1:
        return chunk
    return lambda state, num_updates: per_seed(lambda s: chunk(s, num_updates), num_seeds)(state)


def make_train_chunk(
    agent: Agent,
    replay: Replay,
    learn: LearnStep,
    zeros: dict[str, jax.Array],
    env: XlaEnv,
    *,
    stacked: bool,
    epsilon_fn: Callable[[jax.Array], jax.Array],
    learning_starts: int,
    replay_ratio: float,
    num_seeds: int = 1,
    overlap: bool = True,
) -> Callable[[LoopState, int], tuple[LoopState, StepLog]]:
    """Builds `chunk(state, num_steps) -> (state, logs)`: `num_steps` vector steps of acting and learning.

    Each vector step: act epsilon-greedily on every environment's observation, store that observation's
    frame with the action in the replay, step the environments, and run the gradient updates the replay
    ratio owes (none before `learning_starts` steps have filled the replay). The updates read only the
    replay, not the step's new observations, so with `overlap` the actions are sent to envpool before
    them and the observations received after: the emulators' threads step while the learner learns.
    Without it the step is received first. Either way the transitions, updates and keys are the same.
    Jit it with the state donated.

    With `num_seeds` K > 1 the state holds K independent agents and replays (stacked, see `seed_axes`)
    acting on one envpool of K x N environments, seed k on environments k*N to (k+1)*N - 1: acting and
    learning run per seed (`per_seed`), the environments step once for all.
    """
    act_and_store = per_seed(_act_and_store(agent, replay, epsilon_fn, stacked), num_seeds)
    learn_owed = per_seed(_learn_owed(learn, replay, zeros, learning_starts, replay_ratio), num_seeds)
    take_step = per_seed(_take_step, num_seeds)

    def vector_step(state: LoopState, _) -> tuple[LoopState, StepLog]:
        state, (actions, key_update) = act_and_store(state)
        handle = env.send(state.handle, actions.reshape(-1))
        if overlap:
            handle, state = jax.lax.optimization_barrier((handle, state))  # the updates wait for the send
            state, (num_updates, sums) = learn_owed(state, key_update)
            state, new = _receive(env, state, handle, actions.shape)
        else:
            state, new = _receive(env, state, handle, actions.shape)
            state, new = jax.lax.optimization_barrier((state, new))  # the updates wait for the step
            state, (num_updates, sums) = learn_owed(state, key_update)
        state, log_games = take_step(state, new)
        return state, StepLog(*log_games, num_updates, sums)

    def chunk(state: LoopState, num_steps: int) -> tuple[LoopState, StepLog]:
        return jax.lax.scan(vector_step, state, None, length=num_steps)

    return chunk


def _act_and_store(
    agent: Agent, replay: Replay, epsilon_fn: Callable[[jax.Array], jax.Array], stacked: bool
) -> Callable[[LoopState], tuple[LoopState, tuple[jax.Array, jax.Array]]]:
    """One seed's actions, its observations stored with them; the key its updates will use."""

    def act_and_store(state: LoopState) -> tuple[LoopState, tuple[jax.Array, jax.Array]]:
        key, key_act, key_update = jax.random.split(state.key, 3)
        current = state.env_step
        actions = agent.act(state.agent, current.obs, key_act, epsilon_fn(state.env_steps))
        stored = Step(
            frame=newest_frame(current.obs, stacked),
            action=actions,
            label=actions,
            reward=current.reward,
            terminal=current.terminated,
            first=current.first,
            last=current.last,
        )
        return state._replace(replay=replay.add(state.replay, stored), key=key), (actions, key_update)

    return act_and_store


def _learn_owed(
    learn: LearnStep, replay: Replay, zeros: dict[str, jax.Array], learning_starts: int, replay_ratio: float
) -> Callable[[LoopState, jax.Array], tuple[LoopState, tuple[jax.Array, dict]]]:
    """One seed's updates owed after a vector step: they read the replay, not the new step."""

    def update_once(_, carry):
        agent_state, replay_state, updates, key, sums = carry
        key, key_sample = jax.random.split(key)
        agent_state, replay_state, metrics = learn(agent_state, replay_state, updates, key_sample)
        return agent_state, replay_state, updates + 1, key, jax.tree.map(jnp.add, sums, metrics)

    def learn_owed(state: LoopState, key_update: jax.Array) -> tuple[LoopState, tuple[jax.Array, dict]]:
        num_envs = state.env_step.obs.shape[0]
        fresh_steps = state.fresh_steps + num_envs
        # After T steps, floor((T - learning_starts) * replay_ratio) updates have been done.
        learning = (fresh_steps > learning_starts) & replay.can_sample(state.replay)
        debt = state.update_debt + jnp.where(learning, num_envs * replay_ratio, 0.0)
        owed = jnp.floor(debt)
        num_updates = owed.astype(jnp.int32)

        carry = (state.agent, state.replay, state.updates, key_update, zeros)
        agent_state, replay_state, updates, _, sums = jax.lax.fori_loop(0, num_updates, update_once, carry)
        state = state._replace(
            agent=agent_state,
            replay=replay_state,
            env_steps=state.env_steps + num_envs,
            fresh_steps=fresh_steps,
            update_debt=debt - owed,
            updates=updates,
        )
        return state, (num_updates, sums)

    return learn_owed


def _take_step(state: LoopState, new: EnvStep) -> tuple[LoopState, tuple[jax.Array, ...]]:
    """One seed's bookkeeping of the environments' step `new`: scores and lengths of its games."""
    current = state.env_step
    score = state.score + new.score
    length = state.length + (~current.game_over).astype(jnp.int32)  # a game's end is followed by a reset
    state = state._replace(
        env_step=new,
        score=jnp.where(new.game_over, 0.0, score),
        length=jnp.where(new.game_over, 0, length),
    )
    return state, (new.game_over, score, length)


def _receive(
    env: XlaEnv, state: LoopState, handle: jax.Array, shape: tuple[int, ...]
) -> tuple[LoopState, EnvStep]:
    """The environments' step after `send`, shaped by seed (when several)."""
    # The barrier ties the handle to the state: what follows it waits for what precedes it.
    handle, state = jax.lax.optimization_barrier((handle, state))
    handle, new = env.recv(handle)
    new = jax.tree.map(lambda x: x.reshape(shape + x.shape[1:]), new)
    return state._replace(handle=handle), new


def zero_metrics(learn: LearnStep, agent_state: Any, replay_state: ReplayState) -> dict:
    """Zeros shaped like the metrics of one learn step, to sum them over updates."""
    no_key = jax.random.key(0)
    _, _, metrics = jax.eval_shape(learn, agent_state, replay_state, jnp.zeros((), jnp.int32), no_key)
    return jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics)
