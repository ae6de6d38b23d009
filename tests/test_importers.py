"""Importers of public human datasets: tiny datasets in each layout, made here from real emulator screens.

The screens come from ale-py playing known actions, so the frames the environment shows for the same actions
are known: an AGC import must give `AtariEnv`'s observations bit for bit, with its rewards and its game over.
"""

from __future__ import annotations

import dataclasses
import shutil
import tarfile
from pathlib import Path

import ale_py
import cv2
import numpy as np
import pytest

from imitax.data.dataset import DatasetError, load_dataset
from imitax.data.importers import episode_gaze, import_agc, import_atari_head, import_minari
from imitax.data.screens import ALE_NTSC_GRAY, ALE_NTSC_RGB, AleGrayscale, ale_luminance, resize
from imitax.envs import NATURE, AtariEnv, UnknownGameError, atari_spec
from imitax.envs import games as game_names

# The environment with no randomness at reset: one no-op after the emulator's reset, no FIRE, no sticky
# actions. A recording that starts from the screen this reset shows is replayed step for step.
FIXED_START = dataclasses.replace(NATURE, noop_max=1, fire_reset=False)
NOOP, FIRE, UP, RIGHT, LEFT = 0, 1, 2, 3, 4


@dataclasses.dataclass
class Recording:
    """Emulator frames: screens[n] is shown before actions[n]; rewards[n] and over[n] follow it."""

    rgb: list[np.ndarray]
    gray: list[np.ndarray]
    actions: list[int]
    rewards: list[float]
    over: list[bool]


def record(game: str, actions: list[int], skip: int = 1) -> Recording:
    """Plays full-set ALE `actions` from the fixed start, each for `skip` frames, keeping one screen per
    action (a game over ends the recording, and an action early)."""
    env = AtariEnv(game, FIXED_START)
    env.reset()
    ale = env.ale
    rec = Recording([ale.getScreenRGB()], [ale.getScreenGrayscale()], [], [], [])
    for action in actions:
        reward = 0.0
        for _ in range(skip):
            reward += ale.act(ale_py.Action(action))
            if ale.game_over():
                break
        rec.actions.append(action)
        rec.rewards.append(reward)
        rec.over.append(ale.game_over())
        rec.rgb.append(ale.getScreenRGB())
        rec.gray.append(ale.getScreenGrayscale())
        if ale.game_over():
            break
    return rec


def env_run(game: str, step_actions: list[int]) -> tuple[list[np.ndarray], list[float], list[bool]]:
    """What `AtariEnv` shows for full-set actions, each over its frame skip: newest frames, rewards, ends."""
    env = AtariEnv(game, FIXED_START)
    index = {a: i for i, a in enumerate(env.spec_.action_ids)}
    obs, _ = env.reset()
    frames, rewards, ends = [obs[-1]], [], []
    for action in step_actions:
        obs, reward, terminated, truncated, _ = env.step(index[action])
        frames.append(obs[-1])
        rewards.append(reward)
        ends.append(terminated)
        if terminated or truncated:
            break
    return frames, rewards, ends


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[..., ::-1])


def write_agc(
    root: Path, folder: str, name: str, rec: Recording, last_action: int = NOOP, terminal: bool | None = None
) -> Path:
    """AGC's layout. Row n: frame n, the reward and terminal flag read before frame n is emulated (the outcome
    of row n-1's action), the score so far, the action pressed during frame n; screen n from frame 0."""
    lines = ["{'id': 1, 'score': 0}", "frame,reward,score,terminal, action"]
    score = 0
    frames = len(rec.rgb)
    for n in range(frames):
        reward = int(rec.rewards[n - 1]) if n else 0
        over = rec.over[n - 1] if n else False
        if n == frames - 1 and terminal is not None:
            over = terminal
        score += reward
        action = rec.actions[n] if n < len(rec.actions) else last_action
        lines.append(f"{n},{reward}, {score}, {over}, {action}")  # AGC's spacing
        write_png(root / "screens" / folder / name / f"{n}.png", rec.rgb[n])
    path = root / "trajectories" / folder / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def group_actions(rng: np.random.Generator, ids: list[int], steps: int, skip: int = 4) -> list[int]:
    """Frame actions constant over each group of `skip` frames, as an agent's."""
    return [int(a) for a in np.repeat(rng.choice(ids, steps), skip)]


