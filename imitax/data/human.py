"""Recording a person's play: `imitax record human` opens a window (`imitax.data.play_window`: the keys,
how they map to the game's actions, the pace), and writes every finished game to a demonstration dataset
the moment it ends.

Each episode is stored as the agent would have seen it (`imitax.data.dataset`): the newest
preprocessed frame of each of the T+1 observations, the T actions executed (also the labels: a person's
intention is what they pressed), unclipped rewards, the termination and truncation flags, the seed the
game was reset with, and the extras `frame_number` (the emulator's frame count within the game at each
observation, T+1 entries) and, with `keep_rgb`, `rgb` (the raw 210x160 screen at each observation).

Testing without a screen: with SDL_VIDEODRIVER=dummy the window exists only in memory, and
`record_human(config, events=...)` reads one list of pygame events per displayed frame from `events`,
posting them to pygame's event queue before reading it, so scripted key presses go through the same
loop as a person's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imitax.data.dataset import (
    DATA_DIR,
    HDF5_FILE,
    METADATA_FILE,
    DatasetWriter,
    Episode,
    Source,
    load_dataset,
)
from imitax.data.play_window import (
    CONTROLS,
    EMULATOR_HZ,
    HEADLESS_DRIVERS,
    HINTS,
    KEYS_HELP,
    DisplayError,
    PlayWindow,
    action_for_keys,
    close_display,
    headless_requested,
    open_display,
)
from imitax.envs import AtariEnv, AtariPreset, canonical_game, get_preset
from imitax.types import EnvSpec

__all__ = [  # the window's names too, importable from here as before the window had its own module
    "CONTROLS",
    "EMULATOR_HZ",
    "HEADLESS_DRIVERS",
    "HINTS",
    "KEYS_HELP",
    "DisplayError",
    "HumanRecordConfig",
    "RecordReport",
    "action_for_keys",
    "record_human",
]


@dataclass(frozen=True)
class HumanRecordConfig:
    """Recording demonstrations played by a person at the keyboard."""

    env: str = "Pong"
    """Atari game, in any common spelling ("Pong", "space_invaders", "ALE/Breakout-v5")."""
    env_preset: str = "nature"
    """Preprocessing preset (nature, machado): the dataset can only train agents using the same one."""
    out: str = "demos/human-pong"
    """Dataset directory to create (or to add to, with --append)."""
    episodes: int = 0
    """Finished games to record before stopping; 0 records until you quit (ESC or Q)."""
    fps: float = 15.0
    """Agent steps per second. 15 is the game's own pace: 60 Hz over the frame skip of 4. Lower it to make
    a game easier to play; 0 runs as fast as the computer can (for scripted tests)."""
    scale: int = 4
    """Window zoom: the 160x210 screen is shown at scale times its size."""
    seed: int = 0
    """Seed of the first game (its no-op start); the next games use seed + 1, seed + 2, ..."""
    player: str = "anonymous"
    """Who is playing, stored in the dataset's metadata."""
    keep_partial: bool = False
    """Also save the unfinished game when you quit, restart or press Ctrl-C (truncated at its last step)."""
    keep_rgb: bool = False
    """Also store the raw RGB screen of each observation (about 100 kB a step before compression)."""
    append: bool = False
    """Add to an existing dataset of the same game and preset instead of refusing to touch it."""


@dataclass(frozen=True)
class RecordReport:
    """What a recording session saved."""

    path: Path
    """The dataset directory."""
    episodes: int
    """Episodes saved in this session (a saved partial one included)."""
    steps: int
    """Agent steps in those episodes."""
    scores: tuple[float, ...]
    """Unclipped score of each saved episode."""
    partial_saved: bool
    """Whether an unfinished game was saved (with `keep_partial`)."""
    stopped_by: str
    """"episodes" (the requested number was reached), "quit", "interrupted" (Ctrl-C), "max_frames" or
    "events" (the scripted events ran out)."""

    @property
    def interrupted(self) -> bool:
        return self.stopped_by == "interrupted"

    def summary(self) -> str:
        if not self.episodes:
            return "No episode was saved."
        scores = ", ".join(f"{s:g}" for s in self.scores)
        return f"Saved {self.episodes} episodes ({self.steps:,} steps; scores {scores}) to {self.path}."


# -- episodes ------------------------------------------------------------------------------------------------


