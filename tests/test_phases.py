"""A new algorithm with a new kind of phase, added from outside: it touches no runner code. The phase
owns its counter (saved in checkpoints, restored on resume) and its metric column."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest

from imitax.agents.algorithms import ALGORITHMS, DQN_CARTPOLE, Algorithm, DQNConfig
from imitax.train import run_dir as rd
from imitax.train.phases import register_phase
from imitax.train.runner import train
from imitax.train.session import PhaseDefaults, Session


class PauseCount(PhaseDefaults):
    """Between the offline and online phases: counts its visits and writes one row with its count."""

    name = "pause"
    columns = ("pauses",)

    def __init__(self, session: Session):
        self.pauses = 0

    def planned(self) -> bool:
        return False  # no updates of its own: the final evaluation belongs to the online phase

    def counters(self) -> dict[str, int]:
        return {"pauses": self.pauses}

    def restore(self, counters: dict[str, int]) -> None:
        self.pauses = counters["pauses"]

    def run(self, session: Session) -> None:
        self.pauses += 1
        session.log.row(0, {**session.base_row(self.name), "pauses": self.pauses})


@dataclass(frozen=True)
class PausingDQN(DQNConfig):
    algo: ClassVar[str] = "pausing-dqn"


@pytest.fixture
def pausing_algorithm():
    register_phase("pause", PauseCount)
    ALGORITHMS["pausing-dqn"] = Algorithm(
        "pausing-dqn", "DQN with a pause.", PausingDQN, {}, "", phases=("offline", "pause", "online")
    )
    yield
    del ALGORITHMS["pausing-dqn"]


@pytest.mark.timeout(300)
def test_a_new_kind_of_phase_runs_checkpoints_and_resumes_without_runner_changes(tmp_path, pausing_algorithm):
    fields = {f.name: getattr(DQN_CARTPOLE, f.name) for f in dataclasses.fields(DQN_CARTPOLE) if f.init}
    small = dict(total_steps=256, learning_starts=64, log_every=128, eval_every=0, eval_episodes=1)
    small |= dict(num_envs=2, replay_capacity=512, batch_size=16, checkpoint_every=128)
    config = PausingDQN(**{**fields, **small, "run_dir": str(tmp_path / "run")})
    train(config, quiet=True)
    rows = rd.read_rows(tmp_path / "run" / rd.METRICS_FILE)
    assert [r["phase"] for r in rows] == ["pause", "online", "online"]
    assert rows[0]["pauses"] == "1" and rows[1]["pauses"] == ""

    train(dataclasses.replace(config, total_steps=384), resume=True, quiet=True)
    rows = rd.read_rows(tmp_path / "run" / rd.METRICS_FILE)
    # The resumed run restored the phase's counter from its checkpoint and paused once more.
    assert [(r["phase"], r["pauses"]) for r in rows if r["phase"] == "pause"] == [
        ("pause", "1"),
        ("pause", "2"),
    ]