# ---------------------------------------------------------------------------------------------------------
# Screens: ALE's grayscale from RGB.


def _palette_program() -> bytes:
    """A 4 KiB 2600 program drawing 192 lines, line y in TIA colour 2*(y + frame) mod 256: every colour
    shows within 128 frames. (VSYNC, 37 lines of VBLANK, 192 visible lines, 30 of overscan, repeat.)"""
    code = bytes.fromhex(
        "78d8a2ff9aa9008580"  # sei cld ldx #$ff txs lda #0 sta $80
        "a90285018500850285028502a9008500a225"  # frame: vblank+vsync on, 3 lines, vsync off, x=37
        "8502cad0fb"  # 37 lines of vblank
        "a9008501a680a0c0"  # vblank off, x=colour, y=192
        "86098502e8e888d0f7"  # stx colubk, sta wsync, x+=2, y-- until 0
        "a9028501a21e8502cad0fb"  # vblank on, 30 lines of overscan
        "e680e6804c09f0"  # colour += 2, jmp frame
    )
    rom = bytearray([0xEA] * 4096)
    rom[: len(code)] = code
    rom[0xFFC:0x1000] = b"\x00\xf0\x00\xf0"  # reset and break vectors
    return bytes(rom)


def test_palette_is_the_one_ale_shows(tmp_path):
    """All 128 colours, measured from ALE: a program drawing them all runs under a ROM name ALE accepts with
    a warning (its md5 differs); palette index, RGB and ALE's grayscale are read per pixel."""
    path = tmp_path / "boxing.bin"  # a game with one mode: ALE's reset does not wait on the program's RAM
    path.write_bytes(_palette_program())
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    try:
        ale.loadROM(str(path))
    except RuntimeError as err:  # a future ale-py may refuse unknown ROMs
        pytest.skip(f"ale-py refuses the palette program: {err}")
    rgb = np.zeros((128, 3), np.uint8)
    gray = np.zeros(128, np.uint8)
    seen = np.zeros(128, bool)
    for _ in range(140):
        ale.act(ale_py.Action.NOOP)
        index = ale.getScreen().reshape(-1) >> 1
        rgb[index] = ale.getScreenRGB().reshape(-1, 3)
        gray[index] = ale.getScreenGrayscale().reshape(-1)
        seen[index] = True
    assert seen.all()
    np.testing.assert_array_equal(rgb, ALE_NTSC_RGB)
    np.testing.assert_array_equal(gray, ALE_NTSC_GRAY)
    np.testing.assert_array_equal(ale_luminance(rgb), gray)


GAMES = ["Pong", "Breakout", "SpaceInvaders", "MsPacman", "Seaquest", "VideoPinball"]


@pytest.mark.parametrize("game", GAMES)
def test_rgb_screens_give_ales_grayscale_pixel_for_pixel(game):
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", 3)
    ale.loadROM(game_names.rom_path(game))
    actions = ale.getMinimalActionSet()
    rng = np.random.default_rng(0)
    to_gray = AleGrayscale(off_palette="error")
    for frame in range(600):
        ale.act(actions[rng.integers(len(actions))])
        if ale.game_over():
            ale.reset_game()
        if frame % 30 == 0:
            np.testing.assert_array_equal(to_gray(ale.getScreenRGB()), ale.getScreenGrayscale())
    assert to_gray.off_pixels == 0


def test_colours_outside_the_palette():
    off = np.array([[[64, 64, 64], [74, 74, 74]]], np.uint8)  # Javatari's colour 1, ALE's colour 1
    nearest = AleGrayscale("nearest")
    assert nearest(off).tolist() == [[74, 74]]
    assert nearest.off_pixels == 1 and nearest.off_colours == {0x404040: 1}
    assert "outside ALE's palette" in nearest.summary()
    assert AleGrayscale("luminance")(off).tolist() == [[64, 74]]
    with pytest.raises(DatasetError, match="#404040"):
        AleGrayscale("error")(off, "screen 7")
    source = ALE_NTSC_RGB.copy()
    source[1] = (64, 64, 64)
    exact = AleGrayscale("error", source_palette=source)
    assert exact(off).tolist() == [[74, 74]] and exact.off_pixels == 0


