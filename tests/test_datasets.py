"""Demonstration datasets: the Minari layout, lossless frames, the replay's demonstration partition,
preset checks, info and verify (damaged files included)."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import minari
import numpy as np
import pytest

from imitax.data.dataset import DatasetError, DatasetWriter, Episode, Source, load_dataset
from imitax.data.inspect import dataset_info, repair_truncated, verify_dataset
from imitax.data.replay_loader import load_demonstrations, rows_needed
from imitax.envs import MACHADO, NATURE, AtariEnv, atari_spec
from imitax.replay import ReplayConfig, make_replay

SHORT = dataclasses.replace(NATURE, max_episode_frames=4 * 150)  # truncated after 150 steps


def play(env: AtariEnv, seed: int, steps: int, rng: np.random.Generator):
    """Random play; returns the episode and the full stacks the agent saw."""
    obs, _ = env.reset(seed=seed)
    stacks, frames, numbers = [obs], [obs[-1]], [env.ale.getEpisodeFrameNumber()]
    actions, rewards, terms, truncs = [], [], [], []
    for _ in range(steps):
        action = int(rng.integers(env.spec_.num_actions))
        obs, _, terminated, truncated, info = env.step(action)
        stacks.append(obs)
        frames.append(obs[-1])
        numbers.append(env.ale.getEpisodeFrameNumber())
        actions.append(action)
        rewards.append(info["score"])
        terms.append(terminated)
        truncs.append(truncated)
        if terminated or truncated:
            break
    truncs[-1] = truncs[-1] or not terms[-1]
    episode = Episode(
        frames=np.array(frames),
        actions=np.array(actions),
        labels=(np.array(actions) + 1) % 6,
        rewards=np.array(rewards),
        terminations=np.array(terms),
        truncations=np.array(truncs),
        extras={"frame_number": np.array(numbers)},
        seed=seed,
    )
    return episode, np.array(stacks)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("demos") / "pong"
    env = AtariEnv("Pong", SHORT)
    writer = DatasetWriter(path, env.spec_, Source("expert", "random", {"note": "test"}), {"seed": 0})
    rng = np.random.default_rng(0)
    episodes, stacks = [], []
    for seed in range(3):
        episode, seen = play(env, seed, 200, rng)
        writer.add(episode)
        episodes.append(episode)
        stacks.append(seen)
    return path, episodes, stacks


def test_roundtrip_is_lossless(recorded):
    path, episodes, _ = recorded
    dataset = load_dataset(path)
    assert dataset.num_episodes == 3
    assert dataset.total_steps == sum(e.num_steps for e in episodes)
    for want, got in zip(episodes, dataset.episodes(extras=True), strict=True):
        for field in ("frames", "actions", "labels", "rewards", "terminations", "truncations"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        np.testing.assert_array_equal(got.extras["frame_number"], want.extras["frame_number"])
        assert got.seed == want.seed


def test_minari_reads_it(recorded):
    path, episodes, _ = recorded
    data = minari.MinariDataset(path / "data")
    assert data.total_episodes == 3
    first = next(iter(data.iterate_episodes()))
    np.testing.assert_array_equal(first.observations, episodes[0].frames)
    np.testing.assert_array_equal(first.actions, episodes[0].actions)


def test_metadata_records_preset_source_and_actions(recorded):
    path, _, _ = recorded
    info = load_dataset(path).info
    assert info["game"] == "Pong"
    assert info["preset"]["frame_skip"] == 4 and info["preset"]["noop_max"] == 30
    assert info["action_meanings"] == ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]
    assert info["source"] == {"kind": "expert", "name": "random", "details": {"note": "test"}}
    assert info["versions"]["ale-py"]


def test_frames_compress_well(recorded):
    path, _, _ = recorded
    assert dataset_info(load_dataset(path))["disk_bytes_per_step"] < 2_000


def test_refuses_to_overwrite(recorded):
    path, _, _ = recorded
    with pytest.raises(DatasetError, match="already holds a dataset"):
        DatasetWriter(path, atari_spec("Pong"), Source("human", "x"))


def test_append_needs_the_same_game(recorded, tmp_path):
    path, _, _ = recorded
    with pytest.raises(DatasetError, match="game: dataset has Pong, environment is Breakout"):
        DatasetWriter(path, atari_spec("Breakout"), Source("human", "x"), append=True)


def test_demonstrations_fill_the_replay_as_the_agent_saw_them(recorded):
    path, episodes, stacks = recorded
    dataset = load_dataset(path)
    spec = atari_spec("Pong", NATURE, training=True)
    replay = make_replay(
        ReplayConfig(
            capacity=0,
            demo_capacity=rows_needed(dataset),
            batch_size=8,
            n_step=3,
            discount=0.9,
            demo_fraction=1.0,
        ),
        spec,
        num_envs=1,
    )
    state = load_demonstrations(dataset, replay, replay.init(), spec)
    rows = jnp.arange(rows_needed(dataset))
    valid = np.asarray(replay.is_valid(state, rows))
    batch = replay.gather(state, rows[valid])
    expected_obs, expected_next, expected_labels, expected_rewards = [], [], [], []
    for episode, seen in zip(episodes, stacks, strict=True):
        expected_obs.extend(seen[:-1])
        expected_next.extend(seen[1:])
        expected_labels.extend(episode.labels)
        expected_rewards.extend(np.sign(episode.rewards))  # the training preset clips
    np.testing.assert_array_equal(batch.obs_tm1, np.array(expected_obs))
    np.testing.assert_array_equal(batch.obs_t, np.array(expected_next))
    np.testing.assert_array_equal(batch.label_tm1, expected_labels)
    np.testing.assert_array_equal(batch.reward_t, expected_rewards)
    assert bool(batch.is_demo.all())
    sample = jax.jit(replay.sample)(state, jax.random.key(0))
    assert bool(sample.is_demo.all())


def test_machado_training_converts_the_minimal_action_set(recorded):
    path, episodes, _ = recorded
    dataset = load_dataset(path)
    spec = atari_spec("Pong", MACHADO, training=True)  # full action set: a documented conversion
    replay = make_replay(
        ReplayConfig(capacity=0, demo_capacity=rows_needed(dataset), batch_size=8, demo_fraction=1.0),
        spec,
        num_envs=1,
    )
    state = load_demonstrations(dataset, replay, replay.init(), spec)
    position = {a: i for i, a in enumerate(spec.action_ids)}
    minimal = dataset.info["action_ids"]
    first = episodes[0].actions
    np.testing.assert_array_equal(state.actions[: len(first)], [position[minimal[a]] for a in first])


def test_incompatible_presets_and_small_partitions_are_clear_errors(recorded, tmp_path):
    path, _, _ = recorded
    dataset = load_dataset(path)
    skip3 = atari_spec("Pong", dataclasses.replace(NATURE, name="skip3", frame_skip=3), training=True)
    replay = make_replay(
        ReplayConfig(capacity=0, demo_capacity=10_000, batch_size=8, demo_fraction=1.0), skip3, 1
    )
    with pytest.raises(DatasetError, match="frame_skip: dataset has 4"):
        load_demonstrations(dataset, replay, replay.init(), skip3)
    spec = atari_spec("Pong", NATURE, training=True)
    small = make_replay(ReplayConfig(capacity=0, demo_capacity=100, batch_size=8, demo_fraction=1.0), spec, 1)
    with pytest.raises(DatasetError, match=f"demo_capacity to at least {rows_needed(dataset):,}"):
        load_demonstrations(dataset, small, small.init(), spec)
    # A full-action-set dataset cannot train a minimal-set agent when it used actions the game lacks.
    machado_path = tmp_path / "machado"
    env = AtariEnv("Pong", dataclasses.replace(MACHADO, max_episode_frames=40))
    writer = DatasetWriter(machado_path, env.spec_, Source("human", "x"))
    episode, _ = play(env, 0, 10, np.random.default_rng(3))
    writer.add(
        episode._replace(actions=np.full_like(episode.actions, 2), labels=np.full_like(episode.labels, 2))
    )
    with pytest.raises(DatasetError, match="not in the environment's action set"):
        load_demonstrations(load_dataset(machado_path), replay, replay.init(), spec)


def test_info_summarises(recorded):
    path, episodes, _ = recorded
    info = dataset_info(load_dataset(path))
    assert info["episodes"] == 3
    assert info["steps"] == sum(e.num_steps for e in episodes)
    assert info["return_mean"] == pytest.approx(np.mean([e.score for e in episodes]))
    assert sum(info["actions"].values()) == info["steps"]
    assert info["preset"] == "nature" and info["source"]["kind"] == "expert"


def test_verify_passes_a_sound_dataset(recorded):
    report = verify_dataset(recorded[0])
    assert report.ok, report.problems
    assert report.sound == [0, 1, 2]


def test_verify_names_a_damaged_episode_and_keeps_the_rest(recorded, tmp_path):
    import shutil

    import h5py

    path = tmp_path / "damaged"
    shutil.copytree(recorded[0], path)
    data_file = path / "data" / "main_data.hdf5"
    with h5py.File(data_file, "r") as file:
        offset = file["episode_1"]["observations"].id.get_chunk_info(0).byte_offset
    raw = bytearray(data_file.read_bytes())
    raw[offset + 100 : offset + 164] = bytes(64)  # flip bytes inside episode 1's first frames
    data_file.write_bytes(bytes(raw))
    report = verify_dataset(path)
    assert not report.ok
    assert report.sound == [0, 2]
    assert any(p.startswith("episode 1: cannot be read") for p in report.problems)
    dataset = load_dataset(path)
    np.testing.assert_array_equal(dataset.episode(2).frames, recorded[1][2].frames)
    with pytest.raises(DatasetError, match="episode 1 cannot be read"):
        dataset.episode(1)


def test_verify_and_repair_a_truncated_file(recorded, tmp_path):
    import shutil

    path = tmp_path / "cut"
    shutil.copytree(recorded[0], path)
    data_file = path / "data" / "main_data.hdf5"
    raw = data_file.read_bytes()
    data_file.write_bytes(raw[: int(len(raw) * 0.8)])
    report = verify_dataset(path)
    assert (
        len(report.problems) == 1
        and "is truncated" in report.problems[0]
        and "--repair" in report.problems[0]
    )
    backup = repair_truncated(path)
    assert backup.read_bytes() == raw[: int(len(raw) * 0.8)]
    dataset = load_dataset(path)
    assert 0 in dataset.indices and dataset.num_episodes < 3
    assert json.loads((path / "data" / "metadata.json").read_text())["imitax"]["broken_episodes"]
    np.testing.assert_array_equal(dataset.episode(0).frames, recorded[1][0].frames)


def test_verify_reports_inconsistent_episodes(tmp_path):
    import h5py

    env = AtariEnv("Pong", SHORT)
    path = tmp_path / "bad"
    writer = DatasetWriter(path, env.spec_, Source("human", "x"))
    episode, _ = play(env, 0, 20, np.random.default_rng(0))
    writer.add(episode)
    with h5py.File(path / "data" / "main_data.hdf5", "a") as file:
        del file["episode_0"]["terminations"]
        file["episode_0"].create_dataset("terminations", data=np.ones(20, bool))
        numbers = file["episode_0"]["infos"]["frame_number"]
        numbers[5] = 0
    problems = verify_dataset(path).problems
    assert any("ends before its last step" in p for p in problems)
    assert any("frame numbers are not increasing" in p for p in problems)


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="is not a dataset"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("damage", ["not_hdf5", "truncated", "first_episode_broken"])
def test_info_on_a_damaged_file_is_one_message(recorded, tmp_path, capsys, damage):
    import shutil

    import h5py

    from imitax import cli

    path = recorded[0]
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    data = copy / "data" / "main_data.hdf5"
    if damage == "not_hdf5":
        data.write_text("this is not HDF5")
    elif damage == "truncated":
        with data.open("r+b") as f:
            f.truncate(data.stat().st_size // 2)
    else:
        with h5py.File(data, "a") as f:
            del f["episode_0"]["rewards"]
    assert cli.main(["data", "info", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "imitax data verify" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_dataset_path_naming_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    with pytest.raises(DatasetError, match="is a file"):
        DatasetWriter(target, atari_spec("Pong", "nature"), Source("expert", "x"))
    assert target.read_text() == "keep me"


def test_two_writers_appending_to_one_dataset_keep_every_episode(recorded, tmp_path):
    import threading

    path, episodes = tmp_path / "shared", recorded[1]
    spec = AtariEnv("Pong", SHORT).spec_
    DatasetWriter(path, spec, Source("expert", "a"))
    writers = [DatasetWriter(path, spec, Source("expert", "a"), append=True) for _ in range(2)]

    def write(writer):
        for episode in episodes:
            writer.add(episode)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dataset = load_dataset(path)
    assert dataset.num_episodes == 2 * len(episodes)
    assert sorted(e.num_steps for e in dataset.episodes()) == sorted(2 * [e.num_steps for e in episodes])
    assert json.loads((path / "data" / "metadata.json").read_text())["total_episodes"] == 2 * len(episodes)


def test_a_writer_takes_out_the_episodes_after_a_point_and_writes_on_from_there(recorded, tmp_path):
    path, episodes = tmp_path / "cut", recorded[1]
    spec = AtariEnv("Pong", SHORT).spec_
    writer = DatasetWriter(path, spec, Source("expert", "a"))
    for episode in episodes:
        writer.add(episode)
    writer.truncate(1)
    assert writer.next_index == 1 and writer.add(episodes[2]) == 1
    dataset = load_dataset(path)
    assert [e.frames.tobytes() for e in dataset.episodes()] == [episodes[i].frames.tobytes() for i in (0, 2)]
    metadata = json.loads((path / "data" / "metadata.json").read_text())
    assert metadata["total_episodes"] == 2
    assert metadata["total_steps"] == episodes[0].num_steps + episodes[2].num_steps
    writer.set_info(rounds=[1, 1])
    assert writer.info["rounds"] == [1, 1] and load_dataset(path).info["rounds"] == [1, 1]


def test_an_episode_cut_by_a_second_ctrl_c_is_taken_out_again(recorded, tmp_path, monkeypatch):
    import imitax.data.dataset as dataset_module

    path, episodes = tmp_path / "stopped", recorded[1]
    writer = DatasetWriter(path, AtariEnv("Pong", SHORT).spec_, Source("expert", "a"))
    writer.add(episodes[0])
    write = dataset_module._write_episode

    def interrupted(group, index, episode):
        write(group, index, episode)
        raise KeyboardInterrupt  # after the arrays, before the counts

    monkeypatch.setattr(dataset_module, "_write_episode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.add(episodes[1])
    dataset = load_dataset(path)
    assert dataset.num_episodes == 1 and dataset.summary_arrays()["scores"].shape == (1,)
