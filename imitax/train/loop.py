"""The compiled training loop: acting through envpool's XLA step, replay insertion and gradient updates,
for K environment steps, inside one `jax.jit`. Python only runs between chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from imitax.agents.base import Agent
from imitax.replay import Replay, ReplayState, Step
from imitax.types import EnvStep


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
        key=key,
    )


def make_train_chunk(
    agent: Agent,
    replay: Replay,
    env_step_fn: Callable[[jax.Array, jax.Array], tuple[jax.Array, EnvStep]],
    *,
    stacked: bool,
    epsilon_fn: Callable[[jax.Array], jax.Array],
    learning_starts: int,
    replay_ratio: float,
) -> Callable[[LoopState, int], tuple[LoopState, StepLog]]:
    """Builds `chunk(state, num_steps) -> (state, logs)`: `num_steps` vector steps of acting and learning.

    Each vector step: act epsilon-greedily on every environment's observation, store that observation's
    frame with the action in the replay, step the environments, then run the gradient updates the replay
    ratio owes (none before `learning_starts` steps have filled the replay). Jit it with the state donated.
    """

    def update_once(replay_state: ReplayState):
        def body(_, carry):
            agent_state, key, sums = carry
            key, key_sample = jax.random.split(key)
            batch = replay.sample(replay_state, key_sample)
            agent_state, metrics = agent.update(agent_state, batch)
            return agent_state, key, jax.tree.map(jnp.add, sums, metrics)

        return body

    def vector_step(state: LoopState, _) -> tuple[LoopState, StepLog]:
        key, key_act, key_update = jax.random.split(state.key, 3)
        current = state.env_step
        num_envs = current.obs.shape[0]
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
        replay_state = replay.add(state.replay, stored)
        handle, new = env_step_fn(state.handle, actions)

        score = state.score + new.score
        length = state.length + 1
        log_games = (new.game_over, score, length)

        env_steps = state.env_steps + num_envs
        fresh_steps = state.fresh_steps + num_envs
        # After T steps, floor((T - learning_starts) * replay_ratio) updates have been done.
        learning = (fresh_steps > learning_starts) & replay.can_sample(replay_state)
        debt = state.update_debt + jnp.where(learning, num_envs * replay_ratio, 0.0)
        owed = jnp.floor(debt)
        num_updates = owed.astype(jnp.int32)

        zeros = zero_metrics(agent, state.agent, replay, replay_state)
        agent_state, _, sums = jax.lax.fori_loop(
            0, num_updates, update_once(replay_state), (state.agent, key_update, zeros)
        )
        state = LoopState(
            agent=agent_state,
            replay=replay_state,
            handle=handle,
            env_step=new,
            score=jnp.where(new.game_over, 0.0, score),
            length=jnp.where(new.game_over, 0, length),
            env_steps=env_steps,
            fresh_steps=fresh_steps,
            update_debt=debt - owed,
            key=key,
        )
        return state, StepLog(*log_games, num_updates, sums)

    def chunk(state: LoopState, num_steps: int) -> tuple[LoopState, StepLog]:
        return jax.lax.scan(vector_step, state, None, length=num_steps)

    return chunk


def zero_metrics(agent: Agent, agent_state: Any, replay: Replay, replay_state: ReplayState) -> dict:
    """Zeros shaped like the metrics `agent.update` returns, to sum them over updates."""
    batch = jax.eval_shape(replay.sample, replay_state, jax.random.key(0))
    _, metrics = jax.eval_shape(agent.update, agent_state, batch)
    return jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics)