# ---------------------------------------------------------------------------------------------------------
# Atari Grand Challenge.


def test_agc_import_shows_the_environments_frames(tmp_path):
    """Pong, 102 agent steps with a point lost (reward -1), the player stopping 2 frames into a step: every
    frame, reward, action and the truncation equal what `AtariEnv` gives for the same actions; the last 2
    frames make a last, shorter step, which shows the previous observation again (as a step that a game
    over cuts short after 2 frames does)."""
    ids = list(atari_spec("Pong").action_ids)
    frame_actions = [*group_actions(np.random.default_rng(1), ids, 102), RIGHT, RIGHT]  # 2 frames left over
    rec = record("Pong", frame_actions)
    write_agc(tmp_path / "agc", "pong", "7", rec)
    report = import_agc(tmp_path / "agc", "Pong", tmp_path / "out", keep_rgb=True)

    episode = load_dataset(tmp_path / "out").episode(0, extras=True)
    frames, rewards, _ = env_run("Pong", frame_actions[::4][:102])
    assert episode.num_steps == 103 and report.steps == 103 and report.episodes == 1
    np.testing.assert_array_equal(episode.frames, np.stack([*frames, frames[-1]]))
    np.testing.assert_array_equal(episode.rewards, [*rewards, sum(rec.rewards[408:])])
    assert min(rewards) == -1  # the recording holds a reward
    np.testing.assert_array_equal(episode.actions, [ids.index(a) for a in frame_actions[::4]])
    np.testing.assert_array_equal(episode.labels, episode.actions)
    assert not episode.terminations.any() and episode.truncations[-1] and not episode.truncations[:-1].any()
    np.testing.assert_array_equal(episode.extras["frame_number"], [*(np.arange(103) * 4), 410])
    np.testing.assert_array_equal(
        episode.extras["rgb"], np.stack([*rec.rgb[: 4 * 102 + 1 : 4], rec.rgb[408]])
    )
    assert report.frames_dropped == 0 and report.truncated == 1 and report.scores == [sum(rec.rewards)]
    assert report.off_palette_pixels == 0 and report.mixed_action_steps == 0
    info = load_dataset(tmp_path / "out").info
    assert info["source"]["kind"] == "import" and info["source"]["name"] == "agc"
    assert info["game"] == "Pong" and info["preset"]["name"] == "nature"


def source_rows(path: Path, header_lines: int) -> list[list[str]]:
    """The comma-separated fields of a label file's rows, as the dataset holds them."""
    return [[f.strip() for f in line.split(",")] for line in path.read_text().splitlines()[header_lines:]]


def test_agc_episode_keeps_every_decision_and_the_score(tmp_path):
    """Pong, no-ops until the first point is lost on the 3rd frame of step 63, where the player quits
    (terminal stays False): the last step, of 3 frames, keeps that point, so the return is the trajectory's
    score, and the episode is truncated."""
    rec = record("Pong", [NOOP] * 255)
    assert rec.rewards.index(-1) == 254 and not any(rec.over)
    path = write_agc(tmp_path / "agc", "pong", "4", rec)
    rows = source_rows(path, 2)  # frame, reward, score, terminal, action
    score = float(rows[-1][2])
    assert score == sum(float(row[1]) for row in rows) == -1 and rows[-1][3] == "False"
    report = import_agc(tmp_path / "agc", "Pong", tmp_path / "out")

    episode = load_dataset(tmp_path / "out").episode(0)
    assert episode.num_steps == 64 and episode.score == score and report.scores == [score]
    assert episode.truncations[-1] and not episode.terminations.any() and report.truncated == 1
    frames, _, _ = env_run("Pong", [NOOP] * 63)
    np.testing.assert_array_equal(episode.frames[:64], np.stack(frames))
    np.testing.assert_array_equal(episode.frames[64], resize(rec.gray[255], 84))  # 3 frames in: the third
    assert report.frames_dropped == 0


