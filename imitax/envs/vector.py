"""Vectorized environments on envpool, with a pure-function XLA step for use inside `jax.jit`."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from imitax.envs import games
from imitax.envs.presets import AtariPreset, get_preset
from imitax.types import EnvSpec, EnvStep

# Small control tasks with discrete actions, for fast tests of agents with the MLP torso.
VECTOR_TASKS = ("CartPole-v1", "CartPole-v0", "Acrobot-v1", "MountainCar-v0")


class XlaEnv(NamedTuple):
    """envpool's environments as pure functions for `jax.jit`, `lax.scan` and `fori_loop`.

    `send(handle, actions) -> handle` hands the actions to envpool's threads and returns at once;
    `recv(handle) -> (handle, EnvStep)` waits for the step they ran; `step` is the two in a row. Thread
    the handle through the loop like a state: the environments live outside JAX, so each call really
    steps them (never send twice with one handle). Work placed between a send and its recv runs while
    the emulators step.
    """

    handle: jax.Array
    send: Callable[[jax.Array, jax.Array], jax.Array]
    recv: Callable[[jax.Array], tuple[jax.Array, EnvStep]]

    def step(self, handle: jax.Array, actions: jax.Array) -> tuple[jax.Array, EnvStep]:
        return self.recv(self.send(handle, actions))


def _import_envpool() -> Any:
    try:
        import envpool
    except ImportError as err:  # envpool ships wheels for Linux only.
        raise ImportError(
            "envpool is not installed (it ships wheels for Linux only). Use imitax.envs.AtariEnv, the "
            "ale-py path, on other systems."
        ) from err
    return envpool


def resolve_env_name(name: str) -> str:
    """Canonical name of an Atari game or a vector task; a clear error with suggestions otherwise."""
    by_lower = {task.lower(): task for task in VECTOR_TASKS}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    try:
        return games.canonical_game(name)
    except games.UnknownGameError as err:
        close = difflib.get_close_matches(name.lower(), by_lower, n=2, cutoff=0.7)
        if not close:
            raise
        raise games.UnknownGameError(
            f"{err} Vector tasks are also available: did you mean {', '.join(by_lower[c] for c in close)}?"
        ) from None


def is_atari(name: str) -> bool:
    return resolve_env_name(name) not in VECTOR_TASKS


def _atari_action_ids(game: str, full_action_space: bool) -> tuple[int, ...]:
    import ale_py

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.loadROM(games.rom_path(game))
    actions = ale.getLegalActionSet() if full_action_space else ale.getMinimalActionSet()
    return tuple(a.value for a in actions)


def atari_spec(game: str, preset: str | AtariPreset = "nature", training: bool = False) -> EnvSpec:
    """The spec of an Atari game under a preset, identical for the envpool and ale-py paths."""
    game = games.canonical_game(game)
    preset = get_preset(preset)
    action_ids = _atari_action_ids(game, preset.full_action_space)
    size = preset.image_size
    return EnvSpec(
        name=game,
        obs_shape=(preset.frame_stack, size, size),
        obs_dtype="uint8",
        frame_stack=preset.frame_stack,
        num_actions=len(action_ids),
        action_ids=action_ids,
        action_meanings=games.action_names(action_ids),
        preset=preset,
        training=training,
    )


class VecEnv:
    """`num_envs` environments stepped together by envpool, each resetting itself when its episode ends.

    Build with `make_vec_env`. `reset` and `step` take and return NumPy arrays; `xla()` gives the same
    step as a pure function for compiled loops.
    """

    def __init__(self, pool: Any, spec: EnvSpec, num_envs: int):
        self._pool = pool
        self.spec = spec
        self.num_envs = num_envs

    def _to_step(self, obs, reward, terminated, truncated, info, xp) -> EnvStep:
        terminated = terminated.astype(bool)
        truncated = truncated.astype(bool)
        if self.spec.preset is not None:
            score = info["reward"].astype(xp.float32)
            game_over = info["terminated"].astype(bool) | truncated
        else:
            score = reward.astype(xp.float32)
            game_over = terminated | truncated
        return EnvStep(
            obs=obs,
            reward=reward.astype(xp.float32),
            score=score,
            terminated=terminated,
            truncated=truncated,
            first=info["elapsed_step"] == 0,
            game_over=game_over,
        )

    def reset(self) -> EnvStep:
        obs, _ = self._pool.reset()
        zeros = np.zeros(self.num_envs, np.float32)
        no = np.zeros(self.num_envs, bool)
        return EnvStep(obs, zeros, zeros, no, no, np.ones(self.num_envs, bool), no)

    def step(self, actions: np.ndarray) -> EnvStep:
        out = self._pool.step(np.asarray(actions, np.int32))
        return self._to_step(*out, np)

    def xla(self) -> XlaEnv:
        handle, pool_recv, pool_send, _ = self._pool.xla()

        def send(handle: jax.Array, actions: jax.Array) -> jax.Array:
            return pool_send(handle, actions.astype(jnp.int32))

        def recv(handle: jax.Array) -> tuple[jax.Array, EnvStep]:
            handle, out = pool_recv(handle)
            return handle, self._to_step(*out, jnp)

        return XlaEnv(handle=handle, send=send, recv=recv)

    def close(self) -> None:
        self._pool.close()


def make_vec_env(
    name: str,
    num_envs: int = 8,
    *,
    preset: str | AtariPreset = "nature",
    training: bool = True,
    seed: int = 0,
    num_threads: int = 0,
) -> VecEnv:
    """Builds `num_envs` environments of an Atari game (with a preset) or a vector task on envpool.

    Args:
      name: an Atari game in any common spelling ("Pong", "space_invaders", "ALE/Breakout-v5") or one of
        `VECTOR_TASKS`.
      num_envs: environments stepped together.
      preset: Atari preprocessing preset (ignored for vector tasks).
      training: turn on the preset's training-only settings (episodic life, reward clipping).
      seed: environment i is seeded with seed + i.
      num_threads: envpool worker threads; 0 lets envpool choose.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    name = resolve_env_name(name)
    common = dict(
        env_type="gymnasium",
        num_envs=num_envs,
        batch_size=num_envs,
        seed=seed,
        num_threads=num_threads,
    )
    if name in VECTOR_TASKS:
        return _vector_task(name, common)
    return _atari(name, preset, training, common)


