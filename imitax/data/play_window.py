"""The window a person plays an Atari game in: it shows the game, reads the keyboard, turns the held keys
into one of the game's actions, and keeps the pace. `imitax.data.human` records what is played in it.

Keys: the arrow keys move, SPACE fires, P pauses, R abandons the current game and starts a new one,
ESC or Q (or closing the window) quits. The held keys form an ALE action name, read literally: the
right arrow means the game's RIGHT action, whatever RIGHT does on screen. In Pong RIGHT moves the paddle
up and LEFT moves it down (the window says so), and Pong's minimal action set has no UP or DOWN at all.
See `action_for_keys` for how a combination the game lacks falls back.

Testing without a screen: with SDL_VIDEODRIVER=dummy the window exists only in memory, and a
`PlayWindow` given `events` reads one list of pygame events per displayed frame from them, posting them to
pygame's event queue before reading it, so scripted key presses go through the same path as a person's.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame

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
class Controls:
    """The keyboard's state between frames, and what this frame's events asked for."""

    held: set[str] = dataclasses.field(default_factory=set)
    tapped: set[str] = dataclasses.field(default_factory=set)  # pressed during this frame
    paused: bool = False
    quit: bool = False
    restart: bool = False

    def read(self, events: Iterable[Any], keys: dict[int, str]) -> None:
        """Updates the state with one frame's pygame events; `keys` maps key codes to `CONTROLS`."""
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


def _event_batches(events: Iterable[Iterable[Any]] | None) -> Iterator[list[Any]]:
    """One list of events per frame: the keyboard's, or the scripted ones posted to the same queue."""
    if events is None:
        while True:
            yield pygame.event.get()
    for batch in events:
        for event in batch:
            pygame.event.post(event)
        yield pygame.event.get()


# -- the display ---------------------------------------------------------------------------------------------


def headless_requested() -> bool:
    """Whether SDL_VIDEODRIVER asks for a driver that draws nowhere (a window nobody can play in)."""
    return os.environ.get("SDL_VIDEODRIVER", "") in HEADLESS_DRIVERS


def open_display() -> None:
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


def close_display() -> None:
    """Closes the window and pygame's display (started by `open_display`)."""
    pygame.display.quit()


class _Screen:
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
        """Shows one frame: the (210, 160, 3) screen, the header (or a message instead), the action."""
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


# -- the window, frame by frame ------------------------------------------------------------------------------


class PlayWindow:
    """The window a game is played in, one frame at a time: `read_controls`, then `action`, then `show`.

    Opens on construction; `open_display` must have started pygame's display, and `close_display` closes
    the window.
    """

    def __init__(
        self,
        title: str,
        *,
        scale: int,
        hint: str | None,
        meanings: Sequence[str],
        fps: float,
        natural_fps: float,
        events: Iterable[Iterable[Any]] | None = None,
    ):
        """`fps` frames a second (0: as fast as possible; `natural_fps` is the game's own pace), one list of
        scripted pygame `events` per frame instead of the keyboard when given."""
        self._screen = _Screen(title, scale, hint)
        self._meanings = meanings
        self._keys = _key_controls()
        self._controls = Controls()
        self._clock = pygame.time.Clock()
        self._fps = fps
        self._batches = _event_batches(events)
        self._message, self._message_frames = "", 0
        self._message_length = int(2 * (fps or natural_fps))  # about two seconds

    def read_controls(self) -> Controls | None:
        """Reads this frame's events: the controls as they now stand, or None once scripted events ran out.
        A KeyboardInterrupt raised by the scripted events comes through."""
        batch = next(self._batches, None)
        if batch is None:
            return None
        self._controls.read(batch, self._keys)
        return self._controls

    def action(self) -> int:
        """The game's action (index into `meanings`) the controls read last ask for."""
        return action_for_keys(self._controls.active, self._meanings)

    def flash(self, message: str) -> None:
        """Shows `message` instead of the header for about two seconds."""
        self._message, self._message_frames = message, self._message_length

    def show(self, rgb: np.ndarray, header: str, action: int) -> None:
        """Draws the frame (the game's (210, 160, 3) screen, `header`, the action's name), then waits until
        it is time for the next one."""
        message = self._message if self._message_frames else ""
        self._screen.draw(rgb, header, self._meanings[action], message, self._controls.paused)
        self._message_frames = max(0, self._message_frames - 1)
        self._clock.tick(self._fps)  # 0: no limit