@pytest.mark.parametrize("seed, frames_into_last_step", [(7, 1), (0, 3)])
def test_agc_game_over_ends_the_episode_like_the_environment(tmp_path, seed, frames_into_last_step):
    """Breakout, serving and moving until the last life is lost. The game ends 1 (or 3) frames into a step,
    which `AtariEnv` ends early, showing the previous max-pooled frame again (or the third frame alone);
    the import does the same."""
    frame_actions = [FIRE] * 8 + group_actions(np.random.default_rng(seed), [FIRE, RIGHT, LEFT], 400)
    rec = record("Breakout", frame_actions)
    assert rec.over[-1] and len(rec.actions) % 4 == frames_into_last_step
    write_agc(tmp_path / "agc", "breakout", "3", rec)
    report = import_agc(tmp_path / "agc", "breakout", tmp_path / "out")

    episode = load_dataset(tmp_path / "out").episode(0)
    frames, rewards, ends = env_run("Breakout", frame_actions[::4])
    assert ends[-1] and episode.terminations[-1] and not episode.truncations.any()
    assert episode.num_steps == len(frames) - 1
    np.testing.assert_array_equal(episode.frames, np.stack(frames))
    np.testing.assert_array_equal(episode.rewards, rewards)
    assert sum(rewards) > 0 and report.terminated == 1 and report.frames_dropped == 0


def test_agc_step_takes_its_first_frames_action(tmp_path):
    frame_actions = [RIGHT, RIGHT, LEFT, LEFT] + [FIRE] * 4 + [NOOP] * 4
    write_agc(tmp_path / "agc", "pong", "1", record("Pong", frame_actions))
    report = import_agc(tmp_path / "agc", None, tmp_path / "out")  # the only game present
    meanings = atari_spec("Pong").action_meanings
    actions = load_dataset(tmp_path / "out").episode(0).actions
    assert [meanings[a] for a in actions] == ["RIGHT", "FIRE", "NOOP"]
    assert report.mixed_action_steps == 1


def test_agc_action_the_game_lacks(tmp_path):
    frame_actions = [RIGHT] * 4 + [UP] * 4 + [NOOP] * 4  # Pong's minimal set has no UP
    rec = record("Pong", frame_actions)
    write_agc(tmp_path / "agc", "pong", "5", rec)
    lacks = r"5\.txt:7: trajectory 5, frame 4: action 2 \(UP\) is not in Pong's"
    with pytest.raises(DatasetError, match=lacks):
        import_agc(tmp_path / "agc", "Pong", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    report = import_agc(tmp_path / "agc", "Pong", tmp_path / "noop", unknown_action="noop")
    assert report.unknown_actions == {"UP": 1} and load_dataset(tmp_path / "noop").episode(0).actions[1] == 0
    full = import_agc(tmp_path / "agc", "Pong", tmp_path / "machado", preset="machado")
    assert full.unknown_actions == {} and load_dataset(tmp_path / "machado").episode(0).actions[1] == UP


def test_agc_nearest_action_and_a_progress_bar(tmp_path):
    UPRIGHT, DOWNFIRE = 6, 13  # Pong has neither: the nearest keep RIGHT, and FIRE
    write_agc(tmp_path / "agc", "pong", "1", record("Pong", [RIGHT] * 4 + [UPRIGHT] * 4 + [DOWNFIRE] * 4))
    report = import_agc(tmp_path / "agc", "Pong", tmp_path / "out", unknown_action="nearest", progress=True)
    meanings = atari_spec("Pong").action_meanings
    actions = load_dataset(tmp_path / "out").episode(0).actions
    assert [meanings[a] for a in actions] == ["RIGHT", "RIGHT", "FIRE"]
    assert report.unknown_actions == {"UPRIGHT": 1, "DOWNFIRE": 1}


def test_agc_errors_name_the_problem(tmp_path):
    root = tmp_path / "agc"
    path = write_agc(root, "pong", "2", record("Pong", [RIGHT] * 12))
    with pytest.raises(UnknownGameError, match="Did you mean Pong"):
        import_agc(root, "Pongg", tmp_path / "out")
    with pytest.raises(DatasetError, match="has no folder for Breakout"):
        import_agc(root, "Breakout", tmp_path / "out")
    with pytest.raises(DatasetError, match="trajectories is missing"):
        import_agc(tmp_path / "nothing", "Pong", tmp_path / "out")
    with pytest.raises(DatasetError, match=r"no trajectories \['9'\]"):
        import_agc(root, "Pong", tmp_path / "out", trajectories=["9"])

    good = path.read_text()
    lines = good.splitlines()
    lines[5] = "3,0, 0, Maybe, 3"
    path.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match=r"2\.txt:6: expected 'frame,reward,score,terminal,action'"):
        import_agc(root, "Pong", tmp_path / "out")
    lines[5] = "4,0, 0, False, 3"
    path.write_text("\n".join(lines))
    with pytest.raises(DatasetError, match=r"2\.txt:6: frame 4 where frame 3 was expected"):
        import_agc(root, "Pong", tmp_path / "out")
    path.write_text(good)

    (root / "screens" / "pong" / "2" / "7.png").unlink()
    with pytest.raises(DatasetError, match=r"trajectory 2: screen .*/2/7\.png is missing"):
        import_agc(root, "Pong", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_agc_never_leaves_half_a_dataset(tmp_path):
    root = tmp_path / "agc"
    write_agc(root, "pong", "1", record("Pong", [RIGHT] * 8))
    write_agc(root, "pong", "2", record("Pong", [LEFT] * 8))
    (root / "screens" / "pong" / "2" / "8.png").write_bytes(b"not a png")  # found only when decoded
    with pytest.raises(DatasetError, match=r"8\.png cannot be read"):
        import_agc(root, "Pong", tmp_path / "new" / "out")
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        import_agc(root, "Pong", tmp_path / "empty")
    assert (tmp_path / "empty").exists() and not any((tmp_path / "empty").iterdir())

    import_agc(root, "Pong", tmp_path / "kept", trajectories=["1"])
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "kept").rglob("*"))
    with pytest.raises(DatasetError, match="already holds a dataset"):
        import_agc(root, "Pong", tmp_path / "kept", trajectories=["1"])
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "kept").rglob("*")) == before


