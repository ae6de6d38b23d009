"""Atari environments with standard DQN preprocessing, on envpool (fast, vectorized, jittable) and on
gymnasium + ale-py (rendering, human play, emulator state access)."""

from imitax.envs.ale import AtariEnv
from imitax.envs.games import UnknownGameError, all_games, canonical_game
from imitax.envs.presets import MACHADO, NATURE, PRESETS, AtariPreset, get_preset
from imitax.envs.vector import (
    VECTOR_TASKS,
    VecEnv,
    XlaEnv,
    atari_spec,
    is_atari,
    make_vec_env,
    resolve_env_name,
)
from imitax.types import EnvSpec, EnvStep

__all__ = [
    "MACHADO",
    "NATURE",
    "PRESETS",
    "VECTOR_TASKS",
    "AtariEnv",
    "AtariPreset",
    "EnvSpec",
    "EnvStep",
    "UnknownGameError",
    "VecEnv",
    "XlaEnv",
    "all_games",
    "atari_spec",
    "canonical_game",
    "get_preset",
    "is_atari",
    "make_vec_env",
    "resolve_env_name",
]
