"""The Python API a script uses: `imitax.train(config)`, `imitax.load_run(s)`, `imitax.load_agent`."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import imitax
from imitax.agents.algorithms import DQN_CARTPOLE
from imitax.train import run_dir as rd

TINY = dict(total_steps=256, learning_starts=64, log_every=64, eval_every=128, eval_episodes=2)
TINY |= dict(num_envs=2, replay_capacity=512, batch_size=16, checkpoint_every=256)


@pytest.mark.timeout(300)
def test_a_script_trains_several_seeds_and_reads_every_one_back_as_numbers(tmp_path):
    root = tmp_path / "dqn"
    config = dataclasses.replace(DQN_CARTPOLE, **TINY, num_seeds=2, run_dir=str(root))
    result = imitax.train(config, quiet=True)
    assert result.run_dir == root and result.env_steps == 256 and not result.interrupted
    assert [run.config.seed for run in result.runs] == [0, 1]
    for run in result.runs:
        assert [e.step for e in run.evaluations] == [128, 256]
        assert run.final.returns.dtype == np.float64 and len(run.final.returns) == 2
        assert run.final.mean == pytest.approx(float(np.mean(run.final.returns)))
        assert run.metrics["env_steps"].tolist() == [64.0, 128.0, 192.0, 256.0]
        assert set(run.metrics["phase"]) == {"online"}
        assert run.metrics_frame()["env_steps"].iloc[-1] == 256
    assert [r.final.returns.tolist() for r in result.runs] == [f.tolist() for f in result.final_returns]

    with pytest.raises(rd.RunDirError, match="holds a run of 2 seeds: load_runs"):
        imitax.load_run(root)
    again = imitax.load_run(root / "seed1")
    assert again.algo == "dqn" and again.config == result.runs[1].config
    loaded = imitax.load_agent(root / "seed1")
    actions = loaded.agent.act(loaded.state, np.zeros((3, 4), np.float32), jax.random.key(0), 0.0)
    assert actions.shape == (3,)


def test_the_training_package_is_also_the_function_that_trains():
    from imitax.train import train

    assert callable(imitax.train) and imitax.train.runner is not None
    assert train.__module__ == "imitax.train.results"
    with pytest.raises(AttributeError):
        _ = imitax.no_such_name
