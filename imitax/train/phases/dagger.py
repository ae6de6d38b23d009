"""DAgger's rounds (Ross et al. 2011, "A Reduction of Imitation Learning and Structured Prediction to
No-Regret Online Learning"): the current policy acts, mixed with the expert by beta, on ale-py emulators;
the teacher (a built-in expert or a trained agent, `imitax.train.teacher`) labels every visited state
(the oracle); the labelled steps join the replay's demonstration partition, in memory, where every
earlier round's data stays (the aggregate); the learner then trains on the aggregate, warm-started from
the previous round."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from imitax.agents.algorithms import DaggerConfig
from imitax.agents.config import AgentConfig
from imitax.data.dataset import (
    DATA_DIR,
    METADATA_FILE,
    DatasetError,
    DatasetWriter,
    Episode,
    Source,
    check_new_dataset,
)
from imitax.data.replay_loader import add_episodes
from imitax.data.rollout import RolloutState
from imitax.envs import AtariEnv
from imitax.envs.presets import with_sticky_actions
from imitax.replay import Replay, ReplayState
from imitax.train.phases.offline import OfflineUpdates
from imitax.train.schedule import DAGGER_ENVS, derive_seed
from imitax.train.session import Session
from imitax.train.teacher import make_teacher
from imitax.types import EnvSpec

ROUND_EPISODES = "dagger_round_episodes"
"""The aggregate dataset's metadata field ("imitax" block) counting the games each DAgger round wrote."""


class DaggerRounds:
    """The emulators, the expert and the aggregate of one DAgger run.

    With `config.save_aggregate`, each round's labelled games are written to that dataset as soon as they
    join the replay, so a run stopped before its last round keeps every round it labelled, and a resumed
    run (`resumed`) appends to its own. The dataset's metadata counts the games of each round
    (`ROUND_EPISODES`), so a resume first takes out the rounds its checkpoint does not hold (a run killed
    between labelling a round and checkpointing it labels that round again): the dataset always holds
    what the replay holds."""

    def __init__(self, config: DaggerConfig, spec: EnvSpec, act, seed: int, resumed: bool = False):
        if spec.preset is None:
            raise ValueError(f"DAgger needs an Atari game with a teacher; {spec.name} is not one.")
        self.config, self.spec = config, spec
        try:
            self.expert = make_teacher(config.expert, spec.name, config.env_preset)
        except ValueError as err:
            raise ValueError(
                f"DAgger labels every state with a teacher: a built-in expert or a trained agent's run "
                f"directory (--expert RUN_DIR). {err}"
            ) from None
        self.expert_name = self.expert.name
        preset = with_sticky_actions(config.env_preset) if config.sticky_rounds else config.env_preset
        envs = [AtariEnv(spec.name, preset, training=False) for _ in range(config.round_envs)]
        self.games = RolloutState(envs, seed=seed)  # games go on across rounds
        self.rng = np.random.default_rng(seed)
        self.aggregate = Path(config.save_aggregate) if config.save_aggregate else None
        if self.aggregate is not None and not resumed:
            try:
                check_new_dataset(self.aggregate, "a resumed run appends to its own aggregate")
            except DatasetError as err:
                raise DatasetError(f"--save-aggregate {err}") from None
        self._append = resumed
        self._writer: DatasetWriter | None = None
        self._round_episodes: list[int] | None = None
        key = jax.random.key(0)  # greedy acting draws nothing from it
        self._greedy = jax.jit(lambda state, obs: act(state, obs, key, 0.0))

    def collect(
        self, agent_state: Any, replay_state: ReplayState, replay: Replay, beta: float, round_index: int
    ) -> tuple[dict[str, float], ReplayState]:
        """Acts one round, adds its labelled steps to the demonstration partition; returns the round's
        figures for the metrics row and the new replay state."""

        def policy(obs: np.ndarray) -> np.ndarray:
            return np.asarray(self._greedy(agent_state, jnp.asarray(obs)))

        config = self.config
        rollout = self.games.collect(
            policy, self.expert, config.round_steps, beta, self.rng, epsilon=config.round_epsilon
        )
        replay_state = add_episodes(
            rollout.episodes, replay, replay_state, self.spec, what=f"DAgger round {round_index}"
        )
        self.keep(rollout.episodes)
        done = rollout
        stats = {
            "beta": beta,
            "round_return": float(np.mean(done.scores)) if done.scores else float("nan"),
            "round_games": len(done.scores),
            "round_labels": done.labels,
            "disagreement": done.disagreement,
            "steps_per_s": done.steps_per_s,
        }
        return stats, replay_state

    def open_aggregate(self, rounds_done: int) -> None:
        """Opens the aggregate dataset, when the run keeps one, before round `rounds_done` acts: a new one,
        or on a resume the run's own with the rounds after `rounds_done` taken out (called when the rounds
        start: nothing is written while a run is set up).

        Raises:
          DatasetError: on a resume, the dataset holds fewer rounds than the checkpoint (moved, replaced).
        """
        if self.aggregate is None:
            return
        where = f"--save-aggregate {self.aggregate}"
        append = self._append and (self.aggregate / DATA_DIR / METADATA_FILE).exists()
        if self._append and rounds_done and not append:
            raise DatasetError(
                f"{where} holds no dataset, but this run's checkpoint has labelled {_rounds(rounds_done)} "
                "into it: put it back where it was (the run reads it from there), or start a new run."
            )
        source = Source(kind="dagger", name=self.expert_name)
        self._writer = DatasetWriter(self.aggregate, self.spec, source, {ROUND_EPISODES: []}, append=append)
        if not append:
            self._round_episodes = []
            return
        kept = self._writer.info.get(ROUND_EPISODES)
        if kept is None:  # written by an imitax that did not count rounds: appended to as it was then
            self._round_episodes = None
            return
        if len(kept) < rounds_done:
            raise DatasetError(
                f"{where} holds {_rounds(len(kept))} of DAgger, but this run's checkpoint has labelled "
                f"{rounds_done}: it was replaced since. Put the run's own back, or start a new run."
            )
        self._round_episodes = kept[:rounds_done]
        self._writer.truncate(sum(self._round_episodes))
        self._writer.set_info(**{ROUND_EPISODES: self._round_episodes})

    def keep(self, episodes: list[Episode]) -> None:
        """Writes a round's labelled games to the aggregate dataset, when the run keeps one."""
        if self._writer is None:
            return
        for episode in episodes:
            self._writer.add(episode)
        if self._round_episodes is not None:
            self._round_episodes.append(len(episodes))
            self._writer.set_info(**{ROUND_EPISODES: self._round_episodes})


