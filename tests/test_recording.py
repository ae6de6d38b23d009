"""Recording demonstrations from experts and agents, DART noise, and relabelling by the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from imitax import cli
from imitax.data.dataset import DatasetError, DatasetWriter, Episode, Source, load_dataset
from imitax.data.inspect import dataset_info, verify_dataset
from imitax.data.record import (
    AgentRecordConfig,
    ExpertRecordConfig,
    RecordSettings,
    play_episodes,
    policy_choose,
    record,
    record_agent,
    record_expert,
)
from imitax.data.relabel import RelabelConfig, relabel, relabel_episodes
from imitax.envs import AtariEnv
from imitax.envs.noise import noisy_action, slipped_actions
from imitax.experts import Oracle, make_expert
from tests.tiny_runs import train_tiny_dqn


def test_noise_kinds():
    rng = np.random.default_rng(0)
    assert all(noisy_action(3, 6, 0.0, "uniform", rng) == 3 for _ in range(200))
    assert all(noisy_action(3, 6, 1.0, "other", rng) != 3 for _ in range(200))
    uniform = [noisy_action(3, 6, 1.0, "uniform", rng) for _ in range(6000)]
    assert abs(np.mean(np.array(uniform) == 3) - 1 / 6) < 0.02
    quarter = [noisy_action(0, 6, 0.25, "other", rng) for _ in range(8000)]
    assert abs(np.mean(np.array(quarter) != 0) - 0.25) < 0.02


def test_slipped_actions_draw_nothing_at_zero_and_replace_about_epsilon_of_a_batch():
    rng = np.random.default_rng(0)
    intended = np.full(10_000, 2)
    assert slipped_actions(intended, 6, 0.0, rng) is intended
    assert rng.random() == np.random.default_rng(0).random()  # no draw was made
    slipped = slipped_actions(intended, 6, 0.3, np.random.default_rng(1))
    assert abs(np.mean(slipped != 2) - 0.3 * 5 / 6) < 0.02  # a slip to the intended action looks unchanged
    assert set(np.unique(slipped)) == set(range(6))


@pytest.fixture(scope="module")
def noisy_expert(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "noisy"
    config = ExpertRecordConfig(
        env="Pong",
        expert="pong-search",  # its labels depend on emulator states: the relabelling tests need them
        out=str(out),
        episodes=2,
        max_episode_steps=80,
        noise=0.25,
        keep_states=True,
        seed=3,
        quiet=True,
    )
    return out, record_expert(config)


def test_expert_recording_keeps_intended_labels(noisy_expert):
    out, report = noisy_expert
    assert report.episodes == 2 and report.steps == 160 and report.truncated_by_budget == 2
    dataset = load_dataset(out)
    assert dataset.info["noise"] == {"p": 0.25, "kind": "uniform"}
    assert dataset.info["source"]["name"] == "pong-search"
    episode = dataset.episode(0, extras=True)
    assert (
        0.05 < np.mean(episode.actions != episode.labels) < 0.4
    )  # a quarter replaced, some by chance the same
    assert episode.extras["state"].shape[0] == episode.num_steps + 1
    assert verify_dataset(out).ok
    assert dataset_info(dataset)["noise"]["p"] == 0.25


def test_relabel_reproduces_the_experts_intended_actions(noisy_expert, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(noisy_expert[0], out)
    import h5py

    intended = [load_dataset(out).episode(i).labels for i in range(2)]
    with h5py.File(
        out / "data" / "main_data.hdf5", "a"
    ) as file:  # wipe the labels: relabel must restore them
        for i in range(2):
            file[f"episode_{i}"]["infos"]["label"][...] = 0
    wiped = sum(int((labels != 0).sum()) for labels in intended)
    report = relabel(RelabelConfig(dataset=str(out), expert="pong-search", quiet=True))
    assert report.steps == 160 and report.changed == wiped > 0
    after = load_dataset(out).episode(1, extras=("label_previous",))
    np.testing.assert_array_equal(after.labels, intended[1])  # decisions depend on the emulator state alone
    np.testing.assert_array_equal(after.extras["label_previous"], 0)


def test_relabel_needs_states_and_writes_nothing_without(tmp_path):
    out = tmp_path / "plain"
    record_expert(ExpertRecordConfig(env="Pong", out=str(out), episodes=1, max_episode_steps=20, quiet=True))
    data_file = out / "data" / "main_data.hdf5"
    before = data_file.read_bytes()
    with pytest.raises(DatasetError, match="holds no emulator states"):
        relabel(RelabelConfig(dataset=str(out), expert="pong-search", quiet=True))  # a search expert
    assert data_file.read_bytes() == before


def test_bad_recorder_input_is_clear(tmp_path, capsys):
    with pytest.raises(ValueError, match="noise must be a probability"):
        RecordSettings(noise=1.5)
    assert (
        cli.main(
            ["record", "expert", "--env", "Breakout", "--expert", "pong-search", "--out", str(tmp_path / "x")]
        )
        == 2
    )
    assert "plays Pong" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert cli.main(["record", "expert", "--env", "Pongg", "--out", str(tmp_path / "y")]) == 2
    assert "Did you mean Pong" in capsys.readouterr().err


def test_ctrl_c_keeps_finished_games(tmp_path):
    env = AtariEnv("Pong")
    writer = DatasetWriter(tmp_path / "cut", env.spec_, Source("expert", "scripted"))
    calls = {"n": 0}

    def choose(env, obs):
        calls["n"] += 1
        if calls["n"] == 50:
            raise KeyboardInterrupt
        return 0

    report = record(env, writer, choose, RecordSettings(episodes=5, max_episode_steps=20, quiet=True))
    assert report.interrupted and report.episodes == 2
    assert load_dataset(tmp_path / "cut").num_episodes == 2


# In memory (DAgger's way): the same games `record` writes, relabelled without a file.

IN_MEMORY = RecordSettings(episodes=2, max_episode_steps=60, noise=0.25, keep_states=True, seed=4, quiet=True)


def expert_choose(env: AtariEnv, obs: np.ndarray) -> int:
    return make_expert("pong-search", "Pong").act(env)


@pytest.fixture(scope="module")
def noisy_games() -> list[Episode]:
    return play_episodes(AtariEnv("Pong"), expert_choose, IN_MEMORY)


def test_play_episodes_in_memory_are_what_record_writes(noisy_games, tmp_path):
    env = AtariEnv("Pong")
    writer = DatasetWriter(tmp_path / "d", env.spec_, Source("expert", "pong-search"))
    report = record(env, writer, expert_choose, IN_MEMORY)
    assert [e.num_steps for e in noisy_games] == [60, 60] and report.truncated_by_budget == 2
    assert report.scores == [e.score for e in noisy_games]
    dataset = load_dataset(tmp_path / "d")
    for i, episode in enumerate(noisy_games):
        stored = dataset.episode(i, extras=True)
        assert stored.seed == episode.seed == 4 + i and episode.truncations[-1]
        for name in ("frames", "actions", "labels", "rewards", "terminations", "truncations"):
            np.testing.assert_array_equal(getattr(stored, name), getattr(episode, name))
        assert set(stored.extras) == set(episode.extras) == {"frame_number", "state", "state_length"}
        for name, values in episode.extras.items():
            np.testing.assert_array_equal(stored.extras[name], values)
    assert np.mean(np.concatenate([e.actions != e.labels for e in noisy_games])) > 0.05  # noise injected


def test_relabel_episodes_in_memory(noisy_games):
    """Labels wiped, then given back by the oracle from the stored states: the expert's intended actions."""
    wiped = [e._replace(labels=np.zeros_like(e.labels)) for e in noisy_games]
    relabelled = relabel_episodes(wiped, Oracle("Pong", batch=4))
    for episode, again in zip(noisy_games, relabelled, strict=True):
        np.testing.assert_array_equal(again.labels, episode.labels)
        np.testing.assert_array_equal(again.actions, episode.actions)
        np.testing.assert_array_equal(again.frames, episode.frames)
    with pytest.raises(DatasetError, match="holds no emulator states"):
        relabel_episodes([noisy_games[0]._replace(extras={})], Oracle("Pong"))


