"""DQN end to end: the pure agent, learning on CartPole, reproducibility, the run directory, resuming,
Ctrl-C, and bad input through the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imitax import cli
from imitax.agents.agent import make_agent, make_optimizer
from imitax.agents.algorithms import DQN_CARTPOLE as CARTPOLE
from imitax.agents.algorithms import DaggerConfig, DQNConfig
from imitax.train.runner import train
from imitax.types import EnvSpec, Transition

VECTOR = EnvSpec("CartPole-v1", (4,), "float32", None, 2)

# A short CartPole run for the run-directory tests: a few chunks, an evaluation and a checkpoint each.
TINY = dataclasses.replace(
    CARTPOLE,
    total_steps=4_000,
    log_every=1_000,
    eval_every=2_000,
    checkpoint_every=2_000,
    eval_episodes=3,
    learning_starts=500,
    replay_capacity=4_000,
)


def _batch(batch_size: int = 4) -> Transition:
    obs = jax.random.normal(jax.random.key(0), (batch_size, 4))
    zeros = jnp.zeros(batch_size)
    return Transition(
        obs,
        jnp.zeros(batch_size, jnp.int32),
        jnp.zeros(batch_size, jnp.int32),
        zeros + 1,
        zeros + 0.9,
        obs,
        zeros + 1,
        zeros + 0.9,
        obs,
        zeros.astype(bool),
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


# -- the pure agent ---------------------------------------------------------------------------------------


def test_act_is_greedy_at_epsilon_zero_and_uniform_at_one():
    agent = make_agent(CARTPOLE)
    state = agent.init(jax.random.key(0), VECTOR)
    obs = jax.random.normal(jax.random.key(1), (512, 4))
    greedy = jnp.argmax(state.apply_fn(state.params, obs).q_values, axis=-1)
    np.testing.assert_array_equal(agent.act(state, obs, jax.random.key(2), 0.0), greedy)
    random = agent.act(state, obs, jax.random.key(2), 1.0)
    assert 0.4 < float(random.mean()) < 0.6
    assert not np.array_equal(random, agent.act(state, obs, jax.random.key(3), 1.0))


def test_update_is_pure_and_moves_the_online_network_only():
    agent = make_agent(dataclasses.replace(CARTPOLE, target_update_period=3))
    state = agent.init(jax.random.key(0), VECTOR)
    update = jax.jit(agent.update)
    new, metrics = update(state, _batch())
    again, _ = update(state, _batch())  # pure: the same state and batch give the same result
    jax.tree.map(np.testing.assert_array_equal, (again.params, again.opt_state), (new.params, new.opt_state))
    assert int(new.updates) == 1
    changed = jax.tree.map(lambda a, b: bool((a != b).any()), new.params, state.params)
    assert all(jax.tree.leaves(changed))
    same_target = jax.tree.map(lambda a, b: bool((a == b).all()), new.target_params, state.target_params)
    assert all(jax.tree.leaves(same_target))
    assert {"loss", "nstep_loss", "nstep_td_abs", "q_mean", "grad_norm", "priorities"} <= set(metrics)
    for _ in range(2):  # the third update copies the online network into the target
        new, _ = update(new, _batch())
    copied = jax.tree.map(lambda a, b: bool((a == b).all()), new.target_params, new.params)
    assert all(jax.tree.leaves(copied))


def test_polyak_target_moves_a_little_every_update():
    agent = make_agent(dataclasses.replace(CARTPOLE, target_tau=0.5))
    state = agent.init(jax.random.key(0), VECTOR)
    new, _ = jax.jit(agent.update)(state, _batch())
    expected = jax.tree.map(lambda p, t: 0.5 * p + 0.5 * t, new.params, state.target_params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), new.target_params, expected)


def test_expected_updates_count_every_phase():
    online = dataclasses.replace(CARTPOLE, total_steps=1_000, learning_starts=200, replay_ratio=0.25)
    assert online.expected_updates == 200
    assert DaggerConfig(pretrain_updates=50, rounds=3, round_updates=100).expected_updates == 350


def test_learning_rate_decays_by_cosine_to_its_end_at_the_last_planned_update():
    # 40 planned updates; Adam on a constant gradient steps by the step size itself (its m / sqrt(v) is 1).
    config = dataclasses.replace(
        CARTPOLE,
        optimizer="adam",
        optimizer_eps=1e-12,
        max_grad_norm=None,
        learning_rate=1e-2,
        learning_rate_end=1e-3,
        total_steps=200,
        learning_starts=40,
        replay_ratio=0.25,
    )
    assert config.expected_updates == 40
    tx = make_optimizer(config)
    params = jnp.zeros(())
    opt_state = tx.init(params)
    steps = []
    for _ in range(45):
        update, opt_state = tx.update(jnp.ones(()), opt_state, params)
        steps.append(-float(update))
    cosine = 1e-3 + 0.5 * (1e-2 - 1e-3) * (1 + np.cos(np.pi * np.arange(45).clip(max=40) / 40))
    np.testing.assert_allclose(steps, cosine, rtol=1e-4)  # float32 Adam: m / sqrt(v) is 1 to ~1e-5
    assert steps[20] == pytest.approx(5.5e-3, rel=1e-4)  # halfway: midway between the ends
    constant = make_optimizer(dataclasses.replace(config, learning_rate_end=None))
    update, _ = constant.update(jnp.ones(()), constant.init(params), params)
    assert -float(update) == pytest.approx(1e-2, rel=1e-4)


@pytest.mark.parametrize(
    "field, value",
    [
        ("learning_rate_end", 1.0),
        ("learning_rate_end", 0.0),
        ("total_steps", -1),
        ("batch_size", 0),
        ("replay_ratio", 0.0),
        ("epsilon_end", 1.5),
        ("learning_starts", -1),
    ],
)
def test_config_rejects_values_that_cannot_work(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(CARTPOLE, **{field: value})


def test_config_rejects_batch_larger_than_replay():
    with pytest.raises(ValueError, match="larger than replay_capacity"):
        dataclasses.replace(CARTPOLE, batch_size=64, replay_capacity=32)


# -- learning and reproducibility ---------------------------------------------------------------------------


@pytest.mark.slow  # benchmarks/slow_checks.py runs it; 80 s of learning
@pytest.mark.timeout(600)
def test_learns_cartpole(tmp_path):
    result = train(dataclasses.replace(CARTPOLE, run_dir=str(tmp_path / "run")), quiet=True)
    assert result.final_eval is not None
    assert result.final_eval.mean >= 400, result.final_eval.returns


@pytest.mark.timeout(600)
def test_same_seed_same_run_other_seed_other_run(tmp_path):
    def run(seed: int, name: str) -> list[dict[str, str]]:
        config = dataclasses.replace(TINY, seed=seed, run_dir=str(tmp_path / name))
        train(config, quiet=True)
        rows = _rows(tmp_path / name / "metrics.csv")
        return [{k: v for k, v in row.items() if not k.endswith("_per_s")} for row in rows]

    first, again, other = run(0, "a"), run(0, "b"), run(1, "c")
    assert first == again
    assert first != other
    assert _rows(tmp_path / "a" / "eval.csv") == _rows(tmp_path / "b" / "eval.csv")


# -- the run directory ------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_run_directory_records_everything(tmp_path):
    run = tmp_path / "run"
    train(dataclasses.replace(TINY, run_dir=str(run)), quiet=True)
    record = json.loads((run / "config.json").read_text())
    assert record["algo"] == "dqn"
    assert record["config"]["total_steps"] == TINY.total_steps
    assert record["config"]["replay_ratio"] == TINY.replay_ratio
    assert record["env"]["name"] == "CartPole-v1"
    assert record["versions"]["jax"] == jax.__version__
    assert "commit" in record["git"]
    rows = _rows(run / "metrics.csv")
    assert [int(r["env_steps"]) for r in rows] == [1000, 2000, 3000, 4000]
    assert {"episode_return", "loss", "epsilon", "steps_per_s"} <= set(rows[0])
    assert float(rows[-1]["loss"]) > 0
    evals = _rows(run / "eval.csv")
    assert [int(r["env_steps"]) for r in evals] == [2000, 4000]
    assert len(evals[-1]["returns"].split()) == TINY.eval_episodes
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.isdigit()) == ["2000", "4000"]


@pytest.mark.timeout(600)
def test_tiny_pong_run_with_the_nature_network(tmp_path):
    """The real thing at a tiny budget: frames, the Nature CNN, envpool's XLA step, an evaluation game."""
    config = dataclasses.replace(
        DQNConfig(),
        env="Pong",
        env_preset="machado",
        num_envs=2,
        total_steps=96,
        log_every=48,
        replay_capacity=1_000,
        batch_size=8,
        learning_starts=32,
        eval_every=0,
        eval_episodes=1,
        checkpoint_every=96,
        run_dir=str(tmp_path / "pong"),
    )
    result = train(config, quiet=True)
    assert result.env_steps == 96
    record = json.loads((tmp_path / "pong" / "config.json").read_text())
    assert record["env"]["preset"]["name"] == "machado"
    assert record["env"]["preset"]["sticky_action_prob"] == 0.25
    assert record["eval_env"]["preset"]["training"] is False
    rows = _rows(tmp_path / "pong" / "metrics.csv")
    assert int(rows[-1]["updates"]) == (96 - 32) // 4  # replay ratio 0.25 once learning starts
    # A whole evaluation game: Pong ends when a side reaches 21 points, some 800 steps at the least.
    game = result.final_eval
    assert 750 <= game.lengths[0] < 27_000 and game.returns[0] == round(game.returns[0])