def test_agc_progress_and_off_palette_screens(tmp_path):
    rec = record("Pong", [RIGHT] * 8)
    javatari = rec.rgb[3].copy()
    javatari[(javatari == (236, 236, 236)).all(-1)] = (244, 244, 244)  # Javatari's colour 7 is brighter
    rec.rgb[3] = javatari
    write_agc(tmp_path / "agc", "pong", "1", rec)
    calls = []
    report = import_agc(tmp_path / "agc", "Pong", tmp_path / "out", progress=lambda *c: calls.append(c))
    assert calls[-1][0] == calls[-1][1] == 5  # screens 0, 3, 4, 7, 8
    assert report.off_palette_pixels == (rec.rgb[3] == (244, 244, 244)).all(-1).sum() > 0
    assert any("outside ALE's palette" in w for w in report.warnings)
    frames, _, _ = env_run("Pong", [RIGHT, RIGHT])
    np.testing.assert_array_equal(load_dataset(tmp_path / "out").episode(0).frames, np.stack(frames))


# ---------------------------------------------------------------------------------------------------------
# Atari-HEAD.


def write_atari_head(folder: Path, stem: str, episodes: list[tuple[Recording, str]], archive: bool) -> Path:
    """A trial in Atari-HEAD's layout: one row and one PNG per decision; episodes one after the other."""
    lines = ["frame_id,episode_id,score,duration(ms),unclipped_reward,action,gaze_positions"]
    frames = folder / stem
    number = 0
    for rec, episode_id in episodes:
        score = 0
        for i, action in enumerate(rec.actions):
            number += 1
            frame_id = f"RZ_2464601_{number}"
            write_png(frames / f"{frame_id}.png", rec.rgb[i])
            score += int(rec.rewards[i])
            gaze = (
                "null"
                if number % 3 == 0
                else ",".join(f"{80 + number + k * 0.5},{100.25 + k}" for k in range(number % 4 + 1))
            )
            lines.append(
                f"{frame_id},{episode_id},{score if episode_id != 'null' else 'null'},"
                f"{50 + number},{int(rec.rewards[i])},{action},{gaze}"
            )
    label = folder / f"{stem}.txt"
    label.write_text("\n".join(lines) + "\n")
    if archive:
        with tarfile.open(folder / f"{stem}.tar.bz2", "w:bz2") as tar:
            tar.add(frames, arcname=stem)
        shutil.rmtree(frames)
    return label


