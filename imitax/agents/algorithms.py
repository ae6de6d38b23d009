"""The algorithms imitax trains, each an `AgentConfig` with its own defaults and named presets, and the one
registry (`ALGORITHMS`) that the CLI, checkpoint loading and experiments read.

All of them run on the same learner (`imitax.agents.learner`) and the same replay; they differ in their
objective, their phases (offline updates on demonstrations, online interaction, DAgger's rounds) and
their hyperparameters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from imitax.agents.config import AgentConfig


@dataclass(frozen=True)
class DQNConfig(AgentConfig):
    """Deep Q-learning (Mnih et al. 2015) and the options its family of papers uses."""

    algo: ClassVar[str] = "dqn"


@dataclass(frozen=True)
class BCConfig(AgentConfig):
    """Behaviour cloning: supervised classification of demonstrated actions, offline."""

    algo: ClassVar[str] = "bc"

    loss: str = "bc=1"
    """Objective as weighted terms (see `imitax train dqn --help`); cloning is bc=1."""
    total_steps: int = 0
    """Environment steps of online training after cloning (0: offline only)."""
    pretrain_updates: int = 20_000
    """Gradient updates on the demonstrations."""


@dataclass(frozen=True)
class DQfDConfig(AgentConfig):
    """Deep Q-learning from Demonstrations (Hester et al. 2018): pre-training on demonstrations with TD,
    n-step TD, a large-margin loss and L2, then interaction with demonstrations kept in a prioritized
    replay beside the agent's data."""

    algo: ClassVar[str] = "dqfd"

    loss: str = "td=1,nstep=1,margin=1"
    """Objective as weighted terms; DQfD's lambda_1 (nstep) and lambda_2 (margin) are 1."""
    n_step: int = 10
    """Horizon of the nstep term."""
    weight_decay: float = 1e-5
    """L2 regularisation (lambda_3 = 1e-5)."""
    prioritized: bool = True
    """Proportional prioritized replay, demonstrations with their own priority bonus."""
    priority_exponent: float = 0.4
    """alpha of the paper."""
    importance_exponent: float = 0.6
    """beta_0 of the paper."""
    pretrain_updates: int = 750_000
    """Updates on demonstrations before interacting."""
    double_q: bool = True
    """Double Q-learning targets, as the paper's PDD DQN base."""
    dueling: bool = True
    """The dueling architecture, as the paper's PDD DQN base."""
    optimizer: str = "adam"
    """Adam, as in the paper."""
    learning_rate: float = 6.25e-5
    """The paper's learning rate."""
    optimizer_eps: float = 1.5e-4
    """Adam's epsilon."""
    learning_starts: int = 0
    """Demonstrations fill the replay already: learning goes on from the first step."""
    epsilon_start: float = 0.01
    """The paper acts epsilon-greedily with 0.01 throughout."""
    epsilon_end: float = 0.01
    """The paper acts epsilon-greedily with 0.01 throughout."""


@dataclass(frozen=True)
class BCDQNConfig(AgentConfig):
    """Behaviour cloning as pre-training, then DQN from those weights, optionally keeping a decaying
    cloning term beside the TD term."""

    algo: ClassVar[str] = "bc-dqn"

    pretrain_loss: str | None = "bc=1"
    """Objective of the pre-training on demonstrations."""
    loss: str = "td=1,bc=1:20000"
    """Online objective: TD, with the cloning term decaying to 0 over 20,000 updates."""
    pretrain_updates: int = 20_000
    """Cloning updates before interacting."""


