"""DAgger's data collection (Ross et al. 2011, "A Reduction of Imitation Learning and Structured Prediction
to No-Regret Online Learning"): the learner plays, mixed with the expert, and the expert labels every state
the play visits.

At each step of each env the expert's action is executed with probability `beta` (the paper's mixture
pi_i = beta_i pi* + (1 - beta_i) pi_hat_i, drawn per env and step), the learner's otherwise; every visited
state is labelled with the expert's action, asked live (`Expert.label` reads the envs without touching
them). The N envs step in lockstep: one batched learner call and one batched expert call a step.

Games go on across rounds: a `RolloutState` keeps the envs and each one's game so far. A round returns the
games that ended in it, and each running game's piece so far as an episode cut by the round's end
(truncated, so the replay sees a proper end); the game goes on next round from where the piece ended (the
piece's final observation is the next piece's first). The function `collect` plays one round on new games
(it resets the envs); a DAgger loop should keep a `RolloutState` instead: with resets at each round, a round
of 8,000 steps over 8 envs gives each game 1,000 steps, while a Pong game the learner plays well lasts 3,500
to 4,500, so the learner would never be shown the late game, nor finish a game to score.

Each episode stores `extras["frame_number"]` (as the recorders do) and `extras["elapsed_step"]` (T+1,): the
game's step at each observation, 0 right after a reset. A piece whose `elapsed_step[0] > 0` continues a game.
The replay (`imitax.data.replay_loader.episode_steps`) starts every episode with `first`, so it stacks such a
piece's first observations with copies of its first frame instead of the frames before it: an inaccuracy on
at most frame_stack - 1 observations per env and round, accepted here. Scores are whole games', summed over
their pieces, reported in the round the game ends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imitax.data.dataset import Episode
from imitax.data.record import EpisodeBuffer, Policy
from imitax.envs import AtariEnv
from imitax.envs.noise import slipped_actions
from imitax.experts.base import Expert, check_game

__all__ = ["Rollout", "RolloutState", "collect"]


@dataclass(frozen=True)
class Rollout:
    """One round's episodes and what the round did."""

    episodes: list[Episode]
    """Games that ended this round, then the pieces of the running ones (truncated), in env order."""
    scores: list[float]
    """Unclipped scores of the games that ended this round (whole games, earlier rounds' pieces included)."""
    steps: int
    """Env steps, summed over envs."""
    labels: int
    """States the expert labelled (one per step)."""
    seconds: float
    disagreement: float
    """Share of steps where the learner's action differed from the expert's."""

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