@pytest.mark.parametrize("archive", [False, True])
def test_atari_head_import(tmp_path, archive):
    """Breakout decisions at 4 frames each until the game ends, then a new game the trial's end cuts off."""
    rng = np.random.default_rng(3)
    first = record("Breakout", [int(a) for a in rng.choice([FIRE, RIGHT, LEFT], 200)], skip=4)
    second = record("Breakout", [FIRE, RIGHT, RIGHT, LEFT, NOOP], skip=4)
    assert first.over[-1]
    folder = tmp_path / "breakout"
    folder.mkdir()
    label = write_atari_head(folder, "100_RZ_2464601_Aug-11-10-18-09", [(first, "0"), (second, "1")], archive)
    report = import_atari_head(folder if archive else label, tmp_path / "out")  # game from the folder's name

    dataset = load_dataset(tmp_path / "out")
    assert dataset.info["game"] == "Breakout" and report.episodes == 2
    one, two = dataset.episode(0, extras=True), dataset.episode(1, extras=True)
    n = len(first.actions)
    assert one.num_steps == n and one.terminations[-1] and not one.truncations.any()
    seen = [resize(g, 84) for g in first.gray[:n]]  # screens shown at decisions; after the game over: none
    np.testing.assert_array_equal(one.frames, np.stack([*seen, seen[-1]]))
    np.testing.assert_array_equal(one.rewards, first.rewards)
    meanings = atari_spec("Breakout").action_meanings
    assert [meanings[a] for a in one.actions] == [ale_py.Action(a).name for a in first.actions]
    np.testing.assert_array_equal(one.extras["frame_number"], np.arange(1, n + 2))
    gaze = episode_gaze(one.extras)
    assert len(gaze) == n and gaze[0].tolist() == [[81.0, 100.25], [81.5, 101.25]]
    assert gaze[2].shape == (0, 2)  # null
    assert one.extras["duration_ms"][0] == 51
    assert two.num_steps == 5 and two.truncations[-1] and not two.terminations.any()
    shown = [resize(g, 84) for g in second.gray[:5]]  # the screen after the trial's last decision: none
    np.testing.assert_array_equal(two.frames, np.stack([*shown, shown[-1]]))
    assert report.terminated == 1 and report.truncated == 1 and report.frames_dropped == 0
    assert any("single screens" in w for w in report.warnings)


def test_atari_head_rows_as_emulator_frames(tmp_path):
    """With frames_per_row=1 the rows are emulator frames, max-pooled like AGC's: the environment's frames."""
    ids = list(atari_spec("Pong").action_ids)
    frame_actions = [*group_actions(np.random.default_rng(5), ids, 20), NOOP]
    rec = record("Pong", frame_actions)
    folder = tmp_path / "pong"
    folder.mkdir()
    label = write_atari_head(folder, "3_KM_1_Jan-1", [(rec, "0")], archive=False)
    report = import_atari_head(label, tmp_path / "out", frames_per_row=1)
    frames, rewards, _ = env_run("Pong", frame_actions[::4][:20])
    episode = load_dataset(tmp_path / "out").episode(0, extras=True)
    # The last row (a NOOP) is a step of 1 frame: the previous observation again, as a 1-frame game over.
    np.testing.assert_array_equal(episode.frames, np.stack([*frames, frames[-1]]))
    np.testing.assert_array_equal(episode.rewards, [*rewards, rec.rewards[80]])
    assert episode.truncations[-1] and report.warnings == [] and report.frames_dropped == 0
    # Frame ids from 1; the last row's screen is followed by none (its number is the next frame's).
    np.testing.assert_array_equal(episode.extras["frame_number"], [*(4 * np.arange(21) + 1), 82])
    assert len(episode_gaze(episode.extras)) == 21


