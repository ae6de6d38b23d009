"""Atari environments with standard DQN preprocessing, on envpool (fast, vectorized, jittable) and on
gymnasium + ale-py (rendering, human play, emulator state access)."""

from imitax.envs.ale import AtariEnv
from imitax.envs.games import UnknownGameError, all_games, canonical_game
from imitax.envs.presets import (
    EVAL_PROTOCOLS,
    MACHADO,
    NATURE,
    PRESETS,
    AtariPreset,
    EvalProtocol,
    get_preset,
)
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
    "EVAL_PROTOCOLS",
    "MACHADO",
    "NATURE",
    "PRESETS",
    "VECTOR_TASKS",
    "AtariEnv",
    "AtariPreset",
    "EnvSpec",
    "EnvStep",
    "EvalProtocol",
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
