"""Settings of a training run: what every run shares (`RunConfig`) and what a learner is made of
(`AgentConfig`: replay, network, objective, target network, optimizer, exploration, demonstrations and
the offline phase). Every algorithm is an `AgentConfig` with its own defaults and presets."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar, Literal

from imitax.agents.objective import Q_NSTEP_ONLINE, Q_NSTEP_TARGET, Loss, TermSettings
from imitax.envs import EVAL_PROTOCOLS, AtariPreset, get_preset, is_atari, resolve_env_name
from imitax.replay import ReplayConfig


@dataclass(frozen=True)
class RunConfig:
    """What any imitax training run needs besides its agent's own settings."""

    algo: ClassVar[str] = "run"

    env: str = "Pong"
    """Atari game in any common spelling (Pong, space_invaders, ALE/Breakout-v5), or a vector task."""
    env_preset: str = "nature"
    """Atari preprocessing preset: nature (Mnih et al. 2015) or machado (Machado et al. 2018)."""
    num_envs: int = 8
    """Environments stepped together by envpool."""
    total_steps: int = 1_000_000
    """Environment steps to train for, summed over all environments (0: no online phase)."""
    seed: int = 0
    """Seeds the network, exploration, replay sampling and environments; same seed, same run."""
    num_seeds: int = 1
    """Independent agents trained together in one compiled program, seeds seed to seed+K-1, each with its
    own replay and environments and its own run directory (RUN_DIR/seed<s>), equal to K separate runs."""
    run_dir: str | None = None
    """Where config, metrics, TensorBoard logs and checkpoints go (default: runs/<algo>-<env>-seed<seed>,
    or runs/<algo>-<env>-seeds<first>-<last> holding one directory per seed)."""
    log_every: int = 10_000
    """Environment steps per metrics row of the online phase (rows fall on its multiples)."""
    eval_every: int = 250_000
    """Environment steps between evaluations (a final one always runs); 0 evaluates only at the end."""
    eval_episodes: int = 10
    """Whole games per evaluation, played in parallel on separate environments."""
    final_eval_episodes: int | None = None
    """Whole games of the evaluation at the run's last step, the figure a run ends on (default:
    --eval-episodes): more games than the curve's points need, for a smaller standard error where runs
    are compared. Its environments are seeded as those of a run whose --eval-episodes is this count."""
    eval_epsilon: float = 0.05
    """Exploration rate while evaluating (unless --eval-protocol sets its own)."""
    eval_protocol: Literal["preset", "nature", "machado"] = "preset"
    """How evaluation games are played: preset (the env preset's settings at --eval-epsilon), nature (Mnih
    et al. 2015: up to 30 no-op starts, epsilon 0.05, games cut at 5 minutes) or machado (Machado et al.
    2018: sticky actions 0.25, games cut at 108,000 frames); each needs its own --env-preset."""
    checkpoint_every: int = 250_000
    """Steps (offline updates plus environment steps) between checkpoints (one is also saved at the end
    and on Ctrl-C)."""
    wandb_project: str | None = None
    """Also log metrics and evaluations to this Weights & Biases project (needs `pip install wandb`);
    TensorBoard logs are always written."""
    save_replay: bool = True
    """Keep the replay in checkpoints so a resumed run continues exactly; off: a resume refills it."""

    def __post_init__(self) -> None:
        resolve_env_name(self.env)  # an unknown game fails here, with suggestions
        get_preset(self.env_preset)
        _at_least(self, 1, "num_envs", "num_seeds", "log_every", "eval_episodes", "checkpoint_every")
        if self.final_eval_episodes is not None:
            _at_least(self, 1, "final_eval_episodes")
        _at_least(self, 0, "total_steps", "eval_every", "seed")
        protocol = EVAL_PROTOCOLS.get(self.eval_protocol)
        if protocol and (not is_atari(self.env) or protocol.preset != self.env_preset):
            raise ValueError(
                f"--eval-protocol {self.eval_protocol} evaluates Atari games trained with --env-preset "
                f"{protocol.preset}; this run has {self.env} with --env-preset {self.env_preset}. Use "
                "--eval-protocol preset, or train with that preset."
            )

    @property
    def eval_preset(self) -> str | AtariPreset:
        """The preset evaluation games are played under (the protocol's cap on their length)."""
        protocol = EVAL_PROTOCOLS.get(self.eval_protocol)
        return protocol.eval_preset() if protocol else self.env_preset

    @property
    def resolved_eval_epsilon(self) -> float:
        """Exploration while evaluating: the protocol's, or --eval-epsilon."""
        protocol = EVAL_PROTOCOLS.get(self.eval_protocol)
        return self.eval_epsilon if protocol is None or protocol.epsilon is None else protocol.epsilon

    @property
    def resolved_final_eval_episodes(self) -> int:
        """Games of the evaluation at the run's last step: --final-eval-episodes, or --eval-episodes."""
        return self.final_eval_episodes or self.eval_episodes

    @property
    def resolved_run_dir(self) -> str:
        """The run directory, with the default filled in."""
        if self.run_dir:
            return self.run_dir
        seeds = f"s{self.seed}-{self.seed + self.num_seeds - 1}" if self.num_seeds > 1 else ""
        return f"runs/{self.algo}-{resolve_env_name(self.env).lower()}-seed{seeds or self.seed}"