@dataclass(frozen=True)
class DaggerConfig(AgentConfig):
    """DAgger (Ross et al. 2011): rounds of acting with the current policy, mixed with the expert, every
    visited state labelled by the built-in expert (the oracle), aggregated with all earlier rounds'
    data, and cloning continued on the aggregate."""

    algo: ClassVar[str] = "dagger"

    loss: str = "bc=1"
    """Objective of each round's training."""
    total_steps: int = 0
    """Environment steps of online training after the rounds (0: none)."""
    expert: str | None = None
    """Who labels the states: a built-in expert (default: the game's; `imitax experts` lists them), or
    the run directory of a trained imitax agent of this game (its newest checkpoint)."""
    rounds: int = 8
    """Rounds of acting, labelling and training; round 0 is the expert's own play."""
    round_steps: int = 4_000
    """Emulator steps acted and labelled per round, over all emulators."""
    round_updates: int = 2_000
    """Gradient updates on the aggregate after each round."""
    round_envs: int = 8
    """ale-py emulators acting in parallel."""
    sticky_rounds: bool = False
    """Play the rounds with sticky actions (Machado et al. 2018: the emulator repeats the previous action
    with probability 0.25, one no-op, no FIRE at reset), so that the learner visits, and is taught, the
    states a delayed press leads to; evaluations keep the run's preset."""
    round_epsilon: float = 0.0
    """Probability that a round's executed action is uniformly random instead (as an epsilon-greedy
    evaluation's is), so that the aggregate holds the states after such slips, labelled with how the
    expert recovers from them; 0.05 is the Nature protocol's evaluation epsilon."""
    beta: float = 1.0
    """Probability that the expert's action is executed in round 0 (Ross et al.'s beta_1)."""
    beta_decay: float = 0.5
    """beta of round i is beta * beta_decay**i."""
    save_aggregate: str | None = None
    """Also write the aggregated labelled data to this dataset directory, each round as it is labelled:
    a run stopped before its last round keeps every round it labelled, and a resumed run appends
    (default: keep it in the replay only)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("rounds", "round_steps", "round_envs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.round_updates < 0:
            raise ValueError(f"round_updates must be >= 0, got {self.round_updates}")
        for name in ("beta", "beta_decay", "round_epsilon"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.save_replay:
            raise ValueError(
                "DAgger's aggregate lives in the replay: --save-replay False would lose it on a resume; "
                "keep --save-replay True"
            )

    @property
    def has_extra_phases(self) -> bool:
        return True

    @property
    def offline_updates(self) -> int:
        return self.pretrain_updates + self.rounds * self.round_updates

    def beta_at(self, round_index: int) -> float:
        """The expert's share of executed actions in a round."""
        return self.beta * self.beta_decay**round_index


# -- presets -----------------------------------------------------------------------------------------


def _as(cls: type[AgentConfig], base: AgentConfig, **changes) -> AgentConfig:
    """`base`'s settings as a config of algorithm `cls`, with `changes`."""
    values = {f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.init}
    return cls(**{**values, **changes})


DQN_NATURE = DQNConfig(total_steps=50_000_000)
"""Mnih et al. 2015: 50M agent steps (200M frames), RMSProp 2.5e-4, replay 1M, target every 10k updates."""

DQN_FAST = dataclasses.replace(
    DQN_NATURE,
    total_steps=1_000_000,
    replay_capacity=100_000,
    learning_starts=5_000,
    loss="nstep=1",
    n_step=10,
    double_q=True,
    augment_shift=4,
    optimizer="adam",
    learning_rate=2.5e-4,
    optimizer_eps=1.5e-4,
    target_update_period=1_000,
    epsilon_end=0.01,
    epsilon_decay_steps=50_000,
    eval_every=50_000,
    checkpoint_every=50_000,
)
"""Tuned for quick learning on a small budget (Pong on a CPU): Adam, 10-step double Q-learning with
random shifts of the frames (DrQ's data-efficient recipe, Kostrikov et al. 2021), a small replay and a
short exploration decay. The step size is 2.5e-4, not DrQ's 1e-4: on Pong, at 1e-4 one of two seeds
was still at -17.5 after 400k steps, and at 2.5e-4 both passed -10 by 300k and held there
(benchmarks/results/learn_pong_gpu_lr.json)."""

DQN_CARTPOLE = dataclasses.replace(
    DQN_NATURE,
    env="CartPole-v1",
    total_steps=80_000,
    replay_capacity=50_000,
    batch_size=128,
    learning_starts=1_000,
    replay_ratio=1.0,
    loss="nstep=1",
    n_step=3,
    double_q=True,
    td_loss="squared",
    optimizer="adam",
    learning_rate=3e-4,
    optimizer_eps=1e-8,
    target_update_period=1_000,
    epsilon_end=0.05,
    epsilon_decay_steps=10_000,
    log_every=5_000,
    eval_every=20_000,
    eval_epsilon=0.0,
    checkpoint_every=40_000,
)
"""A vector task with the MLP torso in about a minute on a CPU: the quick end-to-end check of DQN."""