@pytest.mark.parametrize("frames_per_row, rows", [(4, 64), (1, 255)])
def test_atari_head_trial_cut_mid_game_keeps_its_last_decision(tmp_path, frames_per_row, rows):
    """Pong no-ops until the first point is lost, on the trial's last row (its reward is that decision's
    outcome): the return is the score the trial's rows give, and the episode, cut by the trial's end, is
    truncated."""
    rec = record("Pong", [NOOP] * rows, skip=frames_per_row)
    assert rec.rewards[-1] == -1 and sum(rec.rewards) == -1 and not any(rec.over)
    folder = tmp_path / "pong"
    folder.mkdir()
    label = write_atari_head(folder, "9_KM_1_Jan-1", [(rec, "0")], archive=False)
    fields = source_rows(label, 1)  # frame_id, episode_id, score, duration(ms), unclipped_reward, action, ...
    score = float(fields[-1][2])
    assert score == sum(float(row[4]) for row in fields) == -1
    report = import_atari_head(label, tmp_path / "out", frames_per_row=frames_per_row)

    episode = load_dataset(tmp_path / "out").episode(0)
    assert episode.num_steps == 64 and episode.score == score and report.scores == [score]
    assert episode.truncations[-1] and not episode.terminations.any() and report.truncated == 1
    assert report.frames_dropped == 0
    if frames_per_row == 4:  # one screen per decision; the screen after the last one was not kept
        shown = [resize(g, 84) for g in rec.gray[:64]]
        np.testing.assert_array_equal(episode.frames, np.stack([*shown, shown[-1]]))


def test_atari_head_errors(tmp_path):
    folder = tmp_path / "trials"
    folder.mkdir()
    rec = record("Pong", [RIGHT, LEFT, FIRE, RIGHT], skip=4)
    label = write_atari_head(folder, "7_RZ_1_Aug-1", [(rec, "null")], archive=False)
    with pytest.raises(DatasetError, match="pass game="):
        import_atari_head(label, tmp_path / "out")
    report = import_atari_head(label, tmp_path / "out", game="pong")
    assert report.episodes == 1 and report.truncated == 1
    with pytest.raises(ValueError, match="frames_per_row must divide"):
        import_atari_head(label, tmp_path / "out3", game="pong", frames_per_row=3)
    good = label.read_text()
    label.write_text(good.replace(",3,", ",x,", 1))
    with pytest.raises(DatasetError, match=r"7_RZ_1_Aug-1\.txt:\d: expected 'frame_id,"):
        import_atari_head(label, tmp_path / "out2", game="pong")
    label.write_text(good)
    next((folder / "7_RZ_1_Aug-1").glob("*_2.png")).unlink()
    with pytest.raises(DatasetError, match=r"screen .*RZ_2464601_2\.png is missing"):
        import_atari_head(label, tmp_path / "out2", game="pong")
    with pytest.raises(DatasetError, match="does not exist"):
        import_atari_head(tmp_path / "nope.txt", tmp_path / "out2", game="pong")

    # In an archive a missing screen is found only while reading: nothing written is left behind.
    with tarfile.open(folder / "7_RZ_1_Aug-1.tar.bz2", "w:bz2") as tar:
        tar.add(folder / "7_RZ_1_Aug-1", arcname="7_RZ_1_Aug-1")
    shutil.rmtree(folder / "7_RZ_1_Aug-1")
    with pytest.raises(DatasetError, match=r"tar\.bz2: screen RZ_2464601_2\.png is missing"):
        import_atari_head(label, tmp_path / "new" / "out2", game="pong")
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------------------------------------------------
# Minari.