def test_a_batched_policy_plays_in_memory():
    """A learner's batched greedy policy (as `record agent` plays a checkpoint), one game of 50 steps: it
    acts on the stacks the episode's frames rebuild (first frame repeated at the start)."""

    def policy(obs: np.ndarray) -> np.ndarray:  # (N, 4, 84, 84) -> (N,)
        return (obs.astype(np.int64).sum(axis=(1, 2, 3)) // 11) % 6

    settings = RecordSettings(episodes=1, max_episode_steps=50, quiet=True)
    (episode,) = play_episodes(AtariEnv("Pong"), policy_choose(policy), settings)
    assert episode.num_steps == 50 and episode.truncations[-1]
    index = np.maximum(np.arange(50)[:, None] + np.arange(-3, 1)[None, :], 0)
    np.testing.assert_array_equal(episode.actions, policy(episode.frames[index]))
    np.testing.assert_array_equal(episode.labels, episode.actions)
    assert len(set(episode.actions.tolist())) > 1


@pytest.mark.timeout(600)
def test_agent_recording(tmp_path):
    run = train_tiny_dqn(tmp_path / "run")
    out = tmp_path / "agent-demos"
    report = record_agent(
        AgentRecordConfig(
            run_dir=str(run), out=str(out), episodes=1, max_episode_steps=30, epsilon=0.5, quiet=True
        )
    )
    assert report.steps == 30
    dataset = load_dataset(out)
    assert dataset.info["source"]["kind"] == "agent"
    assert dataset.info["source"]["details"]["checkpoint_step"] == 32
    episode = dataset.episode(0)
    assert np.any(episode.actions != episode.labels)  # epsilon 0.5 replaced some
    # Labels are the agent's greedy actions on the stacks it saw (first frame repeated at the start).
    import jax

    from imitax.train.loading import load_agent

    loaded = load_agent(run)
    index = np.maximum(np.arange(episode.num_steps)[:, None] + np.arange(-3, 1)[None, :], 0)
    stacks = episode.frames[index]  # (T, 4, 84, 84)
    greedy = loaded.agent.act(loaded.state, stacks, jax.random.key(0), 0.0)
    np.testing.assert_array_equal(episode.labels, greedy)


def test_oracle_labels_stored_states_as_the_expert_plays_live_games():
    env = AtariEnv("Pong", seed=1)
    env.reset(seed=1)
    expert = make_expert("pong-search", "Pong")
    rng = np.random.default_rng(0)
    states, live = [], []
    for _ in range(60):  # a random player's states, as DAgger's learner would reach them
        states.append(env.clone_state())
        live.append(expert.act(env))
        env.step(int(rng.integers(env.action_space.n)))
    np.testing.assert_array_equal(Oracle("Pong", batch=4).label(states), live)
