"""The human demonstration recorder, played headless: scripted key presses go through the real loop."""

import dataclasses
import itertools

import numpy as np
import pygame
import pytest
import tyro

from imitax.data.dataset import DatasetError, load_dataset
from imitax.data.human import (
    CONTROLS,
    DisplayError,
    HumanRecordConfig,
    action_for_keys,
    record_human,
)
from imitax.envs import NATURE, AtariEnv, UnknownGameError, atari_spec

SHORT = dataclasses.replace(NATURE, max_episode_frames=80)  # 20 agent steps, then truncation
STEPS = SHORT.max_episode_steps
PONG = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE = range(6)


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


def down(key):
    return pygame.event.Event(pygame.KEYDOWN, key=key)


def up(key):
    return pygame.event.Event(pygame.KEYUP, key=key)


def script(frames, **at):
    """`frames` per-frame event lists, with the events of frame i given as at["f<i>"]."""
    return [list(at.get(f"f{i}", [])) for i in range(frames)]


def config(tmp_path, **kwargs):
    return HumanRecordConfig(out=str(tmp_path / "demos"), fps=0, scale=1, **kwargs)


# -- keyboard to actions -----------------------------------------------------------------------------------


def test_pong_keys_map_by_action_name():
    assert atari_spec("Pong", "nature").action_meanings == PONG
    cases = {
        (): NOOP,
        ("FIRE",): FIRE,
        ("RIGHT",): RIGHT,  # moves Pong's paddle up: names are read literally
        ("LEFT",): LEFT,
        ("RIGHT", "FIRE"): RIGHTFIRE,
        ("LEFT", "FIRE"): LEFTFIRE,
        ("UP",): NOOP,  # Pong has no UP
        ("DOWN",): NOOP,
        ("UP", "FIRE"): FIRE,
        ("UP", "RIGHT"): RIGHT,
        ("DOWN", "LEFT", "FIRE"): LEFTFIRE,
        ("LEFT", "RIGHT"): NOOP,  # opposite directions cancel
        ("LEFT", "RIGHT", "FIRE"): FIRE,
    }
    for held, want in cases.items():
        assert action_for_keys(set(held), PONG) == want, held


def test_missing_combinations_keep_movement_first():
    breakout = ("NOOP", "FIRE", "RIGHT", "LEFT")
    assert action_for_keys({"RIGHT", "FIRE"}, breakout) == 2
    assert action_for_keys({"FIRE"}, breakout) == 1
    no_diagonals = ("NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", "UPFIRE")
    assert no_diagonals[action_for_keys({"UP", "RIGHT"}, no_diagonals)] == "RIGHT"
    assert no_diagonals[action_for_keys({"UP", "RIGHT", "FIRE"}, no_diagonals)] == "UPFIRE"
    assert no_diagonals[action_for_keys({"DOWN", "FIRE"}, no_diagonals)] == "DOWN"
    assert action_for_keys({"UP"}, ("FIRE", "RIGHT")) == 0  # no NOOP in the set: the first action


def test_full_action_set_spells_every_combination():
    meanings = atari_spec("Pong", "machado").action_meanings
    assert len(meanings) == 18
    for size in range(len(CONTROLS) + 1):
        for held in itertools.combinations(CONTROLS, size):
            held = set(held)
            vertical = {"UP", "DOWN"} & held if len({"UP", "DOWN"} & held) == 1 else set()
            horizontal = {"LEFT", "RIGHT"} & held if len({"LEFT", "RIGHT"} & held) == 1 else set()
            name = "".join([*vertical, *horizontal, *({"FIRE"} & held)]) or "NOOP"
            assert meanings[action_for_keys(held, meanings)] == name, held


def test_unknown_control_is_an_error():
    with pytest.raises(ValueError, match="unknown controls"):
        action_for_keys({"JUMP"}, PONG)


# -- sessions ------------------------------------------------------------------------------------------------