def _vector_task(name: str, common: dict[str, Any]) -> VecEnv:
    pool = _import_envpool().make(name, **common)
    spec = EnvSpec(
        name=name,
        obs_shape=tuple(pool.observation_space.shape),
        obs_dtype=str(pool.observation_space.dtype),
        frame_stack=None,
        num_actions=int(pool.action_space.n),
    )
    return VecEnv(pool, spec, common["num_envs"])


def _atari(name: str, preset: str | AtariPreset, training: bool, common: dict[str, Any]) -> VecEnv:
    """An Atari game on envpool under a preset: the preprocessing `AtariEnv` reproduces bit for bit."""
    spec = atari_spec(name, preset, training)
    p = spec.preset
    assert p is not None
    pool = _import_envpool().make(
        f"{name}-v5",
        **common,
        stack_num=p.frame_stack,
        frame_skip=p.frame_skip,
        noop_max=p.noop_max,
        img_height=p.image_size,
        img_width=p.image_size,
        repeat_action_probability=p.sticky_action_prob,
        full_action_space=p.full_action_space,
        use_fire_reset=p.fire_reset,
        episodic_life=p.episodic_life and training,
        reward_clip=p.reward_clip and training,
        max_episode_steps=p.max_episode_steps,
        use_inter_area_resize=True,
        gray_scale=True,
    )
    return VecEnv(pool, spec, common["num_envs"])