@dataclass(frozen=True)
class AgentConfig(RunConfig):
    """A value-based or cloning agent trained by the one learner: an objective of named loss terms, an
    optax optimizer and a target-network rule, over the shared replay (agent and demonstration data)."""

    algo: ClassVar[str] = "agent"

    # Objective.
    loss: str = "td=1"
    """Objective as weighted terms: td (1-step TD), nstep (n-step TD), margin (DQfD's large margin), bc
    (cross-entropy to the demonstrator's action), e.g. td=1,nstep=1,margin=1; bc=0.5:20000 decays the
    weight to 0 over 20,000 updates."""
    margin: float = 0.8
    """Margin of the large-margin loss (Hester et al. 2018)."""
    label_smoothing: float = 0.0
    """Label smoothing of the bc term (0: none)."""
    bc_balance: bool = False
    """Class-balanced bc term: each action among a batch's demonstrations gets an equal share of the
    loss, so that rare actions (a demonstrator's few presses among many NOOPs) are learned too."""
    weight_decay: float = 0.0
    """L2 regularisation of the weights through the optimizer (DQfD: 1e-5); 0: none."""

    # Demonstrations and the offline phase.
    demos: tuple[str, ...] = ()
    """Demonstration datasets (directories) that fill the replay's demonstration partition."""
    demo_fraction: float | None = None
    """Share of each online batch drawn from demonstrations; None: in proportion to what each part holds
    (or to its priority mass under prioritized replay)."""
    pretrain_updates: int = 0
    """Gradient updates on demonstrations alone before any environment step (the offline phase)."""
    pretrain_loss: str | None = None
    """Objective of the offline phase, written like --loss (None: the same as --loss)."""
    offline_log_every: int = 1_000
    """Updates per metrics row (and per compiled chunk) in the offline phase."""
    offline_eval_every: int = 0
    """Updates between evaluations in the offline phase (0: only at its end)."""
    init_from: str | None = None
    """A run directory whose newest checkpoint's network weights start this run (its optimizer, counters
    and replay start fresh): a clone for DAgger or for RL fine-tuning, as the main job chains them. Its
    network must be this run's (same torso, head, observations and actions)."""
    init_q_scale: float = 1.0
    """Multiplies the Q-values of the network taken from --init-from (its output layer is scaled), which
    leaves its greedy policy as it was. A clone's logits spread over tens of units while a Q-function of
    clipped rewards lies within a few: TD learning on them at full size rewrites the policy before it
    improves it (the main job's DQfD fell from DAgger's +5 to -18.5 at 1, stayed at +5.5 at 0.1)."""
    val_episodes: int = 1
    """Whole demonstration episodes (the last ones) held out of a run with an offline phase, to log the
    objective's loss and accuracy on games it never trained on (`val_*` columns) beside the training
    ones; all but one at most; 0: none."""

    # Replay and learning schedule.
    replay_capacity: int = 1_000_000
    """Agent transitions kept in the replay (a multiple of num_envs)."""
    batch_size: int = 32
    """Transitions per gradient update."""
    n_step: int = 1
    """Horizon of the nstep term's bootstrapped returns."""
    discount: float = 0.99
    """Per-step discount gamma."""
    learning_starts: int = 50_000
    """Environment steps of acting before the first online update."""
    replay_ratio: float = 0.25
    """Gradient updates per environment step (0.25: one update every 4 steps, as in Nature DQN)."""
    prioritized: bool = False
    """Proportional prioritized replay (Schaul et al. 2016); off: uniform sampling."""
    priority_exponent: float = 0.6
    """alpha: sampling probability grows as priority**alpha."""
    importance_exponent: float = 0.4
    """beta at the first update, annealed linearly to 1 by the run's last update."""
    priority_eps_agent: float = 1e-3
    """Bonus added to |TD error| for agent transitions (epsilon_a in DQfD)."""
    priority_eps_demo: float = 1.0
    """Bonus added to |TD error| for demonstration transitions (epsilon_d in DQfD)."""

    # Network and loss.
    dueling: bool = False
    """Dueling head (Wang et al. 2016)."""
    torso: Literal["auto", "nature", "mlp"] = "auto"
    """Network torso; auto picks nature for frames and mlp for vectors."""
    mlp_sizes: tuple[int, ...] = (128, 128)
    """Hidden sizes of the MLP torso."""
    policy_head: bool = False
    """A separate policy head for the bc term (off: bc reads the Q-values as logits)."""
    double_q: bool = False
    """Double Q-learning targets (van Hasselt et al. 2016)."""
    td_loss: Literal["huber", "squared"] = "huber"
    """TD loss: huber (Nature's error clipping) or squared."""
    huber_delta: float = 1.0
    """Where the Huber loss turns linear."""
    augment_shift: int = 0
    """Random shifts of up to this many pixels on sampled frames (DrQ, Kostrikov et al. 2021); 0: none."""

    # Target network.
    target_update_period: int = 10_000
    """Copy the online network into the target every this many updates (hard updates)."""
    target_tau: float | None = None
    """Polyak averaging weight per update instead of hard copies (e.g. 0.005); None: hard updates."""

    # Optimizer.
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    """rmsprop (Nature, centered as in dqn_zoo) or adam."""
    learning_rate: float = 2.5e-4
    """Step size."""
    learning_rate_end: float | None = None
    """Step size at the run's last update, reached by cosine decay from learning_rate over all the
    updates it plans (offline, DAgger's rounds and online), so late updates refine the policy instead of
    redrawing it; None: constant. A run stopped early stops partway down the curve."""
    optimizer_eps: float = 0.01 / 32**2
    """Epsilon of the optimizer's denominator (dqn_zoo's Nature value for rmsprop; 1.5e-4 suits adam)."""
    rmsprop_decay: float = 0.95
    """Decay of rmsprop's squared-gradient averages."""
    max_grad_norm: float | None = 10.0
    """Clip gradients to this global norm; None: no clipping."""

    # Exploration.
    epsilon_start: float = 1.0
    """Exploration rate when learning starts (acting is uniformly random before)."""
    epsilon_end: float = 0.1
    """Exploration rate after the decay."""
    epsilon_decay_steps: int = 1_000_000
    """Environment steps, counted from learning_starts, over which epsilon decays linearly."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least(self, 1, "batch_size", "n_step", "target_update_period", "offline_log_every")
        _at_least(self, 0, "learning_starts", "epsilon_decay_steps", "pretrain_updates", "offline_eval_every")
        _at_least(self, 0, "replay_capacity", "augment_shift", "weight_decay", "label_smoothing")
        _at_least(self, 0, "val_episodes")
        _in_unit(self, "discount", "epsilon_start", "epsilon_end", "eval_epsilon", "importance_exponent")
        _positive_real(self, "replay_ratio", "learning_rate", "optimizer_eps", "priority_exponent")
        _positive_real(self, "priority_eps_agent", "priority_eps_demo", "init_q_scale")
        if self.init_q_scale != 1.0 and not self.init_from:
            raise ValueError("init_q_scale scales the weights --init-from gives; name a run to start from")
        if self.learning_rate_end is not None and not 0 < self.learning_rate_end <= self.learning_rate:
            raise ValueError(
                "learning_rate_end decays the step size: it must be in (0, learning_rate="
                f"{self.learning_rate}], got {self.learning_rate_end}"
            )
        if self.label_smoothing >= 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.target_tau is not None and not 0 < self.target_tau <= 1:
            raise ValueError(f"target_tau must be in (0, 1], got {self.target_tau}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}")
        if self.demo_fraction is not None and not 0 <= self.demo_fraction <= 1:
            raise ValueError(f"demo_fraction must be in [0, 1] or None, got {self.demo_fraction}")
        _ = self.online_loss, self.offline_loss  # an unknown or malformed term fails here
        if self.total_steps and self.replay_capacity and self.batch_size > self.replay_capacity:
            raise ValueError(
                f"batch_size {self.batch_size} is larger than replay_capacity {self.replay_capacity}"
            )

    def check_trainable(self) -> None:
        """Refuses settings that are each fine but cannot train together (checked when a run starts, since
        presets leave the demonstrations to the command line).

        Raises:
          ValueError: nothing to train, or terms and phases that need demonstrations without them.
        """
        settings = self.term_settings
        online, offline = self.online_loss.terms(settings), self.offline_loss.terms(settings)
        if not self.total_steps and not self.pretrain_updates and not self.has_extra_phases:
            raise ValueError(
                "nothing to train: give --total-steps (environment steps) or --pretrain-updates (updates on "
                "demonstrations)"
            )
        if self.pretrain_updates and not self.demos and not self.has_extra_phases:
            raise ValueError("--pretrain-updates learns from demonstrations: name them with --demos DATASET")
        terms = {**offline, **online}  # by name: a term in both phases reads the same outputs
        needs = frozenset().union(*(term.needs for _, term in terms.values()))
        if self.n_step > 1 and not needs & {Q_NSTEP_TARGET, Q_NSTEP_ONLINE}:
            raise ValueError(f"n_step {self.n_step} only matters to an nstep term: add nstep=1 to --loss")
        from_play = [name for name, (_, term) in online.items() if not term.demos_only]
        if self.total_steps and not from_play and not self.demos and not self.has_extra_phases:
            raise ValueError(
                f"--loss {self.loss} learns nothing from the agent's own play (no td or nstep term) and "
                "no --demos are given"
            )
        needs_demos = {name for name, (_, term) in terms.items() if term.demos_only}
        if needs_demos and not self.demos and not self.has_extra_phases:
            raise ValueError(
                f"the {', '.join(sorted(needs_demos))} term learns from demonstrations only: name them with "
                "--demos DATASET"
            )
        if self.demo_fraction and not self.demos and not self.has_extra_phases:
            raise ValueError("--demo-fraction draws from demonstrations: name them with --demos DATASET")

    @property
    def has_extra_phases(self) -> bool:
        """Whether the algorithm makes its own demonstrations (DAgger's rounds)."""
        return False

    @property
    def offline_updates(self) -> int:
        """Updates made without stepping the training environments: the offline phase's (and, for
        DAgger, its rounds')."""
        return self.pretrain_updates

    @property
    def expected_updates(self) -> int:
        """Gradient updates the whole run plans: its offline phase, DAgger's rounds and its online phase."""
        online = max(self.total_steps - self.learning_starts, 0) * self.replay_ratio
        return int(self.offline_updates + online)

    @functools.cached_property
    def online_loss(self) -> Loss:
        """`loss`, parsed: the objective of the online phase (and of every phase without a
        `pretrain_loss`)."""
        return Loss.parse(self.loss)

    @functools.cached_property
    def offline_loss(self) -> Loss:
        """The objective of the offline phase: `pretrain_loss`, or `loss` without one."""
        return Loss.parse(self.pretrain_loss) if self.pretrain_loss else self.online_loss

    @property
    def term_settings(self) -> TermSettings:
        return TermSettings(
            double_q=self.double_q,
            td_loss=self.td_loss,
            huber_delta=self.huber_delta,
            margin=self.margin,
            label_smoothing=self.label_smoothing,
            bc_balance=self.bc_balance,
        )

    @property
    def acts_on_policy_head(self) -> bool:
        """A policy head acts when the online objective learns no values (no term bootstraps from the
        target network: pure cloning)."""
        return self.policy_head and not self.online_loss.reads_target(self.term_settings)

    def replay_config(self, demo_capacity: int) -> ReplayConfig:
        """The replay these settings define, with room for `demo_capacity` demonstration rows; an offline-
        only run keeps no agent data."""
        return ReplayConfig(
            capacity=self.replay_capacity if self.total_steps else 0,
            demo_capacity=demo_capacity,
            batch_size=self.batch_size,
            n_step=self.n_step,
            discount=self.discount,
            demo_fraction=self.demo_fraction if demo_capacity and self.total_steps else None,
            prioritized=self.prioritized,
            priority_exponent=self.priority_exponent,
            priority_eps_agent=self.priority_eps_agent,
            priority_eps_demo=self.priority_eps_demo,
        )


def _at_least(config: object, low: int, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")


def _positive_real(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def _in_unit(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
