"""Any trained imitax agent as a teacher: the demonstrator of `record expert` and the oracle of DAgger.

A teacher is anything with the `imitax.experts.Expert` protocol. Built-in experts decide from the
emulator state; an `AgentTeacher` decides from what a learner sees, the env's stacked frames, with the
agent's greedy action. A clone can therefore match it exactly, and DAgger (Ross et al. 2011) works on
every game an agent was trained on, not only the games with a built-in expert.

`--expert` takes either a built-in expert's name or a run directory (or one seed's directory of a run of
several seeds); `make_teacher` tells them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from imitax.envs import AtariEnv, atari_spec, canonical_game
from imitax.envs.presets import AtariPreset, get_preset
from imitax.experts import Expert, available_experts, default_expert, make_expert
from imitax.experts.base import check_game
from imitax.train.loading import LoadedAgent, load_one_run
from imitax.types import EnvSpec

__all__ = ["AgentTeacher", "make_teacher"]


class AgentTeacher:
    """A trained agent's greedy policy as an `Expert`: labels come from its jitted network, at most
    `batch` observations a call.

    Args:
      loaded: the agent, as `imitax.train.loading.load_agent` returns it.
      run_dir: where it came from; the teacher's name.
      batch: observations per network call.
    """

    def __init__(self, loaded: LoadedAgent, run_dir: str | Path, batch: int = 32):
        self.loaded = loaded
        self.name = str(Path(run_dir).resolve())
        self.game = loaded.spec.name
        self.spec: EnvSpec = loaded.spec
        self.batch = max(1, batch)
        key = jax.random.key(0)  # greedy acting draws nothing from it
        self._greedy = jax.jit(lambda state, obs: loaded.agent.act(state, obs, key, 0.0))

    def act(self, env: AtariEnv) -> int:
        return int(self.label([env])[0])

    def label(self, envs: Sequence[AtariEnv]) -> np.ndarray:
        for env in envs:
            self.check_env(env)
        return self.label_observations(np.stack([env.observation for env in envs]))

    def label_observations(self, obs: np.ndarray) -> np.ndarray:
        """The agent's greedy action for each stacked observation (N, frame_stack, S, S), int32 (N,).

        They go in chunks of at most `batch`, each padded to a power of two, so that a few compiled
        shapes serve every call and no call computes more than twice what it needs."""
        size = min(self.batch, 1 << (len(obs) - 1).bit_length())
        labels = np.zeros(len(obs), np.int32)
        for begin in range(0, len(obs), size):
            chunk = obs[begin : begin + size]
            padded = np.zeros((size, *chunk.shape[1:]), chunk.dtype)
            padded[: len(chunk)] = chunk
            actions = self._greedy(self.loaded.state, jnp.asarray(padded))
            labels[begin : begin + len(chunk)] = np.asarray(actions)[: len(chunk)]
        return labels

    def check_env(self, env: AtariEnv) -> None:
        """Raises a clear ValueError where `env` is not what the agent was trained to see and do."""
        check_game(self, env)
        check_same_interface(self, env.spec_)


def check_same_interface(teacher: AgentTeacher, spec: EnvSpec) -> None:
    """The agent must see the frames `spec` gives and choose among its actions."""
    mine = teacher.spec
    if spec.obs_shape != mine.obs_shape:
        raise ValueError(
            f"--expert {teacher.name} sees observations of shape {mine.obs_shape} (preset "
            f"{mine.preset.name if mine.preset else '?'}), but these have {spec.obs_shape}: use the preset "
            "the agent was trained with."
        )
    if spec.action_ids != mine.action_ids:
        raise ValueError(
            f"--expert {teacher.name} chooses among {mine.num_actions} actions "
            f"({', '.join(mine.action_meanings)}), but this game's preset has {spec.num_actions} "
            f"({', '.join(spec.action_meanings)}): use the preset the agent was trained with."
        )


def make_teacher(expert: str | None, game: str, preset: str | AtariPreset = "nature") -> Expert:
    """The teacher `--expert` names for `game` under `preset`: a built-in expert's name (None: the game's
    default expert), or a run directory holding a checkpoint of an agent trained on that game.

    Raises:
      ValueError: an unknown name, a run directory with no checkpoint or with a damaged record, an agent
        of another game, preset or action set, or a non-Atari agent. Nothing has been written then.
    """
    game = canonical_game(game)
    if expert is None:
        return make_expert(default_expert(game), game)
    if expert in available_experts():
        return make_expert(expert, game)
    path = Path(expert)
    if not path.is_dir():
        names = ", ".join(available_experts())
        raise ValueError(
            f"--expert {expert!r} is neither a built-in expert ({names}) nor a run directory: give one of "
            "the experts, or the directory of a run whose agent should teach."
        )
    teacher = AgentTeacher(load_one_run(path, "--expert"), path)
    if teacher.spec.preset is None:
        raise ValueError(
            f"--expert {expert}: that agent was trained on {teacher.game}, which is not an Atari game; a "
            f"teacher for {game} must have been trained on {game}."
        )
    if teacher.game != game:
        raise ValueError(f"--expert {expert}: that agent plays {teacher.game}, not {game}.")
    check_same_interface(teacher, atari_spec(game, get_preset(preset), training=False))
    return teacher