def test_scripted_session_records_the_keys_and_the_env_frames(tmp_path):
    keys = script(
        2 * STEPS,
        f3=[down(pygame.K_RIGHT)],
        f8=[down(pygame.K_SPACE)],
        f12=[up(pygame.K_RIGHT)],
        f15=[up(pygame.K_SPACE), down(pygame.K_LEFT)],
        f22=[up(pygame.K_LEFT)],
        f25=[down(pygame.K_SPACE), up(pygame.K_SPACE)],  # a tap within one frame still counts
        f30=[down(pygame.K_UP)],  # Pong has no UP
        f33=[up(pygame.K_UP), down(pygame.K_DOWN), down(pygame.K_LEFT)],
    )
    settings = config(tmp_path, episodes=2, keep_rgb=True, player="ada")
    report = record_human(settings, events=keys, preset=SHORT)
    # The action of each of the 40 steps (two episodes), as (action, steps) runs; DOWN+LEFT acts as LEFT.
    runs = [(NOOP, 3), (RIGHT, 5), (RIGHTFIRE, 4), (FIRE, 3), (LEFT, 7)]
    runs += [(NOOP, 3), (FIRE, 1), (NOOP, 4), (NOOP, 3), (LEFT, 7)]
    want = np.repeat(*zip(*runs, strict=True))
    assert report.stopped_by == "episodes"
    assert (report.episodes, report.steps, report.partial_saved) == (2, 2 * STEPS, False)

    dataset = load_dataset(report.path)
    info = dataset.info
    assert info["source"] == {"kind": "human", "name": "ada", "details": {}}
    assert (info["fps"], info["natural_fps"], info["seed"], info["player"]) == (0, 15.0, 0, "ada")
    assert info["action_meanings"] == list(PONG)
    episodes = list(dataset.episodes(extras=True))
    assert [e.seed for e in episodes] == [0, 1]
    np.testing.assert_array_equal(np.concatenate([e.actions for e in episodes]), want)
    assert report.scores == tuple(e.score for e in episodes)

    replay = AtariEnv("Pong", SHORT, render_mode="rgb_array")
    for episode in episodes:
        np.testing.assert_array_equal(episode.labels, episode.actions)
        assert not episode.terminations.any()
        np.testing.assert_array_equal(episode.truncations, np.arange(STEPS) == STEPS - 1)
        obs, _ = replay.reset(seed=episode.seed)
        frame_numbers, rewards = [replay.ale.getEpisodeFrameNumber()], []
        np.testing.assert_array_equal(episode.frames[0], obs[-1])
        np.testing.assert_array_equal(episode.extras["rgb"][0], replay.render())
        for t, action in enumerate(episode.actions):
            obs, _, _, _, step_info = replay.step(action)
            np.testing.assert_array_equal(episode.frames[t + 1], obs[-1])
            np.testing.assert_array_equal(episode.extras["rgb"][t + 1], replay.render())
            frame_numbers.append(replay.ale.getEpisodeFrameNumber())
            rewards.append(step_info["score"])
        np.testing.assert_array_equal(episode.extras["frame_number"], frame_numbers)
        np.testing.assert_array_equal(episode.rewards, rewards)


@pytest.mark.parametrize(
    "quit_event, keep_partial",
    [
        (down(pygame.K_ESCAPE), False),
        (down(pygame.K_ESCAPE), True),
        (down(pygame.K_q), True),
        (pygame.event.Event(pygame.QUIT), True),
    ],
    ids=["escape", "escape-keep-partial", "q-keep-partial", "close-window-keep-partial"],
)
def test_quitting_mid_episode_keeps_finished_episodes(tmp_path, quit_event, keep_partial):
    keys = script(STEPS + 11, f1=[down(pygame.K_LEFT)], **{f"f{STEPS + 10}": [quit_event]})
    report = record_human(config(tmp_path, keep_partial=keep_partial), events=keys, preset=SHORT)
    assert report.stopped_by == "quit"
    dataset = load_dataset(report.path)
    lengths = [e.num_steps for e in dataset.episodes()]
    assert lengths == ([STEPS, 10] if keep_partial else [STEPS])
    assert report.partial_saved == keep_partial
    if keep_partial:
        partial = dataset.episode(1)
        np.testing.assert_array_equal(partial.truncations, np.arange(10) == 9)
        assert not partial.terminations.any()
        assert partial.frames.shape == (11, 84, 84)
        np.testing.assert_array_equal(partial.actions, [LEFT] * 10)


def test_pause_stops_the_game(tmp_path):
    # Frames 5 to 14 are paused: RIGHT pressed meanwhile acts from the first step after the pause.
    keys = script(30, f5=[down(pygame.K_p)], f10=[down(pygame.K_RIGHT)], f15=[down(pygame.K_p)])
    report = record_human(config(tmp_path, keep_partial=True), events=keys, preset=SHORT)
    assert report.stopped_by == "events"
    assert (report.episodes, report.steps) == (1, STEPS)  # 30 frames, 10 paused
    np.testing.assert_array_equal(load_dataset(report.path).episode(0).actions, [NOOP] * 5 + [RIGHT] * 15)


