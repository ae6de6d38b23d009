"""Held-out demonstrations: which episodes are held out, their scores against a plain computation over the
episodes' own frames, and the `val_*` columns of a cloning run."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imitax import cli
from imitax.agents.agent import make_agent
from imitax.agents.algorithms import BC_DEFAULT, DQN_FAST, BCConfig
from imitax.data.dataset import load_dataset
from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.data.relabel import stacked_frames
from imitax.envs import atari_spec
from imitax.train.loading import config_from_record
from imitax.train.validation import CHUNK, HeldOut, held_out_count, split_episodes
from imitax.types import Transition
from tests.tiny_runs import train_tiny_dqn

SPEC = atari_spec("Pong", "nature", True)


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demos") / "pong"
    # 300 steps: more than one chunk of held-out transitions, and not a multiple of it.
    record_expert(ExpertRecordConfig(env="Pong", out=str(out), episodes=2, max_episode_steps=300, quiet=True))
    return out


def _fake(num_episodes: int) -> SimpleNamespace:
    return SimpleNamespace(indices=list(range(num_episodes)), num_episodes=num_episodes)


def test_the_last_episodes_are_held_out_the_last_dataset_first():
    datasets = [_fake(2), _fake(3)]
    assert split_episodes(datasets, 0) == ([[0, 1], [0, 1, 2]], [[], []])
    assert split_episodes(datasets, 2) == ([[0, 1], [0]], [[], [1, 2]])
    assert split_episodes(datasets, 4) == ([[0], []], [[1], [0, 1, 2]])


def test_held_out_count_leaves_an_episode_to_train_on_and_needs_an_offline_phase():
    bc = dataclasses.replace(BC_DEFAULT, val_episodes=3)
    assert held_out_count(bc, [_fake(2), _fake(3)]) == 3
    assert held_out_count(bc, [_fake(2)]) == 1
    assert held_out_count(bc, [_fake(1)]) == 0
    assert held_out_count(dataclasses.replace(bc, val_episodes=0), [_fake(5)]) == 0
    assert held_out_count(dataclasses.replace(DQN_FAST, val_episodes=3), [_fake(5)]) == 0  # nothing offline


class MeasureTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_each_example_is_scored_as_the_update_scores_the_batch(self):
        agent = make_agent(BCConfig(env="Pong", demos=("x",)), offline=True)
        state = agent.init(jax.random.key(0), SPEC)
        obs = jax.random.randint(jax.random.key(1), (8, *SPEC.obs_shape), 0, 255).astype(jnp.uint8)
        labels = jnp.arange(8) % SPEC.num_actions
        ones = jnp.ones(8)
        batch = Transition(obs, labels, labels, ones, ones, obs, ones, ones, obs, jnp.ones(8, bool), ones)
        per_example = self.variant(agent.measure)(state, batch)
        _, metrics = agent.update(state, batch)
        chex.assert_shape(per_example["bc_loss"], (8,))
        for name in ("loss", "bc_loss", "bc_accuracy"):
            np.testing.assert_allclose(per_example[name].mean(), metrics[name], rtol=1e-5)


def test_held_out_scores_are_the_clones_accuracy_and_loss_on_the_episodes_frames(demos):
    dataset = load_dataset(demos)
    agent = make_agent(BCConfig(env="Pong", demos=(str(demos),)), offline=True)
    state = agent.init(jax.random.key(0), SPEC)
    held = HeldOut(agent, BCConfig(env="Pong"), SPEC, [dataset], [[1]])
    episode = dataset.episode(1)
    assert held.episodes == 1 and held.transitions == episode.num_steps
    assert held.transitions > CHUNK and held.transitions % CHUNK  # a padded last chunk is left out

    # By hand: every step's observation from the episode's frames, the network's logits, cross-entropy.
    obs = stacked_frames(episode.frames, np.arange(episode.num_steps), SPEC.frame_stack)
    logits = np.asarray(state.apply_fn(state.params, jnp.asarray(obs)).q_values, np.float64)
    log_probs = logits - logits.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    labels = episode.labels.astype(int)
    scores = held.metrics(state)
    np.testing.assert_allclose(scores["val_bc_accuracy"], (logits.argmax(1) == labels).mean(), rtol=1e-6)
    expected_loss = -log_probs[np.arange(len(labels)), labels].mean()
    np.testing.assert_allclose(scores["val_bc_loss"], expected_loss, rtol=1e-4)
    np.testing.assert_allclose(scores["val_loss"], expected_loss, rtol=1e-4)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.timeout(600)
def test_a_cloning_run_logs_held_out_scores_beside_its_training_ones(tmp_path, demos, capsys):
    run = tmp_path / "bc"
    args = ["train", "bc", "--demos", str(demos), "--pretrain-updates", "20", "--run-dir", str(run)]
    args += ["--num-envs", "2", "--eval-episodes", "1", "--batch-size", "8", "--offline-log-every", "10"]
    assert cli.main(args) == 0
    rows = _rows(run / "metrics.csv")
    assert [int(r["updates"]) for r in rows] == [10, 20]
    for row in rows:
        assert 0 <= float(row["val_bc_accuracy"]) <= 1 and float(row["val_bc_loss"]) > 0
        assert float(row["val_loss"]) == pytest.approx(float(row["val_bc_loss"]))
    assert "1 held-out game, 300 steps: loss" in capsys.readouterr().out
    assert [r["phase"] for r in _rows(run / "eval.csv")] == ["pretrain"]  # an offline run's evaluation

    no_hold_out = tmp_path / "all"
    args[args.index(str(run))] = str(no_hold_out)
    assert cli.main([*args, "--val-episodes", "0"]) == 0
    assert "val_bc_accuracy" not in _rows(no_hold_out / "metrics.csv")[0]


def test_a_run_recorded_before_held_out_episodes_existed_loads_as_it_ran():
    saved = {f.name: getattr(BC_DEFAULT, f.name) for f in dataclasses.fields(BC_DEFAULT) if f.init}
    del saved["val_episodes"], saved["init_from"]
    config = config_from_record(BCConfig, saved)
    assert config.val_episodes == 0 and config.init_from is None


@pytest.mark.timeout(300)
def test_a_run_recorded_before_the_new_settings_resumes(tmp_path):
    run = train_tiny_dqn(tmp_path / "old")
    record = json.loads((run / "config.json").read_text())
    del record["config"]["val_episodes"], record["config"]["init_from"]
    (run / "config.json").write_text(json.dumps(record))
    assert cli.main(["train", "dqn", "--resume", str(run), "--total-steps", "48"]) == 0
    assert int(_rows(run / "eval.csv")[-1]["env_steps"]) == 48