BC_DEFAULT = BCConfig(
    optimizer="adam",
    learning_rate=1e-3,
    optimizer_eps=1.5e-4,
    batch_size=64,
    offline_eval_every=5_000,
    eval_epsilon=0.0,
)
"""Cloning on a CPU budget: Adam at 1e-3, batches of 64, 20,000 updates, evaluated greedily every 5,000.
No random shifts: a sight expert's decisions hang on a pixel of the ball against the paddle and the
walls, and with shifts of 4 a clone of pong-sight was still at its label prior (held-out accuracy 0.73,
the NOOP share) after 2,000 updates where without them it reached 0.90."""

DQFD_PAPER = DQfDConfig(total_steps=50_000_000)
"""Hester et al. 2018's settings: 750k pre-training updates, then interaction with PER (alpha 0.4,
beta_0 0.6, epsilon_a 0.001, epsilon_d 1), 10-step returns, margin 0.8, L2 1e-5, Adam 6.25e-5."""

DQFD_FAST = dataclasses.replace(
    DQFD_PAPER,
    total_steps=1_000_000,
    pretrain_updates=5_000,
    replay_capacity=100_000,
    augment_shift=4,
    learning_rate=1e-4,
    target_update_period=1_000,
    dueling=False,
    eval_every=50_000,
    checkpoint_every=50_000,
    offline_eval_every=0,
)
"""DQfD on a CPU budget, with the fast DQN preset's replay, target period and shifts, so the two compare
with only the demonstrations (and their terms) as the difference."""

BC_DQN_FAST = _as(
    BCDQNConfig,
    DQN_FAST,
    loss="nstep=1,bc=1:20000",
    pretrain_loss="bc=1",
    pretrain_updates=10_000,
    learning_starts=0,
    epsilon_start=0.1,
    epsilon_decay_steps=20_000,
)
"""BC pre-training (10,000 updates), then the fast DQN preset from those weights with the cloning term
decaying over 20,000 updates; exploration starts low, since the clone already plays."""

DAGGER_DEFAULT = DaggerConfig(
    optimizer="adam",
    learning_rate=1e-3,
    learning_rate_end=1e-4,
    optimizer_eps=1.5e-4,
    batch_size=64,
    eval_epsilon=0.0,
)
"""DAgger on a CPU budget: 8 rounds of 4,000 labelled steps and 2,000 updates each, cloning as BC_DEFAULT
does (no random shifts). The step size decays from 1e-3 to 1e-4 over the rounds: on Pong at a constant
1e-3 the greedy clone's evaluations swung by 10-15 points from round to round and 30 games ended at
14.9; with the decay the last five rounds each won 21-0 and so did all 30 final games
(benchmarks/results/learn_from_demos.json, 2026-12-05)."""


@dataclass(frozen=True)
class Algorithm:
    """One entry of the registry."""

    name: str
    summary: str
    config: type[AgentConfig]
    presets: dict[str, AgentConfig]
    default_preset: str
    phases: tuple[str, ...] = ("offline", "online")
    """The phases a run goes through, in order (`imitax.train.phases` names their kinds); a phase
    whose budget is 0 does nothing."""


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "dqn",
            "DQN (double, dueling, n-step, prioritized) on a game.",
            DQNConfig,
            {"nature": DQN_NATURE, "fast": DQN_FAST, "cartpole": DQN_CARTPOLE},
            "nature",
        ),
        Algorithm(
            "bc", "Behaviour cloning on demonstration datasets.", BCConfig, {"default": BC_DEFAULT}, "default"
        ),
        Algorithm(
            "dagger",
            "DAgger with a built-in expert as the oracle.",
            DaggerConfig,
            {"default": DAGGER_DEFAULT},
            "default",
            phases=("offline", "dagger", "online"),
        ),
        Algorithm(
            "dqfd",
            "DQfD: pre-train on demonstrations, then learn with them in the replay.",
            DQfDConfig,
            {"paper": DQFD_PAPER, "fast": DQFD_FAST},
            "fast",
        ),
        Algorithm(
            "bc-dqn",
            "BC pre-training, then DQN from those weights.",
            BCDQNConfig,
            {"fast": BC_DQN_FAST},
            "fast",
        ),
    )
}
"""Every algorithm imitax trains, by the name `imitax train <name>` and run records use."""


def config_class(algo: str) -> type[AgentConfig]:
    """The config class of an algorithm, with a clear error for a name imitax does not know."""
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; imitax trains {', '.join(ALGORITHMS)}")
    return ALGORITHMS[algo].config