def test_max_frames_without_events_reads_the_keyboard(tmp_path):
    report = record_human(config(tmp_path, keep_partial=True), max_frames=STEPS + 3, preset=SHORT)
    assert report.stopped_by == "max_frames"
    assert report.steps == STEPS + 3 and report.partial_saved
    np.testing.assert_array_equal(load_dataset(report.path).episode(0).actions, [NOOP] * STEPS)


@pytest.mark.parametrize("keep_partial", [False, True])
def test_ctrl_c_keeps_finished_episodes(tmp_path, keep_partial):
    def keys():
        for _ in range(STEPS + 5):
            yield [down(pygame.K_SPACE)]
        raise KeyboardInterrupt

    report = record_human(config(tmp_path, keep_partial=keep_partial), events=keys(), preset=SHORT)
    assert report.interrupted
    lengths = [e.num_steps for e in load_dataset(report.path).episodes()]
    assert lengths == ([STEPS, 5] if keep_partial else [STEPS])


@pytest.mark.parametrize("keep_partial", [False, True])
def test_restart_starts_a_new_game(tmp_path, keep_partial):
    # R after 5 steps, then a whole game, then 3 steps; abandoned games do not count towards `episodes`.
    keys = script(5 + STEPS + 3, f5=[down(pygame.K_r)])
    report = record_human(config(tmp_path, episodes=2, keep_partial=keep_partial), events=keys, preset=SHORT)
    assert report.stopped_by == "events"
    got = [(e.seed, e.num_steps, bool(e.truncations[-1])) for e in load_dataset(report.path).episodes()]
    assert got == ([(0, 5, True), (1, STEPS, True), (2, 3, True)] if keep_partial else [(1, STEPS, True)])


def test_full_action_set_records_diagonals(tmp_path):
    keys = script(3, f0=[down(pygame.K_UP), down(pygame.K_RIGHT), down(pygame.K_SPACE)])
    report = record_human(
        config(tmp_path, env_preset="machado", keep_partial=True, env="pong"), events=keys, max_frames=3
    )
    dataset = load_dataset(report.path)
    meanings = dataset.info["action_meanings"]
    assert [meanings[a] for a in dataset.episode(0).actions] == ["UPRIGHTFIRE"] * 3


def test_append_continues_a_dataset_and_refuses_without_it(tmp_path):
    first = record_human(config(tmp_path), events=script(STEPS), preset=SHORT)
    assert first.episodes == 1
    with pytest.raises(DatasetError, match="--append"):
        record_human(config(tmp_path), events=script(STEPS), preset=SHORT)
    second = record_human(config(tmp_path, append=True), events=script(STEPS), preset=SHORT)
    assert second.episodes == 1
    dataset = load_dataset(first.path)
    assert [e.seed for e in dataset.episodes()] == [0, 1]  # appended games are new games


def test_a_session_that_saves_nothing_leaves_no_dataset(tmp_path):
    report = record_human(config(tmp_path), events=script(3, f2=[down(pygame.K_ESCAPE)]), preset=SHORT)
    assert report.episodes == 0 and report.summary() == "No episode was saved."
    assert not report.path.exists()


def test_unknown_game_suggests_names(tmp_path):
    with pytest.raises(UnknownGameError, match="Pong"):
        record_human(config(tmp_path, env="Pongg"), events=script(1))


def test_no_display_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DisplayError, match="SDL_VIDEODRIVER=dummy"):
        record_human(config(tmp_path))
    assert not (tmp_path / "demos").exists()


def test_headless_without_a_script_would_never_end(tmp_path):
    with pytest.raises(ValueError, match="nobody can play"):
        record_human(config(tmp_path))


@pytest.mark.parametrize(
    "bad, match", [({"fps": -1}, "fps"), ({"episodes": -1}, "episodes"), ({"scale": 0}, "scale")]
)
def test_config_is_checked(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        record_human(dataclasses.replace(config(tmp_path), **bad), events=script(1))


def test_config_is_a_command_line():
    parsed = tyro.cli(
        HumanRecordConfig,
        args=["--env", "Breakout", "--episodes", "3", "--keep-partial", "True"],
        config=(tyro.conf.FlagConversionOff,),
    )
    assert (parsed.env, parsed.episodes, parsed.keep_partial, parsed.fps) == ("Breakout", 3, True, 15.0)
