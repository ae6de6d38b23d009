"""A trained agent as teacher (`--expert RUN_DIR`): its labels are its network's greedy actions on what the
learner sees, wherever a built-in expert is accepted (recording, DAgger, relabelling, the main job), and a
run that cannot teach is refused with one message before anything is written."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import jax
import numpy as np
import pytest

from imitax import cli
from imitax.data.dataset import load_dataset
from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.data.relabel import RelabelConfig, relabel, stacked_frames
from imitax.envs import AtariEnv
from imitax.experts import PongSearchExpert
from imitax.experts.pong_sight import PongSightExpert
from imitax.pipeline import MainJob, MainJobConfig
from imitax.train.loading import load_agent
from imitax.train.teacher import AgentTeacher, make_teacher
from tests.tiny_runs import train_tiny_dqn


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory) -> Path:
    return train_tiny_dqn(tmp_path_factory.mktemp("teacher") / "dqn")


def _greedy(run: Path, stacks: np.ndarray) -> np.ndarray:
    loaded = load_agent(run)
    return np.asarray(loaded.agent.act(loaded.state, stacks, jax.random.key(0), 0.0))


def _stacks(episode) -> np.ndarray:
    return stacked_frames(episode.frames, np.arange(episode.num_steps), 4)


@pytest.mark.timeout(300)
def test_labels_are_the_greedy_actions_in_any_batch(agent_run):
    teacher = make_teacher(str(agent_run), "pong")
    assert isinstance(teacher, AgentTeacher) and teacher.game == "Pong"
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (37, 4, 84, 84), dtype=np.uint8)
    expected = _greedy(agent_run, obs)
    assert len(set(expected.tolist())) > 1  # distinct inputs, distinct actions: the order is checked
    teacher.batch = 8  # 37 = 4 full chunks and a padded one
    np.testing.assert_array_equal(teacher.label_observations(obs), expected)
    np.testing.assert_array_equal(teacher.label_observations(obs[:1]), expected[:1])
    envs = [AtariEnv("Pong", seed=s) for s in range(3)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
        for _ in range(20 * i):
            env.step(2)
    live = np.stack([env.observation for env in envs])
    np.testing.assert_array_equal(teacher.label(envs), _greedy(agent_run, live))
    assert teacher.act(envs[2]) == _greedy(agent_run, live[2:])[0]


@pytest.mark.timeout(300)
def test_record_and_relabel_with_an_agent(agent_run, tmp_path):
    out = tmp_path / "demos"
    config = ExpertRecordConfig(env="Pong", expert=str(agent_run), out=str(out), episodes=1, quiet=True)
    record_expert(dataclasses.replace(config, max_episode_steps=40))
    dataset = load_dataset(out)
    assert dataset.info["source"]["kind"] == "agent"
    assert dataset.info["source"]["name"] == str(agent_run.resolve())
    episode = dataset.episode(0)
    greedy = _greedy(agent_run, _stacks(episode))
    np.testing.assert_array_equal(episode.labels, greedy)
    np.testing.assert_array_equal(episode.actions, greedy)

    # An expert's recording (no emulator states) relabelled by the agent, from its frames.
    expert_out = tmp_path / "expert"
    record_expert(dataclasses.replace(config, expert=None, out=str(expert_out), max_episode_steps=50))
    before = load_dataset(expert_out).episode(0)
    report = relabel(RelabelConfig(dataset=str(expert_out), expert=str(agent_run), quiet=True))
    after = load_dataset(expert_out).episode(0, extras=True)
    assert report.steps == 50 and report.expert == str(agent_run.resolve())
    np.testing.assert_array_equal(after.labels, _greedy(agent_run, _stacks(before)))
    np.testing.assert_array_equal(after.extras["label_previous"], before.labels)


@pytest.mark.timeout(300)
def test_dagger_taught_by_an_agent(agent_run, tmp_path):
    run = tmp_path / "dagger"
    args = ["train", "dagger", "--env", "Pong", "--expert", str(agent_run), "--rounds", "2"]
    args += ["--round-steps", "48", "--round-envs", "2", "--round-updates", "4", "--batch-size", "8"]
    args += ["--eval-episodes", "1", "--run-dir", str(run), "--save-aggregate", str(tmp_path / "agg")]
    assert cli.main(args) == 0
    with (run / "metrics.csv").open() as f:
        rounds = [r for r in csv.DictReader(f) if r["round"] != ""]
    assert [int(r["round_labels"]) for r in rounds] == [48, 48]
    aggregate = load_dataset(tmp_path / "agg")
    assert aggregate.info["source"]["name"] == str(agent_run.resolve())
    for episode in aggregate.episodes(extras=True):
        # A piece that continues a game starts its stacks afresh in the file; from its 4th step on they
        # are the stacks the teacher saw.
        steps = np.arange(3 if episode.extras["elapsed_step"][0] else 0, episode.num_steps)
        stacks = stacked_frames(episode.frames, steps, 4)
        np.testing.assert_array_equal(episode.labels[steps], _greedy(agent_run, stacks))


@pytest.fixture(scope="module")
def machado_run(tmp_path_factory) -> Path:
    return train_tiny_dqn(tmp_path_factory.mktemp("teacher") / "machado", env_preset="machado")


@pytest.mark.timeout(300)
def test_a_cartpole_agent_cannot_teach_an_atari_game(tmp_path, capsys):
    run = train_tiny_dqn(tmp_path / "cartpole", env="CartPole-v1")
    out = tmp_path / "out"
    assert cli.main(["record", "expert", "--expert", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "trained on CartPole-v1, which is not an Atari game" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.timeout(300)
def test_a_run_that_cannot_teach_is_refused_before_anything_is_written(
    agent_run, machado_run, tmp_path, capsys
):
    no_checkpoint = tmp_path / "fresh"
    no_checkpoint.mkdir()
    (no_checkpoint / "config.json").write_text((agent_run / "config.json").read_text())
    seeds = tmp_path / "seeds"
    (seeds / "seed0").mkdir(parents=True)
    (seeds / "seed0" / "config.json").write_text("{}")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["record", "expert", "--env", "Breakout", "--expert", str(agent_run)], "plays Pong, not Breakout"),
        (["record", "expert", "--expert", str(machado_run)], "chooses among 18 actions"),
        (["record", "expert", "--expert", str(no_checkpoint)], "has no checkpoint yet"),
        (["record", "expert", "--expert", str(empty)], "there is no run there"),
        (["record", "expert", "--expert", str(seeds)], f"name one of them, e.g. --expert {seeds / 'seed0'}"),
        (["record", "expert", "--expert", "pong-serch"], "neither a built-in expert"),
        (["train", "dagger", "--expert", str(machado_run), "--run-dir", str(tmp_path / "d")], "18 actions"),
        (["data", "relabel", str(tmp_path / "nowhere"), "--expert", str(agent_run)], "nowhere"),
        (["run", "--expert", str(no_checkpoint), "--run-dir", str(tmp_path / "job")], "no checkpoint yet"),
    ]
    for argv, message in cases:
        out = tmp_path / "out"
        extra = ["--out", str(out)] if argv[0] == "record" else []
        assert cli.main([*argv, *extra]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
        assert not out.exists() and not (tmp_path / "d").exists() and not (tmp_path / "job").exists()


def test_a_built_in_expert_is_still_named_by_its_name():
    assert isinstance(make_teacher(None, "PongNoFrameskip-v4"), PongSightExpert)  # the game's default
    assert isinstance(make_teacher("pong-search", "Pong"), PongSearchExpert)


def test_the_main_job_takes_an_agent_as_its_expert(agent_run, tmp_path):
    job = MainJob(MainJobConfig(expert=str(agent_run), run_dir=str(tmp_path / "job")), argv=[])
    assert job.expert == str(agent_run.resolve())
    assert not (tmp_path / "job").exists()