def _rounds(count: int) -> str:
    return f"{count} round{'s' * (count != 1)}"


class DaggerPhase:
    """DAgger's rounds after any offline updates: each round acts (`DaggerRounds.collect`), trains
    `round_updates` offline updates on the aggregate, is evaluated and checkpointed."""

    name = "dagger"
    columns = ("round", "beta", "round_return", "round_games", "round_labels", "disagreement")

    def __init__(self, session: Session):
        config = session.config
        if not isinstance(config, DaggerConfig):
            raise ValueError(f"DAgger's rounds need a DaggerConfig, not a {type(config).__name__}")
        if session.num_seeds > 1:
            raise ValueError("DAgger's rounds act on ale-py emulators one seed at a time: drop --num-seeds")
        self.config = config
        seed = derive_seed(config.seed, DAGGER_ENVS, session.start_step)
        self.rounds = DaggerRounds(config, session.env.spec, session.agent.act, seed, session.resumed)
        self.updates = OfflineUpdates(session)
        self.round = 0

    @staticmethod
    def demo_rows(config: AgentConfig) -> int:
        """Replay rows the aggregate may take: every labelled step, plus one final observation for each
        episode a round ends (finished games, generously counted, and the games cut at the round's end)."""
        per_round = config.round_steps + config.round_steps // 50 + config.round_envs
        return config.rounds * per_round

    def planned(self) -> bool:
        return True

    def counters(self) -> dict[str, int]:
        return {"dagger_round": self.round}

    def restore(self, counters: dict[str, int]) -> None:
        self.round = counters["dagger_round"]

    def updates_after(self, rounds: int) -> int:
        """Offline updates done when `rounds` rounds have trained (pre-training's included)."""
        return self.config.pretrain_updates + rounds * self.config.round_updates

    def run(self, s: Session) -> None:
        config = self.config
        self.rounds.open_aggregate(self.round)
        if self.round and s.offline_updates < self.updates_after(self.round):
            self.train(s, {"round": self.round - 1})  # stopped during its updates: finish them first
        while self.round < config.rounds:
            beta = config.beta_at(self.round)
            s.log.message(f"DAgger round {self.round}: acting with beta {beta:.3f}")
            state = s.state
            stats, replay_state = self.rounds.collect(state.agent, state.replay, s.replay, beta, self.round)
            s.state = s.state._replace(replay=replay_state)
            stats["round"] = self.round
            self.round += 1
            self.train(s, stats)
        if config.save_aggregate:
            s.log.message(f"The aggregated demonstrations are in {config.save_aggregate}")

    def train(self, s: Session, stats: dict[str, float]) -> None:
        """The updates of the rounds done so far (up to `updates_after`, not by a count: a round stopped
        during its updates finishes them on resume), then an evaluation and a checkpoint."""
        if self.config.round_updates:
            self.updates.run(self.updates_after(self.round), self.name, 0, last_row=stats)
        else:
            s.log.row(0, {**s.base_row(self.name), **stats})
        s.evaluate(self.name)
        s.save()
        s.stop.check()