class _Recording:
    """The game being played, one step at a time. Each step is appended as one tuple, so an interrupt
    never leaves the lists out of step with each other."""

    def __init__(self, env: AtariEnv, seed: int, keep_rgb: bool):
        self.env, self.seed, self.keep_rgb = env, seed, keep_rgb
        obs, _ = env.reset(seed=seed)
        self.first = self._observation(obs)
        self.steps: list[tuple] = []  # (action, score, terminated, truncated, observation)
        self.score = 0.0
        self.saved = False

    @property
    def finished(self) -> bool:
        return bool(self.steps) and bool(self.steps[-1][2] or self.steps[-1][3])

    def _observation(self, obs: np.ndarray) -> tuple:
        rgb = self.env.render() if self.keep_rgb else None
        return obs[-1].copy(), self.env.ale.getEpisodeFrameNumber(), rgb

    def step(self, action: int) -> bool:
        """Steps the game; whether the episode ended."""
        obs, _, terminated, truncated, info = self.env.step(action)
        self.steps.append((action, info["score"], terminated, truncated, self._observation(obs)))
        self.score += info["score"]
        return terminated or truncated

    def episode(self, cut: bool = False) -> Episode:
        """The episode so far; `cut` marks its last step truncated (a game left unfinished)."""
        observations = [self.first] + [step[4] for step in self.steps]
        truncations = np.array([step[3] for step in self.steps], bool)
        if cut and len(truncations):
            truncations[-1] = True
        actions = np.array([step[0] for step in self.steps], np.int64)
        extras = {"frame_number": np.array([o[1] for o in observations], np.int64)}
        if self.keep_rgb:
            extras["rgb"] = np.stack([o[2] for o in observations])  # (T+1, 210, 160, 3)
        return Episode(
            frames=np.stack([o[0] for o in observations]),  # (T+1, 84, 84)
            actions=actions,
            labels=actions.copy(),
            rewards=np.array([step[1] for step in self.steps], np.float64),
            terminations=np.array([step[2] for step in self.steps], bool),
            truncations=truncations,
            extras=extras,
            seed=self.seed,
        )


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Holds Ctrl-C back while an episode is written, so the dataset file is never left half-written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


# -- the session ---------------------------------------------------------------------------------------------


class _Session:
    """The games played in one window, each written to the dataset as soon as it ends, and the tally."""

    def __init__(
        self,
        config: HumanRecordConfig,
        game: str,
        env: AtariEnv,
        writer: DatasetWriter,
        window: PlayWindow,
        first_seed: int,
    ):
        self.config, self.game, self.env = config, game, env
        self.writer, self.window = writer, window
        self.out = Path(config.out)
        self.first_seed = first_seed
        self.scores: list[float] = []
        self.steps = 0
        self.partial_saved = False
        self.started = self.finished = 0
        self.recording = self._new_game()

    def _new_game(self) -> _Recording:
        self.started += 1
        return _Recording(self.env, self.first_seed + self.started - 1, self.config.keep_rgb)

    def _save(self, recording: _Recording) -> None:
        """Writes the game, marked truncated if unfinished; Ctrl-C waits until the books are kept."""
        cut = not recording.finished
        episode = recording.episode(cut=cut)
        with _deferred_interrupt():
            index = self.writer.add(episode)
            recording.saved = True
            self.scores.append(episode.score)
            self.steps += episode.num_steps
            self.partial_saved |= cut
        ending = "unfinished game" if cut else "game"
        message = f"{ending} saved: score {episode.score:g}, {episode.num_steps} steps"
        self.window.flash(message)
        print(f"{self.out}: episode_{index}: {message}", flush=True)

    def _restart(self) -> None:
        """Abandons the game for a new one (R), saving it first with `keep_partial`."""
        if self.config.keep_partial and self.recording.steps:
            self._save(self.recording)
        self.recording = self._new_game()

    def _step_until_enough(self, action: int) -> bool:
        """Plays one step, saving the game if it ended and starting the next one; whether that game was the
        last of the `episodes` asked for (the next one is not started then)."""
        if not self.recording.step(action):
            return False
        self._save(self.recording)
        self.finished += 1
        if self.config.episodes and self.finished >= self.config.episodes:
            return True
        self.recording = self._new_game()
        return False

    def _header(self) -> str:
        total = f"/{self.config.episodes}" if self.config.episodes else ""
        return f"{self.game}  episode {self.started}{total}  score {self.recording.score:g}"

    def play(self, max_frames: int | None) -> str:
        """Plays frame after frame until something ends the session; what did (`RecordReport.stopped_by`)."""
        frames = 0
        try:
            while max_frames is None or frames < max_frames:
                controls = self.window.read_controls()
                if controls is None:
                    return "events"
                if controls.quit:
                    return "quit"
                if controls.restart:
                    self._restart()
                action = self.window.action()
                if not controls.paused and self._step_until_enough(action):
                    return "episodes"
                self.window.show(self.env.render(), self._header(), action)
                frames += 1
        except KeyboardInterrupt:
            return "interrupted"
        return "max_frames"

    def save_last_game(self) -> None:
        """Saves the game left when the session ended, if it is finished or `keep_partial` asks for it."""
        # A game that ended just as Ctrl-C came is saved as finished; an unfinished one only if asked.
        recording = self.recording
        if not recording.saved and (recording.finished or (self.config.keep_partial and recording.steps)):
            self._save(recording)

    def report(self, stopped_by: str) -> RecordReport:
        return RecordReport(
            path=self.out,
            episodes=len(self.scores),
            steps=self.steps,
            scores=tuple(self.scores),
            partial_saved=self.partial_saved,
            stopped_by=stopped_by,
        )


