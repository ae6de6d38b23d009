"""Loss terms from outside the package: registered by name or named by import path, recorded in the run
so another process finds them, with the target network decided by what a term reads."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import imitax
from imitax.agents import objective
from imitax.agents.agent import make_agent
from imitax.agents.algorithms import DQN_CARTPOLE
from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.types import EnvSpec, Transition

ROOT = Path(__file__).resolve().parents[1]
VECTOR = EnvSpec("CartPole-v1", (4,), "float32", None, 2)


def bootstrap_only_term(settings: objective.TermSettings) -> objective.Term:
    """A TD-style term of its own: Q(s, a) toward r + discount * max target Q(s')."""

    def fn(out: objective.Outputs, batch: Transition) -> objective.TermOutput:
        q = jnp.take_along_axis(out[objective.Q_TM1], batch.action_tm1[:, None], axis=-1)[:, 0]
        target = batch.reward_t + batch.discount_t * out[objective.Q_T_TARGET].max(axis=-1)
        error = q - jax.lax.stop_gradient(target)
        return objective.TermOutput(0.5 * error**2, jnp.ones(error.shape, bool), error)

    return objective.Term(fn, frozenset({objective.Q_TM1, objective.Q_T_TARGET}))


def _batch(size: int = 8) -> Transition:
    obs = jax.random.normal(jax.random.key(0), (size, 4))
    actions = jnp.arange(size) % 2
    ones = jnp.ones(size)
    return Transition(obs, actions, actions, ones, 0.9 * ones, obs, ones, 0.9 * ones, obs, ones > 0)


def test_a_term_that_reads_the_target_gets_a_target_network_whatever_its_name():
    imitax.register_term("bootstrap", bootstrap_only_term)
    config = DQN_CARTPOLE.__class__(env="CartPole-v1", torso="mlp", loss="bootstrap=1")
    assert config.online_loss.names == ("bootstrap",)
    assert config.online_loss.reads_target(config.term_settings)
    agent = make_agent(config)
    state = agent.init(jax.random.key(0), VECTOR)
    assert state.target_params is not None
    state, metrics = jax.jit(agent.update)(state, _batch())
    assert metrics["bootstrap_loss"] > 0 and int(state.updates) == 1
    config.check_trainable()  # it learns from the agent's own play: no demonstrations asked for


def test_a_term_is_named_by_its_import_path_and_a_built_in_name_is_refused():
    loss = objective.Loss.parse("td=1,tests.test_terms:bootstrap_only_term=0.5")
    assert loss.names == ("td", "tests.test_terms:bootstrap_only_term")
    assert loss.factories[1] is bootstrap_only_term
    with pytest.raises(ValueError, match="no function 'nothing'"):
        objective.Loss.parse("tests.test_terms:nothing=1")
    with pytest.raises(ValueError, match="cannot import no_such_module"):
        objective.Loss.parse("no_such_module:cql=1")
    with pytest.raises(ValueError, match="is a built-in term"):
        imitax.register_term("td", bootstrap_only_term)
    with pytest.raises(ValueError, match=r"unknown loss term 'cq'.*register_term"):
        objective.Loss.parse("cq=1")


@pytest.mark.timeout(600)
def test_the_cql_example_adds_a_term_trains_it_and_another_process_loads_the_run(tmp_path):
    demos = tmp_path / "demos"
    record_expert(
        ExpertRecordConfig(env="Pong", out=str(demos), episodes=1, max_episode_steps=120, quiet=True)
    )
    spec = importlib.util.spec_from_file_location("cql_example", ROOT / "experiments" / "cql.py")
    example = importlib.util.module_from_spec(spec)
    sys.modules["cql_example"] = example
    spec.loader.exec_module(example)  # registers "cql", as running the script does
    run = tmp_path / "cql"
    args = example.Args(demos=str(demos), updates=20, eval_every=0, eval_episodes=1, run_dir=str(run))
    result = example.main(args)

    metrics = result.runs[0].metrics
    assert metrics["cql_loss"][-1] > 0 and metrics["updates"][-1] == 20
    record = json.loads((run / "config.json").read_text())
    assert record["config"]["loss"] == "nstep=1,cql=1.0"
    assert record["terms"] == {"cql": f"{(ROOT / 'experiments' / 'cql.py').resolve()}:cql_term"}
    load = f"import imitax; a = imitax.load_agent({str(run)!r}); print(a.config.online_loss.names)"
    out = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('nstep', 'cql')"
