"""What every built-in expert shares: the `Expert` protocol, intent-to-action mapping, and a private
emulator for searching ahead without touching the environment.

A search expert's decision is a pure function of the emulator state; a sight expert's, of the observation
stack alone (`SightExpert`). Searches run on a mirror emulator that
loads a clone of the environment's state, so the environment itself is only read (`cloneState`,
`getRAM`), never stepped, restored or re-rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import ale_py
import numpy as np

from imitax.envs import AtariEnv, games

# Full-set ALE action ids of the intents experts use; `action_index` maps them to an env's action set.
NOOP, FIRE, UP, RIGHT, LEFT, DOWN = 0, 1, 2, 3, 4, 5


@runtime_checkable
class Expert(Protocol):
    """A scripted player: acts on the emulator state of an `AtariEnv` playing `game`."""

    name: str
    """Registry name, e.g. "pong-search"."""
    game: str
    """Canonical name of the one game it plays ("Pong")."""

    def act(self, env: AtariEnv) -> int:
        """The action index (in `env`'s action set) for `env`'s current emulator state."""
        ...

    def label(self, envs: Sequence[AtariEnv]) -> np.ndarray:
        """`act` for each env, as int32 (N,): the oracle call of DAgger."""
        ...


def action_index(env: AtariEnv, ale_action: int) -> int:
    """Index of a full-set ALE action in `env`'s action set, found by the action's meaning.

    Raises:
      ValueError: the env's action set has no action with that meaning.
    """
    return meaning_index(env.spec_.action_meanings, ale_action, env.spec_.name)


def meaning_index(meanings: Sequence[str], ale_action: int, game: str = "the game") -> int:
    """Index of a full-set ALE action among an action set's `meanings`."""
    meaning = ale_py.Action(ale_action).name
    if meaning not in meanings:
        raise ValueError(f"{game} under this preset has no {meaning} action (it has {list(meanings)})")
    return list(meanings).index(meaning)


def check_game(expert: Expert, env: AtariEnv) -> None:
    """Raises a clear ValueError when an expert is asked to play another game's env."""
    if env.spec_.name != expert.game:
        raise ValueError(f"Expert {expert.name!r} plays {expert.game}, but the env is {env.spec_.name}.")


def label_all(expert: Expert, envs: Sequence[AtariEnv]) -> np.ndarray:
    """The batched oracle call: one decision per env, int32 (N,)."""
    return np.array([expert.act(env) for env in envs], dtype=np.int32)


class SightExpert:
    """An expert that decides from the observation a learner receives (the preprocessed frame stack)
    alone: no RAM, no emulator search, no memory, no randomness. Every label is a function of what a
    clone sees, and stored observations can be labelled as well as live games (relabel, imitability)."""

    name: str
    game: str

    def decide(self, stack: np.ndarray) -> int:
        """The full-set ALE action for one observation stack (frame_stack, size, size), oldest first."""
        raise NotImplementedError

    def act(self, env: AtariEnv) -> int:
        check_game(self, env)
        return action_index(env, self.decide(env.observation))

    def label(self, envs: Sequence[AtariEnv]) -> np.ndarray:
        return label_all(self, envs)

    def label_observations(self, obs: np.ndarray, action_meanings: Sequence[str]) -> np.ndarray:
        """`decide` on each stack of `obs` (N, frame_stack, size, size), as indices into an action set
        with these meanings, int32 (N,)."""
        return np.array([meaning_index(action_meanings, self.decide(o), self.game) for o in obs], np.int32)


class Mirror:
    """A private emulator of one game that replays cloned states of an env, for look-ahead search.

    `restoreState` takes states cloned from another `ALEInterface` of the same ROM and sticky-action
    probability (checked frame for frame, screens and RNG included), so searching here leaves the
    env's emulator, screen and random generator exactly as they were.
    """

    def __init__(self, game: str, sticky_action_prob: float):
        self.ale = ale_py.ALEInterface()
        self.ale.setLoggerMode(ale_py.LoggerMode.Error)
        self.ale.setFloat("repeat_action_probability", sticky_action_prob)
        self.ale.loadROM(games.rom_path(game))
        # The RNG only draws sticky actions: without them, cloning it is wasted time (half a clone).
        self._with_rng = sticky_action_prob > 0
        self._actions = [ale_py.Action(a) for a in range(len(ale_py.Action.__members__))]

    def step(self, ale_action: int, frames: int) -> float:
        """Repeats a full-set action for `frames` frames (one agent step); returns the summed reward."""
        action = self._actions[ale_action]
        reward = 0.0
        for _ in range(frames):
            reward += self.ale.act(action)
        return reward

    def clone(self) -> ale_py.ALEState:
        return self.ale.cloneState(include_rng=self._with_rng)

    def restore(self, state: ale_py.ALEState) -> None:
        self.ale.restoreState(state)

    def ram(self) -> np.ndarray:
        return self.ale.getRAM()


class MirrorPool:
    """One `Mirror` per sticky-action setting, so one expert can serve envs of different presets."""

    def __init__(self, game: str):
        self._game = game
        self._mirrors: dict[float, Mirror] = {}

    def load(self, env: AtariEnv) -> Mirror:
        """A mirror holding a clone of `env`'s current state."""
        prob = env.preset.sticky_action_prob
        if prob not in self._mirrors:
            self._mirrors[prob] = Mirror(self._game, prob)
        mirror = self._mirrors[prob]
        mirror.ale.restoreState(env.clone_state())
        return mirror


class BoundedCache(dict):
    """A dict that empties itself when full: search results keyed by state, bounded in memory."""

    def __init__(self, max_entries: int = 200_000):
        super().__init__()
        self.max_entries = max_entries

    def put(self, key: bytes, value: object) -> None:
        if len(self) >= self.max_entries:
            self.clear()
        self[key] = value
