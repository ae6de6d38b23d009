"""`--init-from RUN`: a run starts from another run's network weights (how the main job chains its
stages), and a run whose network, game or layout does not fit is refused with one message."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from imitax import cli
from imitax.train.loading import load_agent
from tests.tiny_runs import train_tiny_dqn

DAGGER = ["train", "dagger", "--env", "Pong", "--rounds", "1", "--round-steps", "16", "--round-envs", "2"]
DAGGER += ["--batch-size", "4", "--eval-episodes", "1"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return train_tiny_dqn(tmp_path_factory.mktemp("init") / "dqn")


def _leaves(run: Path) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(load_agent(run).state.params)]


@pytest.mark.timeout(300)
def test_a_run_starts_from_the_weights_of_the_run_it_names(source, tmp_path):
    run = tmp_path / "dagger"
    assert cli.main([*DAGGER, "--round-updates", "0", "--init-from", str(source), "--run-dir", str(run)]) == 0
    for mine, theirs in zip(_leaves(run), _leaves(source), strict=True):
        np.testing.assert_array_equal(mine, theirs)  # no update made: the weights are the source's

    scaled = tmp_path / "scaled"
    assert (
        cli.main(
            [
                *DAGGER,
                "--round-updates",
                "0",
                "--init-from",
                str(source),
                "--init-q-scale",
                "0.5",
                "--run-dir",
                str(scaled),
            ]
        )
        == 0
    )
    obs = jax.random.randint(jax.random.key(0), (3, 4, 84, 84), 0, 256).astype(np.uint8)
    q = lambda run: (lambda a: a.state.apply_fn(a.state.params, obs).q_values)(load_agent(run))
    np.testing.assert_allclose(q(scaled), 0.5 * q(source), rtol=1e-4, atol=1e-6)

    fresh = tmp_path / "fresh"
    assert cli.main([*DAGGER, "--round-updates", "0", "--run-dir", str(fresh)]) == 0
    assert any((a != b).any() for a, b in zip(_leaves(fresh), _leaves(source), strict=True))


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "changes, message",
    [
        (["--dueling", "True"], "that run's network (torso auto, dueling False"),
        (["--env", "Breakout"], "that agent plays Pong with observations (4, 84, 84) and 6 actions"),
        (["--init-from", "{missing}"], "--init-from: {missing}: there is no run there"),
        (["--init-q-scale", "0"], "init_q_scale must be > 0, got 0.0"),
    ],
)
def test_a_run_that_does_not_fit_is_refused_with_one_message(source, tmp_path, capsys, changes, message):
    run = tmp_path / "refused"
    missing = str(tmp_path / "missing")
    changes = [c.format(missing=missing) for c in changes]
    assert cli.main([*DAGGER, "--init-from", str(source), *changes, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert message.format(missing=missing) in err and "Traceback" not in err
    assert not run.exists()


@pytest.mark.timeout(300)
def test_a_root_of_several_seeds_is_refused(tmp_path, capsys):
    root = tmp_path / "seeds"
    train_tiny_dqn(root, num_seeds=2)
    run = tmp_path / "refused"
    assert cli.main([*DAGGER, "--init-from", str(root), "--run-dir", str(run)]) == 2
    assert f"name one of them, e.g. --init-from {root / 'seed0'}" in capsys.readouterr().err
    assert not run.exists()