class RolloutState:
    """N live games across DAgger rounds: the envs and each one's game so far.

    Args:
      envs: one game's `AtariEnv`s, training=False (whole games, unclipped scores). They are reset here
        and then belong to this state: nothing else may step them.
      seed: env i is reset first with seed + i (no-op starts), later from its own generator; None: no
        seeding.
    """

    def __init__(self, envs: Sequence[AtariEnv], seed: int | None = 0):
        if not envs:
            raise ValueError("a rollout needs at least one env")
        if any(env.spec_ != envs[0].spec_ for env in envs):
            raise ValueError("a rollout's envs must play one game under one preset")
        if any(env.training for env in envs):
            raise ValueError("a rollout plays whole games: make its envs with training=False")
        self.envs = list(envs)
        self._obs = np.zeros((len(envs), *envs[0].spec_.obs_shape), np.uint8)  # (N, stack, S, S)
        self._buffers = [EpisodeBuffer() for _ in envs]
        self._starts = [0] * len(envs)  # the game's step at each piece's first observation
        self._scores = [0.0] * len(envs)  # each game's score so far
        for i in range(len(envs)):
            self._new_game(i, None if seed is None else seed + i)

    def collect(
        self,
        policy: Policy,
        expert: Expert,
        num_steps: int,
        beta: float,
        rng: np.random.Generator,
        epsilon: float = 0.0,
    ) -> Rollout:
        """Plays `num_steps` steps (summed over envs; the last lockstep step may move only the first envs),
        executing the expert's label with probability `beta` and the learner's greedy action otherwise.

        Args:
          policy: the learner, (N, frame_stack, S, S) uint8 -> (N,) action indices; always given all N
            observations (a fixed shape for a jitted network).
          expert: labels every visited state; it plays the envs' game.
          num_steps: steps this round.
          beta: probability that the expert's action is executed (1: the expert plays, 0: the learner).
          rng: draws the mixture and the random actions.
          epsilon: probability that the executed action is then replaced by a uniformly random one (the
            evaluation protocol's slips); the label stays the expert's.
        """
        for name, p in (("beta", beta), ("epsilon", epsilon)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        check_game(expert, self.envs[0])
        start = time.perf_counter()
        finished: list[Episode] = []
        scores: list[float] = []
        steps = disagreed = 0
        while steps < num_steps:
            active = min(len(self.envs), num_steps - steps)
            learner = np.asarray(policy(self._obs))
            if learner.shape != (len(self.envs),):
                raise ValueError(
                    f"the policy returned shape {learner.shape} for {len(self.envs)} observations"
                )
            learner = learner[:active]
            labels = np.asarray(expert.label(self.envs[:active]))
            executed = np.where(rng.random(active) < beta, labels, learner)
            executed = slipped_actions(executed, self.envs[0].action_space.n, epsilon, rng)
            disagreed += int(np.sum(learner != labels))
            for i in range(active):
                obs, _, terminated, truncated, info = self.envs[i].step(int(executed[i]))
                buffer = self._buffers[i]
                buffer.add_step(int(executed[i]), int(labels[i]), info["score"], terminated, truncated)
                buffer.observe(self.envs[i], obs)
                self._scores[i] += info["score"]
                self._obs[i] = obs
                if terminated or truncated:
                    finished.append(self._episode(i))
                    scores.append(self._scores[i])
                    self._new_game(i)
            steps += active
        cut = [self._cut(i) for i in range(len(self.envs)) if self._buffers[i].num_steps]
        seconds = time.perf_counter() - start
        return Rollout(finished + cut, scores, steps, steps, seconds, disagreed / steps)

    def _new_game(self, i: int, seed: int | None = None) -> None:
        obs, _ = self.envs[i].reset(seed=seed)
        self._obs[i] = obs
        self._scores[i] = 0.0
        self._start_piece(i, 0)

    def _start_piece(self, i: int, elapsed: int) -> None:
        self._buffers[i] = EpisodeBuffer()
        self._buffers[i].observe(self.envs[i], self._obs[i])
        self._starts[i] = elapsed

    def _episode(self, i: int) -> Episode:
        buffer = self._buffers[i]
        episode = buffer.episode()
        assert episode.extras is not None
        episode.extras["elapsed_step"] = self._starts[i] + np.arange(buffer.num_steps + 1, dtype=np.int64)
        return episode

    def _cut(self, i: int) -> Episode:
        """Env i's running game so far, truncated; its next piece starts at its final observation."""
        buffer = self._buffers[i]
        buffer.truncations[-1] = True
        episode = self._episode(i)
        self._start_piece(i, self._starts[i] + buffer.num_steps)
        return episode


def collect(
    policy: Policy,
    expert: Expert,
    envs: Sequence[AtariEnv],
    num_steps: int,
    beta: float,
    rng: np.random.Generator,
    epsilon: float = 0.0,
) -> Rollout:
    """One round on new games: resets `envs` (seeds drawn from `rng`) and returns every game cut at the
    round's end. To let games go on across rounds, keep a `RolloutState` and call its `collect`."""
    state = RolloutState(envs, seed=int(rng.integers(2**31)))
    return state.collect(policy, expert, num_steps, beta, rng, epsilon)