def collect_minari(
    tmp_path: Path, monkeypatch, jpeg: bool, obs_type: str = "rgb", steps: int = 120, seed: int = 4
):
    """A Minari dataset made by DataCollector on ALE/Pong-v5 at frame skip 1, random actions held for 4
    frames (the last held for what is left of `steps`); also returns ALE's grayscale of every recorded
    screen and the actions (full-set ids)."""
    import gymnasium as gym
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    gym.register_envs(ale_py)
    env = minari.DataCollector(
        gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0, obs_type=obs_type),
        jpeg_encoding=jpeg,
    )
    env.reset(seed=0)
    ale = env.unwrapped.ale
    ids = [a.value for a in ale.getMinimalActionSet()]
    grays, actions = [ale.getScreenGrayscale()], []
    rng = np.random.default_rng(seed)
    for index in np.repeat(rng.integers(0, len(ids), -(-steps // 4)), 4)[:steps]:
        env.step(int(index))
        grays.append(ale.getScreenGrayscale())
        actions.append(ids[index])
    env.create_dataset(
        dataset_id="test/pong-v0",
        algorithm_name="random",
        author="tests",
        author_email="tests@example.com",
        code_permalink="none",
        description="test",
    )
    return grays, actions


QUIET_MINARI = pytest.mark.filterwarnings("ignore:`eval_env` is set to None:UserWarning")


@QUIET_MINARI
def test_minari_import_max_pools_like_the_environment(tmp_path, monkeypatch):
    grays, actions = collect_minari(tmp_path, monkeypatch, jpeg=False)
    report = import_minari("test/pong-v0", tmp_path / "out", "Pong")  # a dataset id
    episode = load_dataset(tmp_path / "out").episode(0)
    expected = [resize(grays[0], 84)] + [
        resize(np.maximum(grays[4 * t + 3], grays[4 * t + 4]), 84) for t in range(len(actions) // 4)
    ]
    np.testing.assert_array_equal(episode.frames, np.stack(expected))
    ids = list(atari_spec("Pong").action_ids)
    np.testing.assert_array_equal(episode.actions, [ids.index(a) for a in actions[::4]])
    assert episode.truncations[-1] and report.off_palette_pixels == 0 and report.warnings == []


@QUIET_MINARI
def test_minari_recording_that_stops_inside_a_step_keeps_its_reward(tmp_path, monkeypatch):
    """A point won on the recording's last frame, 3 frames into a step: that last, shorter step keeps it
    (the return is the recording's score) and shows its third screen alone, as the environment would."""
    import minari

    grays, _ = collect_minari(tmp_path, monkeypatch, jpeg=False, steps=307, seed=3)
    rewards = next(minari.load_dataset("test/pong-v0").iterate_episodes()).rewards
    assert rewards[-1] == 1 and rewards.sum() == 1
    report = import_minari("test/pong-v0", tmp_path / "out", "Pong")
    episode = load_dataset(tmp_path / "out").episode(0)
    assert episode.num_steps == 77 and episode.score == rewards.sum() and report.scores == [1]
    assert episode.truncations[-1] and not episode.terminations.any() and report.frames_dropped == 0
    np.testing.assert_array_equal(episode.frames[-1], resize(grays[307], 84))


@QUIET_MINARI
def test_minari_import_of_an_imitax_dataset_copies_it(tmp_path):
    rec = record("Pong", group_actions(np.random.default_rng(6), list(atari_spec("Pong").action_ids), 10))
    write_agc(tmp_path / "agc", "pong", "1", rec)
    import_agc(tmp_path / "agc", "Pong", tmp_path / "first")
    report = import_minari(tmp_path / "first", tmp_path / "copy", "pong")
    first, copy = load_dataset(tmp_path / "first").episode(0), load_dataset(tmp_path / "copy").episode(0)
    for name in ("frames", "actions", "labels", "rewards", "terminations", "truncations"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(first, name))
    assert report.warnings == [] and report.episodes == 1
    import_agc(tmp_path / "agc", "Pong", tmp_path / "full", preset="machado")
    with pytest.raises(DatasetError, match="cannot be used with Pong under preset 'nature'"):
        import_minari(tmp_path / "full", tmp_path / "copy2", "Pong")


@QUIET_MINARI
def test_minari_jpeg_and_unsupported_observations(tmp_path, monkeypatch):
    collect_minari(tmp_path, monkeypatch, jpeg=True, steps=16)
    report = import_minari(tmp_path / "minari" / "test" / "pong-v0", tmp_path / "out", "Pong")
    assert any("JPEG" in w for w in report.warnings) and report.off_palette_pixels > 0
    with pytest.raises(DatasetError, match="recorded on Pong, not Breakout"):
        import_minari("test/pong-v0", tmp_path / "out2", "Breakout")
    shutil.rmtree(tmp_path / "minari")
    collect_minari(tmp_path, monkeypatch, jpeg=False, obs_type="ram", steps=8)
    with pytest.raises(DatasetError, match=r"observations of shape \(128,\) are not supported"):
        import_minari("test/pong-v0", tmp_path / "out3", "Pong")
    with pytest.raises(DatasetError, match="no Minari dataset"):
        import_minari("test/none-v0", tmp_path / "out3", "Pong")
