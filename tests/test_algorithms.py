"""Every algorithm end to end on real Pong at a tiny budget, through the CLI, and the bad inputs that
learning from demonstrations invites."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from imitax import cli
from imitax.agents.algorithms import DaggerConfig
from imitax.data.dataset import DatasetWriter, Source, load_dataset
from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.envs import atari_spec
from imitax.train.phases.dagger import DaggerRounds
from imitax.train.session import Session

SMALL = ["--num-envs", "2", "--eval-episodes", "1", "--batch-size", "8", "--offline-log-every", "10"]


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demos") / "pong"
    record_expert(ExpertRecordConfig(env="Pong", out=str(out), episodes=2, max_episode_steps=100, quiet=True))
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _train(algo: str, *args: str) -> int:
    return cli.main(["train", algo, *SMALL, *args])


@pytest.mark.timeout(600)
def test_bc_clones_offline_and_evaluates_in_the_game(tmp_path, demos):
    run = tmp_path / "bc"
    assert _train("bc", "--demos", str(demos), "--pretrain-updates", "20", "--run-dir", str(run)) == 0
    rows = _rows(run / "metrics.csv")
    assert [int(r["updates"]) for r in rows] == [10, 20]
    assert {r["phase"] for r in rows} == {"pretrain"}
    assert all(int(r["env_steps"]) == 0 for r in rows)
    assert 0 <= float(rows[-1]["bc_accuracy"]) <= 1 and float(rows[-1]["bc_loss"]) > 0
    evals = _rows(run / "eval.csv")
    assert int(evals[-1]["updates"]) == 20 and int(evals[-1]["episodes"]) == 1


@pytest.mark.timeout(600)
def test_dqfd_pretrains_then_learns_online_with_demonstrations_kept(tmp_path, demos):
    run = tmp_path / "dqfd"
    args = ["--demos", str(demos), "--pretrain-updates", "20", "--total-steps", "64", "--log-every", "32"]
    args += [
        "--replay-capacity",
        "1000",
        "--n-step",
        "3",
        "--checkpoint-every",
        "1000",
        "--run-dir",
        str(run),
    ]
    assert _train("dqfd", *args) == 0
    rows = _rows(run / "metrics.csv")
    assert [r["phase"] for r in rows] == ["pretrain", "pretrain", "online", "online"]
    assert [int(r["step"]) for r in rows] == [10, 20, 52, 84]  # offline updates + environment steps
    online = rows[-1]
    assert int(online["updates"]) == 20 + 64 // 4  # the pre-training's, then one every 4 steps
    assert float(online["margin_loss"]) > 0  # demonstrations are still sampled online
    assert float(online["nstep_loss"]) > 0 and float(online["td_loss"]) > 0


@pytest.mark.timeout(600)
def test_resume_keeps_the_demonstrations(tmp_path, demos):
    run = tmp_path / "dqfd"
    args = ["--demos", str(demos), "--pretrain-updates", "10", "--log-every", "32", "--save-replay", "False"]
    args += ["--replay-capacity", "1000", "--checkpoint-every", "32", "--run-dir", str(run)]
    assert _train("dqfd", *args, "--total-steps", "32") == 0
    assert cli.main(["train", "dqfd", "--resume", str(run), "--total-steps", "64"]) == 0
    rows = _rows(run / "metrics.csv")
    assert [int(r["env_steps"]) for r in rows] == [0, 32, 64]
    assert float(rows[-1]["margin_loss"]) > 0  # reloaded from the dataset, since the replay was not saved


@pytest.mark.timeout(600)
def test_bc_then_dqn_switches_objective(tmp_path, demos):
    run = tmp_path / "bcdqn"
    args = ["--demos", str(demos), "--pretrain-updates", "10", "--total-steps", "32", "--log-every", "32"]
    args += ["--replay-capacity", "1000", "--run-dir", str(run)]
    assert _train("bc-dqn", *args) == 0
    pretrain, online = _rows(run / "metrics.csv")
    assert pretrain["phase"] == "pretrain" and pretrain["nstep_loss"] == ""
    assert online["phase"] == "online" and float(online["nstep_loss"]) > 0 and online["bc_loss"] != ""


@pytest.mark.timeout(600)
def test_dagger_rounds_label_with_the_expert(tmp_path):
    run = tmp_path / "dagger"
    args = ["--env", "Pong", "--rounds", "2", "--round-steps", "64", "--round-envs", "2"]
    args += ["--round-updates", "10", "--run-dir", str(run), "--save-aggregate", str(tmp_path / "agg")]
    assert _train("dagger", *args) == 0
    rounds = [r for r in _rows(run / "metrics.csv") if r["round"] != ""]
    assert [int(r["round"]) for r in rounds] == [0, 1]
    assert [float(r["beta"]) for r in rounds] == [1.0, 0.5]
    assert [int(r["round_labels"]) for r in rounds] == [64, 64]
    assert all(0 <= float(r["disagreement"]) <= 1 for r in rounds)
    assert [int(r["updates"]) for r in rounds] == [10, 20]  # each round trains after acting
    assert len(_rows(run / "eval.csv")) == 2
    aggregate = list(load_dataset(tmp_path / "agg").episodes())
    assert sum(e.num_steps for e in aggregate) == 128
    first_round = aggregate[:2]  # beta 1: the expert's action is executed at every step
    assert all((e.actions == e.labels).all() for e in first_round)
    assert any((e.actions != e.labels).any() for e in aggregate[2:])  # beta 1/2: the learner acts too


@pytest.mark.timeout(600)
def test_dagger_stopped_keeps_its_aggregate_and_a_resume_appends(tmp_path, monkeypatch):
    """A run stopped early (by a time budget's signal) keeps each round it labelled; resumed, it appends."""
    run, aggregate = tmp_path / "dagger", tmp_path / "agg"
    args = ["--env", "Pong", "--rounds", "2", "--round-steps", "64", "--round-envs", "2"]
    args += ["--round-updates", "10", "--run-dir", str(run), "--save-aggregate", str(aggregate)]
    evaluate = Session.evaluate

    def evaluate_then_stop(session, phase):  # a signal arriving during round 0's evaluation
        evaluate(session, phase)
        session.stop.requested = True

    with monkeypatch.context() as patch:
        patch.setattr(Session, "evaluate", evaluate_then_stop)
        assert _train("dagger", *args) == 130
    round_0 = list(load_dataset(aggregate).episodes())
    assert sum(e.num_steps for e in round_0) == 64 and all((e.actions == e.labels).all() for e in round_0)
    assert cli.main(["train", "dagger", "--resume", str(run)]) == 0
    rounds = [int(r["round"]) for r in _rows(run / "metrics.csv") if r["round"] != ""]
    assert rounds == [0, 1]
    both = list(load_dataset(aggregate).episodes())
    assert sum(e.num_steps for e in both) == 128
    assert [e.frames.tobytes() for e in both[: len(round_0)]] == [e.frames.tobytes() for e in round_0]


@pytest.mark.timeout(600)
def test_dagger_stopped_during_a_rounds_updates_finishes_them_on_resume(tmp_path, monkeypatch):
    """A stop between two chunks of a round's updates used to skip the rest of them: the resumed run
    ended short of its last step, so it never counted as finished."""
    run = tmp_path / "dagger"
    args = ["--env", "Pong", "--rounds", "2", "--round-steps", "32", "--round-envs", "2"]
    args += ["--round-updates", "20", "--run-dir", str(run)]  # chunks of 10 (SMALL's --offline-log-every)
    maybe_save = Session.maybe_save

    def save_then_stop(session):  # a signal arriving after round 0's first chunk of updates
        maybe_save(session)
        session.stop.requested = session.offline_updates == 10

    with monkeypatch.context() as patch:
        patch.setattr(Session, "maybe_save", save_then_stop)
        assert _train("dagger", *args) == 130
    assert cli.main(["train", "dagger", "--resume", str(run)]) == 0
    rows = _rows(run / "metrics.csv")
    assert [int(r["updates"]) for r in rows] == [10, 20, 30, 40]
    assert [r["round"] for r in rows] == ["", "0", "", "1"]


@pytest.mark.timeout(600)
def test_dagger_killed_before_checkpointing_a_round_keeps_it_once(tmp_path, monkeypatch, capsys):
    """The aggregate holds what the checkpoint holds: a round written but not checkpointed is taken out
    on resume (it is labelled again), and a resume without the run's aggregate is refused."""
    run, aggregate = tmp_path / "dagger", tmp_path / "agg"
    args = ["--env", "Pong", "--rounds", "2", "--round-steps", "32", "--round-envs", "2"]
    args += ["--round-updates", "10", "--run-dir", str(run), "--save-aggregate", str(aggregate)]
    save = Session.save

    def killed_at_round_1(session):
        if session.offline_updates == 20:
            raise RuntimeError("killed")  # as a kill -9 between round 1's data and its checkpoint
        save(session)

    with monkeypatch.context() as patch:
        patch.setattr(Session, "save", killed_at_round_1)
        with pytest.raises(RuntimeError, match="killed"):
            _train("dagger", *args)
    assert load_dataset(aggregate).total_steps == 64  # rounds 0 and 1 written, round 1 not checkpointed
    aggregate.rename(tmp_path / "moved")
    assert cli.main(["train", "dagger", "--resume", str(run)]) == 2
    message = "holds no dataset, but this run's checkpoint has labelled 1 round into it"
    assert message in capsys.readouterr().err
    assert not aggregate.exists()
    (tmp_path / "moved").rename(aggregate)
    assert cli.main(["train", "dagger", "--resume", str(run)]) == 0
    dataset = load_dataset(aggregate)
    assert dataset.total_steps == 64
    assert sum(dataset.info["dagger_round_episodes"]) == dataset.num_episodes


def test_dagger_refuses_an_aggregate_path_in_use_before_acting(tmp_path, capsys):
    taken = tmp_path / "agg"
    taken.mkdir()
    (taken / "notes.txt").write_text("a researcher's file")
    run = tmp_path / "dagger"
    assert _train("dagger", "--env", "Pong", "--run-dir", str(run), "--save-aggregate", str(taken)) == 2
    err = capsys.readouterr().err
    assert (
        f"--save-aggregate {taken} exists and is not an empty directory; choose an empty or new path" in err
    )
    assert not run.exists() and (taken / "notes.txt").read_text() == "a researcher's file"


def test_dagger_sticky_rounds_play_with_sticky_actions_and_the_runs_actions():
    spec = atari_spec("Pong", "nature")
    rounds = DaggerRounds(DaggerConfig(sticky_rounds=True, round_envs=2), spec, lambda *a: None, seed=0)
    for env in rounds.games.envs:
        assert env.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
        assert env.spec_.action_ids == spec.action_ids and env.spec_.obs_shape == spec.obs_shape
    plain = DaggerRounds(DaggerConfig(round_envs=1), spec, lambda *a: None, seed=0)
    assert plain.games.envs[0].ale.getFloat("repeat_action_probability") == 0.0


def test_dagger_round_epsilon_slips_the_rounds_actions(monkeypatch):
    spec = atari_spec("Pong", "nature")
    rounds = DaggerRounds(DaggerConfig(round_epsilon=0.05, round_envs=1), spec, lambda *a: None, seed=0)
    asked = {}

    def collect(policy, expert, num_steps, beta, rng, epsilon):
        asked.update(beta=beta, epsilon=epsilon)
        raise StopIteration  # the rollout itself is tested in test_rollout.py

    monkeypatch.setattr(rounds.games, "collect", collect)
    with pytest.raises(StopIteration):
        rounds.collect(None, None, None, beta=0.5, round_index=1)
    assert asked == {"beta": 0.5, "epsilon": 0.05}
    with pytest.raises(ValueError, match=r"round_epsilon must be in \[0, 1\], got 1.5"):
        DaggerConfig(round_epsilon=1.5)


# -- bad input ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("empty") / "pong"
    DatasetWriter(out, atari_spec("Pong", "nature"), Source("expert", "none"))
    return out


@pytest.mark.parametrize(
    "algo, args, message",
    [
        (
            "bc",
            ["--demos", "{demos}", "--env", "Breakout"],
            "game: dataset has Pong, environment is Breakout",
        ),
        ("bc", ["--demos", "{empty}"], "holds no steps"),
        ("bc", ["--demos", "/nowhere/at/all"], "is not a dataset"),
        ("bc", [], "name them with --demos"),
        ("dqn", ["--loss", "td=1,margn=1"], "unknown loss term 'margn'"),
        ("dqn", ["--loss", "td=1,margin=1"], "margin term learns from demonstrations only"),
        ("dqn", ["--demo-fraction", "0.25"], "--demo-fraction draws from demonstrations"),
        ("dagger", ["--env", "Seaquest"], "Seaquest"),
    ],
)
def test_bad_input_gives_one_message_and_writes_nothing(
    tmp_path, capsys, demos, empty_dataset, algo, args, message
):
    run = tmp_path / "run"
    args = [a.format(demos=demos, empty=empty_dataset) for a in args]
    assert cli.main(["train", algo, *args, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not run.exists()