def _check_config(config: HumanRecordConfig) -> None:
    if config.episodes < 0:
        raise ValueError(f"episodes must be >= 0 (0 records until you quit), got {config.episodes}")
    if config.fps < 0:
        raise ValueError(f"fps must be >= 0 (0 runs as fast as possible), got {config.fps}")
    if not 1 <= config.scale <= 16:
        raise ValueError(f"scale must be between 1 and 16, got {config.scale}")


def _check_the_session_can_end(
    config: HumanRecordConfig, events: Iterable[Iterable[Any]] | None, max_frames: int | None
) -> None:
    """Refuses a headless session that nothing would ever stop: nobody can press ESC in a hidden window."""
    if headless_requested() and events is None and max_frames is None and config.episodes == 0:
        raise ValueError(
            f"SDL_VIDEODRIVER={os.environ['SDL_VIDEODRIVER']} shows no window, so nobody can play or quit: "
            "unset it to play, or give scripted events, max_frames or a number of episodes."
        )


def _first_seed(config: HumanRecordConfig, out: Path, had_dataset: bool) -> int:
    """The seed of the session's first game: after the saved games when appending (new games, not replays
    of the saved ones)."""
    if config.append and had_dataset:
        return config.seed + load_dataset(out).num_episodes
    return config.seed


def _open_writer(config: HumanRecordConfig, out: Path, spec: EnvSpec, natural_fps: float) -> DatasetWriter:
    return DatasetWriter(
        out,
        spec,
        Source(kind="human", name=config.player),
        extra_info={
            "fps": config.fps,
            "natural_fps": natural_fps,
            "seed": config.seed,
            "player": config.player,
            "keep_rgb": config.keep_rgb,
        },
        append=config.append,
    )


def _remove_empty_dataset(path: Path, path_existed: bool) -> None:
    """Removes the empty dataset a session that saved nothing created, so the next run is not refused."""
    for name in (METADATA_FILE, HDF5_FILE):
        (path / DATA_DIR / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (path / DATA_DIR).rmdir()
        if not path_existed:
            path.rmdir()


def record_human(
    config: HumanRecordConfig,
    *,
    events: Iterable[Iterable[Any]] | None = None,
    max_frames: int | None = None,
    preset: AtariPreset | None = None,
) -> RecordReport:
    """Records games played at the keyboard into the dataset `config.out`, each saved as soon as it ends.

    Quitting (ESC, Q, closing the window) or Ctrl-C keeps every finished game; the unfinished one is saved
    too with `config.keep_partial`. A session that saves nothing leaves no dataset behind.

    Args:
      config: what to play and where to save it.
      events: for tests: one list of pygame events per displayed frame, used instead of the keyboard
        (posted to pygame's queue, then read back with the window's own events). The session ends when
        they run out; the iterable may raise KeyboardInterrupt to act as Ctrl-C.
      max_frames: stop after this many displayed frames (paused ones count; steps do not happen then).
      preset: use this preset instead of `config.env_preset` (tests use short episodes).

    Raises:
      UnknownGameError: `config.env` names no game; the message suggests close names.
      DatasetError: `config.out` holds a dataset and `append` is off, or is not a dataset and not empty.
      DisplayError: there is no screen, and SDL_VIDEODRIVER does not ask for a headless driver.
    """
    _check_config(config)
    game = canonical_game(config.env)
    preset = get_preset(preset if preset is not None else config.env_preset)
    _check_the_session_can_end(config, events, max_frames)
    env = AtariEnv(game, preset, training=False, seed=config.seed, render_mode="rgb_array")
    out = Path(config.out)
    path_existed = out.exists()
    had_dataset = (out / DATA_DIR / METADATA_FILE).exists()
    first_seed = _first_seed(config, out, had_dataset)
    natural_fps = EMULATOR_HZ / preset.frame_skip
    created = False  # only a dataset this session created is removed when it saved nothing
    session: _Session | None = None
    open_display()
    try:
        writer = _open_writer(config, out, env.spec_, natural_fps)
        created = not had_dataset
        window = PlayWindow(
            f"imitax record human: {game} ({preset.name}) -> {out}",
            scale=config.scale,
            hint=HINTS.get(game),
            meanings=env.spec_.action_meanings,
            fps=config.fps,
            natural_fps=natural_fps,
            events=events,
        )
        session = _Session(config, game, env, writer, window, first_seed)
        stopped_by = session.play(max_frames)
        session.save_last_game()
        return session.report(stopped_by)
    finally:
        close_display()
        if created and (session is None or not session.scores):
            _remove_empty_dataset(out, path_existed)
