"""Recording a person's play: `imitax record human` opens a window, maps the keyboard to the game's
actions, and writes every finished game to a demonstration dataset the moment it ends.

Keys: the arrow keys move, SPACE fires, P pauses, R abandons the current game and starts a new one,
ESC or Q (or closing the window) quits. The held keys form an ALE action name, read literally: the
right arrow means the game's RIGHT action, whatever RIGHT does on screen. In Pong RIGHT moves the paddle
up and LEFT moves it down (the window says so), and Pong's minimal action set has no UP or DOWN at all.
See `action_for_keys` for how a combination the game lacks falls back.

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
import dataclasses
import os
import signal
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame

from imitax.data.dataset import (
    DATA_DIR,
    HDF5_FILE,
    METADATA_FILE,
    DatasetWriter,
    Episode,
    Source,
    load_dataset,
)
from imitax.envs import AtariEnv, AtariPreset, canonical_game, get_preset
from imitax.envs.games import nearest_action

EMULATOR_HZ = 60
"""Frames per second of the Atari 2600, the pace its games were made for."""

HEADLESS_DRIVERS = ("dummy", "offscreen")
"""SDL video drivers that draw nowhere: fine for tests, useless to a player."""

KEYS_HELP = "arrows move   SPACE fire   P pause   R restart   ESC/Q quit"

HINTS = {"Pong": "Pong: the RIGHT arrow moves your paddle up, LEFT moves it down"}
"""Games whose action names do not match their screen directions; shown under the screen."""


class DisplayError(RuntimeError):
    """No screen to show the recorder's window on."""


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


# -- keyboard to actions -----------------------------------------------------------------------------------

CONTROLS = ("UP", "DOWN", "LEFT", "RIGHT", "FIRE")
"""The parts of an ALE action name a player can hold."""


def action_for_keys(held: Collection[str], meanings: Sequence[str]) -> int:
    """The index in `meanings` of the action a set of held controls asks for.

    The held controls (a subset of `CONTROLS`) spell an ALE action name: vertical, then horizontal, then
    FIRE ("UP" + "RIGHT" + "FIRE" -> "UPRIGHTFIRE"); opposite directions held together cancel. Names are
    read literally, never by screen direction: in Pong "RIGHT" is the action that moves the paddle up.
    When the game lacks that exact action, the nearest one it has keeps as many held controls as possible,
    preferring to keep movement over FIRE and horizontal over vertical movement (RIGHT+FIRE in Breakout,
    which has no RIGHTFIRE, moves right; UP+FIRE in Pong, which has no UP, fires). NOOP when nothing held
    matches an action (UP alone in Pong).
    """
    unknown = set(held) - set(CONTROLS)
    if unknown:
        raise ValueError(f"unknown controls {sorted(unknown)}; controls are {CONTROLS}")
    vertical = ("UP" if "UP" in held else "DOWN") if ("UP" in held) != ("DOWN" in held) else ""
    horizontal = ("LEFT" if "LEFT" in held else "RIGHT") if ("LEFT" in held) != ("RIGHT" in held) else ""
    index = nearest_action(vertical, horizontal, "FIRE" in held, meanings)
    if index is not None:
        return index
    return meanings.index("NOOP") if "NOOP" in meanings else 0


def _key_controls() -> dict[int, str]:
    return {
        pygame.K_UP: "UP",
        pygame.K_DOWN: "DOWN",
        pygame.K_LEFT: "LEFT",
        pygame.K_RIGHT: "RIGHT",
        pygame.K_SPACE: "FIRE",
    }


@dataclass
class _Controls:
    """The keyboard's state between frames, and what this frame's events asked for."""

    held: set[str] = dataclasses.field(default_factory=set)
    tapped: set[str] = dataclasses.field(default_factory=set)  # pressed during this frame
    paused: bool = False
    quit: bool = False
    restart: bool = False

    def read(self, events: Iterable[Any], keys: dict[int, str]) -> None:
        self.tapped, self.restart = set(), False
        for event in events:
            if event.type == pygame.QUIT:
                self.quit = True
            elif event.type == pygame.WINDOWFOCUSLOST:  # keys released elsewhere never come back up
                self.held.clear()
                self.paused = True
            elif event.type == pygame.KEYDOWN:
                if event.key in (pygame.K_ESCAPE, pygame.K_q):
                    self.quit = True
                elif event.key == pygame.K_p:
                    self.paused = not self.paused
                elif event.key == pygame.K_r:
                    self.restart = True
                elif event.key in keys:
                    self.held.add(keys[event.key])
                    self.tapped.add(keys[event.key])
            elif event.type == pygame.KEYUP and event.key in keys:
                self.held.discard(keys[event.key])

    @property
    def active(self) -> set[str]:
        """Controls that act on this step: those held, and those tapped (pressed and released) within the
        frame, so a tap shorter than a frame still counts once."""
        return self.held | self.tapped


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