@pytest.mark.timeout(600)
def test_resume_appends_without_duplicates(tmp_path):
    run = tmp_path / "run"
    config = dataclasses.replace(TINY, run_dir=str(run))
    train(config, quiet=True)
    shutil.rmtree(run / "checkpoints" / "4000")  # as if killed between 2,000 and 4,000 steps
    result = train(dataclasses.replace(config, total_steps=6_000), resume=True, quiet=True)
    assert result.env_steps == 6_000
    steps = [int(r["env_steps"]) for r in _rows(run / "metrics.csv")]
    assert steps == [1000, 2000, 3000, 4000, 5000, 6000]
    assert [int(r["env_steps"]) for r in _rows(run / "eval.csv")] == [2000, 4000, 6000]
    assert int(_rows(run / "metrics.csv")[2]["updates"]) > int(_rows(run / "metrics.csv")[1]["updates"])


# -- bad input through the CLI -----------------------------------------------------------------------------


def _cli(*args: str) -> int:
    return cli.main(["train", "dqn", *args])


def test_cli_refuses_to_overwrite_a_run(tmp_path, capsys):
    run = tmp_path / "run"
    train(dataclasses.replace(TINY, total_steps=1_000, eval_every=0, run_dir=str(run)), quiet=True)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert _cli("--preset", "cartpole", "--run-dir", str(run)) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert _cli("--resume", str(run), "--env", "Acrobot-v1") == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "env: run has 'CartPole-v1', asked for 'Acrobot-v1'" in err
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "Pongg"], "Did you mean Pong"),
        (["--total-steps", "-5"], "total_steps must be >= 0"),
        (["--batch-size", "64", "--replay-capacity", "32"], "larger than replay_capacity"),
        (["--replay-capacity", "1001", "--num-envs", "8"], "multiple of num_envs"),
    ],
)
def test_cli_bad_values_give_one_clear_message(tmp_path, capsys, args, message):
    assert _cli("--preset", "cartpole", "--run-dir", str(tmp_path / "r"), *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing written


def test_cli_resume_without_a_run(capsys):
    assert _cli("--resume", "/nonexistent/run") == 2
    assert "there is no run there" in capsys.readouterr().err


def test_cli_unknown_flag_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli("--learning-rat", "0.1")
    assert exit_info.value.code == 2
    assert "--learning-rat" in capsys.readouterr().err


@pytest.mark.timeout(600)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_saves_a_checkpoint_and_resume_continues(tmp_path, stop):
    """Started the way a shell starts background jobs (SIGINT ignored), stopped by Ctrl-C or a kill."""
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "imitax.cli",
        "train",
        "dqn",
        "--preset",
        "cartpole",
        "--total-steps",
        "200000",
        "--log-every",
        "1000",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "1000000",
        "--run-dir",
        str(run),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines = []
    for line in proc.stdout:  # wait until training is under way
        lines.append(line)
        if line.startswith("steps 3,000"):
            break
    proc.send_signal(stop)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + out
    assert "Saved a checkpoint at step" in out
    saved = int(out.split("Saved a checkpoint at step ")[1].split(";")[0].replace(",", ""))
    assert saved >= 3_000
    deadline = time.time() + 5
    while time.time() < deadline and not (run / "checkpoints" / str(saved)).exists():
        time.sleep(0.1)
    result = cli.main(["train", "dqn", "--resume", str(run), "--total-steps", str(saved + 2_000)])
    assert result == 0
    steps = [int(r["env_steps"]) for r in _rows(run / "metrics.csv")]
    assert steps == sorted(set(steps)) and steps[-1] == saved + 2_000
