"""Conservative Q-learning (Kumar et al. 2020, "Conservative Q-Learning for Offline Reinforcement
Learning"), added to imitax from outside the package: one term function, registered by name, then an
offline Q-learning run on demonstrations that uses it beside n-step TD.

CQL(H) for discrete actions pushes down the soft maximum of the Q-values of a state and pushes up the
value of the action the data took there, so Q-learning from a fixed dataset does not overrate actions the
data never tried:  loss = logsumexp_a Q(s, a) - Q(s, a_data).

    python experiments/cql.py --demos demos/expert-pong-nature --updates 20000 --cql-weight 1.0

The run records where the term lives (this file), so `imitax eval RUN` and `imitax reproduce RUN` find it
again in another process.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import tyro

import imitax
from imitax.agents.algorithms import DQN_FAST
from imitax.agents.config import AgentConfig
from imitax.agents.objective import Q_TM1, Outputs, Term, TermOutput, TermSettings
from imitax.types import Transition


def cql_term(settings: TermSettings) -> Term:
    """CQL(H)'s regulariser on every transition of the batch (Kumar et al. 2020, eq. 4, discrete)."""

    def fn(out: Outputs, batch: Transition) -> TermOutput:
        q_tm1 = out[Q_TM1]  # (B, actions), online network at obs_tm1
        q_taken = jnp.take_along_axis(q_tm1, batch.action_tm1[:, None], axis=-1)[:, 0]
        gap = jax.nn.logsumexp(q_tm1, axis=-1) - q_taken  # (B,)
        return TermOutput(gap, jnp.ones(gap.shape, bool), extras={"gap": gap})

    return Term(fn, needs=frozenset({Q_TM1}))


imitax.register_term("cql", cql_term)


@dataclass(frozen=True)
class Args:
    """Offline n-step double Q-learning with CQL on a demonstration dataset."""

    demos: str
    """A demonstration dataset of the game (`imitax record expert --env Pong` makes one)."""
    env: str = "Pong"
    """The game the demonstrations were recorded on."""
    updates: int = 20_000
    """Offline gradient updates."""
    cql_weight: float = 1.0
    """CQL's alpha: the weight of the term beside n-step TD."""
    eval_every: int = 5_000
    """Evaluate whole games every this many updates (0: only at the end)."""
    eval_episodes: int = 8
    """Games per evaluation."""
    seed: int = 0
    """The run's seed."""
    run_dir: str | None = None
    """Where the run goes (default: runs/cql-<game>-s<seed>)."""


def config_of(args: Args) -> AgentConfig:
    """The fast DQN preset made offline: its n-step double Q-learning plus CQL, on the demonstrations."""
    return dataclasses.replace(
        DQN_FAST,
        env=args.env,
        demos=(args.demos,),
        loss=f"nstep=1,cql={args.cql_weight}",
        total_steps=0,
        pretrain_updates=args.updates,
        offline_eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        eval_epsilon=0.0,
        seed=args.seed,
        run_dir=args.run_dir or f"runs/cql-{args.env.lower()}-s{args.seed}",
    )


def main(args: Args) -> imitax.Result:
    result = imitax.train(config_of(args))
    run = result.runs[0]
    print(f"CQL on {args.env}: final return {run.final.mean:.2f} over {len(run.final.returns)} games")
    print(f"run: {result.run_dir}  (imitax eval {result.run_dir} plays it again)")
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