# -- the window ----------------------------------------------------------------------------------------------


def _open_display() -> None:
    """Starts pygame's display, or says clearly why there is no screen to play on."""
    requested = os.environ.get("SDL_VIDEODRIVER", "")
    advice = (
        "Run it on a machine with a screen (over ssh: ssh -X, or set DISPLAY), or set SDL_VIDEODRIVER=dummy "
        "to run it headless for testing (nobody can play then)."
    )
    try:
        pygame.display.init()
    except pygame.error as err:
        raise DisplayError(f"No display is available for the recorder's window ({err}). {advice}") from None
    driver = pygame.display.get_driver()
    if driver in HEADLESS_DRIVERS and requested not in HEADLESS_DRIVERS:
        pygame.display.quit()
        raise DisplayError(
            f"No display is available for the recorder's window (SDL fell back to its {driver!r} driver, "
            f"which draws nowhere). {advice}"
        )


class _Window:
    """The game's screen, zoomed, between a header (game, episode, score, action) and a footer (keys)."""

    def __init__(self, title: str, scale: int, hint: str | None):
        pygame.font.init()
        self.font = pygame.font.Font(None, max(14, 6 * scale))
        line = self.font.get_linesize()
        self.pad = max(2, scale)
        self.footer = [KEYS_HELP] + ([hint] if hint else [])
        self.top = line + 2 * self.pad
        self.screen_size = (160 * scale, 210 * scale)
        height = self.top + self.screen_size[1] + len(self.footer) * line + 2 * self.pad
        self.surface = pygame.display.set_mode((self.screen_size[0], height))
        pygame.display.set_caption(title)
        self.game = pygame.Surface((160, 210))

    def _text(self, text: str, x: int, y: int, color=(230, 230, 230), right: bool = False) -> None:
        rendered = self.font.render(text, True, color)
        self.surface.blit(rendered, (x - rendered.get_width() if right else x, y))

    def draw(self, rgb: np.ndarray, header: str, action: str, message: str, paused: bool) -> None:
        self.surface.fill((24, 24, 24))
        pygame.surfarray.blit_array(self.game, rgb.swapaxes(0, 1))  # (210, 160, 3) -> (160, 210, 3)
        area = self.surface.subsurface(pygame.Rect((0, self.top), self.screen_size))
        pygame.transform.scale(self.game, self.screen_size, area)
        self._text(message or header, self.pad, self.pad, (255, 220, 120) if message else (230, 230, 230))
        self._text(action, self.screen_size[0] - self.pad, self.pad, (140, 200, 255), right=True)
        y = self.top + self.screen_size[1] + self.pad
        for line in self.footer:
            self._text(line, self.pad, y, (170, 170, 170))
            y += self.font.get_linesize()
        if paused:
            shade = pygame.Surface(self.screen_size, pygame.SRCALPHA)
            shade.fill((0, 0, 0, 150))
            area.blit(shade, (0, 0))
            text = self.font.render("PAUSED - press P to play", True, (255, 255, 255))
            area.blit(text, text.get_rect(center=(self.screen_size[0] // 2, self.screen_size[1] // 2)))
        pygame.display.flip()


def _event_batches(events: Iterable[Iterable[Any]] | None) -> Iterator[list[Any]]:
    """One list of events per frame: the keyboard's, or the scripted ones posted to the same queue."""
    if events is None:
        while True:
            yield pygame.event.get()
    for batch in events:
        for event in batch:
            pygame.event.post(event)
        yield pygame.event.get()


# -- the session ---------------------------------------------------------------------------------------------


def _check_config(config: HumanRecordConfig) -> None:
    if config.episodes < 0:
        raise ValueError(f"episodes must be >= 0 (0 records until you quit), got {config.episodes}")
    if config.fps < 0:
        raise ValueError(f"fps must be >= 0 (0 runs as fast as possible), got {config.fps}")
    if not 1 <= config.scale <= 16:
        raise ValueError(f"scale must be between 1 and 16, got {config.scale}")


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
    headless = os.environ.get("SDL_VIDEODRIVER", "") in HEADLESS_DRIVERS
    if headless and events is None and max_frames is None and config.episodes == 0:
        raise ValueError(
            f"SDL_VIDEODRIVER={os.environ['SDL_VIDEODRIVER']} shows no window, so nobody can play or quit: "
            "unset it to play, or give scripted events, max_frames or a number of episodes."
        )
    env = AtariEnv(game, preset, training=False, seed=config.seed, render_mode="rgb_array")
    meanings = env.spec_.action_meanings
    out = Path(config.out)
    path_existed = out.exists()
    had_dataset = (out / DATA_DIR / METADATA_FILE).exists()
    first_seed = config.seed
    if config.append and had_dataset:
        first_seed += load_dataset(out).num_episodes  # new games, not replays of the saved ones
    natural_fps = EMULATOR_HZ / preset.frame_skip
    scores: list[float] = []
    created = False
    _open_display()
    try:
        writer = DatasetWriter(
            out,
            env.spec_,
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
        created = not had_dataset
        title = f"imitax record human: {game} ({preset.name}) -> {out}"
        window = _Window(title, config.scale, HINTS.get(game))
        keys = _key_controls()
        controls = _Controls()
        clock = pygame.time.Clock()
        steps = 0
        partial_saved = False
        started = finished = 0
        message, message_frames = "", 0
        message_length = int(2 * (config.fps or natural_fps))  # about two seconds

        def save(recording: _Recording) -> None:
            """Writes the game, marked truncated if unfinished; Ctrl-C waits until the books are kept."""
            nonlocal steps, partial_saved, message, message_frames
            cut = not recording.finished
            episode = recording.episode(cut=cut)
            with _deferred_interrupt():
                index = writer.add(episode)
                recording.saved = True
                scores.append(episode.score)
                steps += episode.num_steps
                partial_saved |= cut
            ending = "unfinished game" if cut else "game"
            message = f"{ending} saved: score {episode.score:g}, {episode.num_steps} steps"
            message_frames = message_length
            print(f"{out}: episode_{index}: {message}", flush=True)

        def new_game() -> _Recording:
            nonlocal started
            started += 1
            return _Recording(env, first_seed + started - 1, config.keep_rgb)

        recording = new_game()
        frames = 0
        stopped_by = ""
        batches = _event_batches(events)
        try:
            while True:
                if max_frames is not None and frames >= max_frames:
                    stopped_by = "max_frames"
                    break
                batch = next(batches, None)
                if batch is None:
                    stopped_by = "events"
                    break
                controls.read(batch, keys)
                if controls.quit:
                    stopped_by = "quit"
                    break
                if controls.restart:
                    if config.keep_partial and recording.steps:
                        save(recording)
                    recording = new_game()
                action = action_for_keys(controls.active, meanings)
                if not controls.paused and recording.step(action):
                    save(recording)
                    finished += 1
                    if config.episodes and finished >= config.episodes:
                        stopped_by = "episodes"
                        break
                    recording = new_game()
                total = f"/{config.episodes}" if config.episodes else ""
                header = f"{game}  episode {started}{total}  score {recording.score:g}"
                window.draw(
                    env.render(), header, meanings[action], message if message_frames else "", controls.paused
                )
                message_frames = max(0, message_frames - 1)
                frames += 1
                clock.tick(config.fps)  # 0: no limit
        except KeyboardInterrupt:
            stopped_by = "interrupted"
        # A game that ended just as Ctrl-C came is saved as finished; an unfinished one only if asked.
        if not recording.saved and (recording.finished or (config.keep_partial and recording.steps)):
            save(recording)
    finally:
        pygame.display.quit()
        if created and not scores:
            _remove_empty_dataset(out, path_existed)
    return RecordReport(
        path=out,
        episodes=len(scores),
        steps=steps,
        scores=tuple(scores),
        partial_saved=partial_saved,
        stopped_by=stopped_by,
    )
