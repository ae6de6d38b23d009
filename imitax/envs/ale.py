"""The gymnasium + ale-py path: one Atari game with exactly envpool's preprocessing.

For what envpool cannot do: rendering and human play, emulator state cloning (experts, oracles), and
games envpool lacks. Given the same actions and no randomness (no-op count fixed by `noop_max=1`, no
sticky actions), this environment and envpool produce the same observations bit for bit; the tests
check it. Only random draws differ (each library has its own generators).
"""

from __future__ import annotations

from typing import Any, ClassVar

import ale_py
import cv2
import gymnasium as gym
import numpy as np

from imitax.envs import games
from imitax.envs.presets import AtariPreset, get_preset
from imitax.envs.vector import atari_spec
from imitax.types import EnvSpec

NOOP, FIRE = 0, 1  # full-set ALE action ids


class AtariEnv(gym.Env):
    """One Atari game under an `AtariPreset`, as a gymnasium environment.

    Observations are (frame_stack, size, size) uint8 stacks, actions index the preset's action set,
    `info` holds `score` (the unclipped reward), `lives`, `game_over`, `first` and `elapsed_step`. As in
    envpool, with episodic life (training only) `reset` after a lost life continues the same game.

    Attributes:
      ale: the emulator, for experts that read RAM or search over cloned states.
      spec_: the `EnvSpec`, equal to envpool's for the same game and preset.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 60}

    def __init__(
        self,
        game: str,
        preset: str | AtariPreset = "nature",
        *,
        training: bool = False,
        seed: int = 0,
        render_mode: str | None = None,
    ):
        self.preset = get_preset(preset)
        self.training = training
        self.spec_: EnvSpec = atari_spec(game, self.preset, training)
        self.render_mode = render_mode
        self._episodic_life = self.preset.episodic_life and training
        self._reward_clip = self.preset.reward_clip and training
        self.ale = ale_py.ALEInterface()
        self.ale.setLoggerMode(ale_py.LoggerMode.Error)
        self.ale.setFloat("repeat_action_probability", self.preset.sticky_action_prob)
        self.ale.setInt("random_seed", seed)
        self.ale.loadROM(games.rom_path(self.spec_.name))
        self._actions = [ale_py.Action(a) for a in self.spec_.action_ids]
        self._fire_reset = self.preset.fire_reset and FIRE in self.spec_.action_ids
        self._np_random, _ = gym.utils.seeding.np_random(seed)
        raw = self.ale.getScreenDims()
        self._pool = [np.zeros(raw, np.uint8), np.zeros(raw, np.uint8)]
        self._stack = np.zeros(self.spec_.obs_shape, np.uint8)
        self._elapsed = self.preset.max_episode_steps + 1  # forces a new game on the first reset
        self._lives = 0
        self.observation_space = gym.spaces.Box(0, 255, self.spec_.obs_shape, np.uint8)
        self.action_space = gym.spaces.Discrete(self.spec_.num_actions)

    def _grab(self, slot: int) -> None:
        self.ale.getScreenGrayscale(self._pool[slot])

    def _push(self, frame: np.ndarray, fill: bool) -> None:
        size = self.preset.image_size
        small = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
        if fill:
            self._stack[:] = small
        else:
            self._stack[:-1] = self._stack[1:]
            self._stack[-1] = small

    def _info(self, score: float, game_over: bool) -> dict[str, Any]:
        return {
            "score": float(score),
            "lives": self._lives,
            "game_over": game_over,
            "first": self._elapsed == 0,
            "elapsed_step": self._elapsed,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._np_random, _ = gym.utils.seeding.np_random(seed)
            self.ale.setInt("random_seed", seed)
            self.ale.loadROM(games.rom_path(self.spec_.name))
            self._elapsed = self.preset.max_episode_steps + 1
        noops = int(self._np_random.integers(1, self.preset.noop_max + 1)) - int(self._fire_reset)
        new_game = (
            not self._episodic_life or self.ale.game_over() or self._elapsed >= self.preset.max_episode_steps
        )
        if new_game:
            self.ale.reset_game()
            self._elapsed = 0
        for _ in range(noops):
            self.ale.act(ale_py.Action(NOOP))
            if self.ale.game_over():
                self.ale.reset_game()
                new_game = True
        if self._fire_reset:
            self.ale.act(ale_py.Action(FIRE))
        self._grab(0)
        self._push(self._pool[0], fill=new_game)
        self._lives = self.ale.lives()
        return self._stack.copy(), self._info(0.0, False)

    def step(self, action: int):
        if not 0 <= int(action) < len(self._actions):
            raise ValueError(f"action {action} is outside this game's {len(self._actions)} actions")
        score, game_over = 0.0, False
        skip = self.preset.frame_skip
        while skip > 0 and not game_over:
            score += self.ale.act(self._actions[int(action)])
            game_over = self.ale.game_over()
            if skip <= 2:  # the last two frames are max-pooled
                self._grab(2 - skip)
            skip -= 1
        if skip == 0:
            # In place, as envpool does: a game that ends early in the next step re-shows this max.
            np.maximum(self._pool[0], self._pool[1], out=self._pool[0])
        self._push(self._pool[0], fill=False)
        self._elapsed += 1
        truncated = self._elapsed >= self.preset.max_episode_steps
        lives = self.ale.lives()
        life_lost = self._episodic_life and 0 < lives < self._lives
        self._lives = lives
        terminated = (game_over or life_lost) and not truncated
        reward = float(np.sign(score)) if self._reward_clip else score
        info = self._info(score, game_over or truncated)
        return self._stack.copy(), reward, terminated, truncated, info

    @property
    def observation(self) -> np.ndarray:
        """The current observation (the stack the last `reset` or `step` returned), a copy."""
        return self._stack.copy()

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.ale.getScreenRGB()
        return None

    def clone_state(self) -> ale_py.ALEState:
        """The emulator's state (including its random generator), for search and oracles."""
        return self.ale.cloneState(include_rng=True)

    def restore_state(self, state: ale_py.ALEState) -> None:
        self.ale.restoreState(state)
