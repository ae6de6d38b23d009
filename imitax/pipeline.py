"""The main job, `imitax run`: the whole story of learning from demonstrations on one game.

record the expert's games -> behaviour cloning -> DAgger with the expert as oracle -> DQfD (or DQN)
fine-tuning -> evaluation against the expert and random play -> a report page.

Each stage lives in a directory named after its settings and those of the stages it reads
(`bc-3f2a9c1d`), so rerunning with the same settings reuses what is finished, resumes what was stopped,
and a changed setting redoes only the stages it reaches. Ctrl-C stops the stage in flight at a safe point
(training checkpoints, a recording keeps its finished games in a `.partial` directory that is redone).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jax

from imitax.agents.algorithms import BC_DEFAULT, DAGGER_DEFAULT, DQFD_FAST, DQN_FAST
from imitax.agents.config import AgentConfig
from imitax.data.dataset import load_dataset, write_json
from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.envs import canonical_game
from imitax.experts import available_experts, default_expert
from imitax.experts.evaluation import evaluate_expert
from imitax.job_report import write_report
from imitax.train import run_dir as rd
from imitax.train.evaluation import evaluate_run
from imitax.train.runner import train
from imitax.train.schedule import EVAL_ENVS, env_seed, final_step
from imitax.train.teacher import make_teacher

JOB_FILE = "job.json"
AGGREGATE = "aggregate"  # DAgger's labelled data, inside its stage's directory, for fine-tuning
EVALUATIONS = 3  # per training stage, for curves that show learning; the last is its final evaluation


@dataclass(frozen=True)
class Budget:
    """How much each stage does."""

    demo_games: int
    """Whole expert games recorded; the last one is held out of cloning to measure imitation on a game the
    clone never saw."""
    demo_noise: float
    """Probability that a recorded step executes a random action instead of the expert's, which stays the
    label (DART, Laskey et al. 2017): the games then show how the expert recovers from a slip, the states
    a clone's own slips lead to."""
    bc_updates: int
    """Behaviour-cloning updates on the demonstrations."""
    dagger_rounds: int
    """DAgger rounds (round 0 is the expert's own play, labelled)."""
    dagger_round_steps: int
    """Emulator steps acted and labelled per DAgger round."""
    dagger_round_updates: int
    """Updates on the aggregate after each DAgger round."""
    pretrain_updates: int
    """Fine-tuning's pre-training updates on the demonstrations (DQfD's phase 1)."""
    finetune_steps: int
    """Environment steps of fine-tuning (DQfD or DQN, with the demonstrations in its replay)."""
    eval_episodes: int
    """Whole games per evaluation during training (the report's curves)."""
    final_episodes: int
    """Whole games of each policy's final evaluation, the report's table: every learner's last network,
    the expert and random play. More than a curve's point needs: on Pong 4 games have a standard error of
    2-4 points, and a stage's change from the one before is often smaller."""


CPU_BUDGET = Budget(
    demo_games=4,
    demo_noise=0.03,
    bc_updates=5_250,
    dagger_rounds=3,
    dagger_round_steps=2_000,
    dagger_round_updates=1_500,
    pretrain_updates=1_000,
    finetune_steps=12_000,
    eval_episodes=4,
    final_episodes=10,
)
"""About 18 minutes on a 2-core CPU with AVX-512 (measured 18.2 from a fresh clone, 2026-12-05): over 10
games each at epsilon 0.01, BC -0.1, DAgger +8.2, fine-tuning +5.6, the expert +17.4 (over 30, DAgger
+6.6 and fine-tuning +7.4). 44-47 minutes on a 2-core CPU without it (matmul 55-66 GFLOP/s, 2026-12-06): BC
-10.9, DAgger +11.0, fine-tuning +2.3 (over 30, +8.2 and +3.1). benchmarks/RESULTS.md."""

QUICK_BUDGET = Budget(
    demo_games=2,
    demo_noise=0.03,
    bc_updates=200,
    dagger_rounds=1,
    dagger_round_steps=300,
    dagger_round_updates=100,
    pretrain_updates=100,
    finetune_steps=1_024,
    eval_episodes=1,
    final_episodes=2,
)
"""A smoke test of every stage: under 3 minutes on a 2-core CPU (measured 1.9), nothing learned."""

ACCELERATOR_BUDGET = Budget(
    demo_games=8,
    demo_noise=0.03,
    bc_updates=20_000,
    dagger_rounds=5,
    dagger_round_steps=4_000,
    dagger_round_updates=2_500,
    pretrain_updates=5_000,
    finetune_steps=100_000,
    eval_episodes=10,
    final_episodes=30,
)
"""The default on a GPU or TPU, where an update takes about half a millisecond instead of 40-100: 4x the
CPU budget's cloning updates, 3x its DAgger labels and 8x its fine-tuning steps, twice the demonstrations
and 10 games per evaluation. On an H100 (2026-12-06, benchmarks/results/main_job_gpu.json) the stages to
the end of DAgger took 9 minutes and reached, over 30 games, BC +12.2 (0.87 of the expert) and DAgger
+11.5 (0.85); fine-tuning was not reached in that session's device time, and the whole job is estimated
at about 13 minutes. Its time is games, not updates (cloning ran at 2,400 updates/s): recording on one
core, and evaluations that play until their longest game ends (9,000-10,500 steps for a good player)."""

BUDGETS = {"quick": QUICK_BUDGET, "cpu": CPU_BUDGET, "accelerator": ACCELERATOR_BUDGET}


@dataclass(frozen=True)
class MainJobConfig:
    """Record demonstrations, clone them, DAgger, fine-tune with RL, evaluate, report: one command."""

    env: str = "Pong"
    """Atari game in any common spelling (it needs a built-in expert unless --demos is given)."""
    expert: str | None = None
    """Who demonstrates and labels DAgger's states: a built-in expert (default: the game's), or the run
    directory of a trained imitax agent of this game (its newest checkpoint teaches)."""
    demos: tuple[str, ...] = ()
    """Demonstration datasets (human or imported) to learn from instead of recording the expert."""
    run_dir: str = "runs/main"
    """Where the stages and the report go."""
    seed: int = 0
    """Seeds every stage."""
    quick: bool = False
    """A smoke test of every stage (under 3 minutes on a 2-core CPU) instead of the default budget (about
    18 minutes on a 2-core CPU with AVX-512, 44 without; on a GPU or TPU, the larger accelerator budget)."""
    finetune: Literal["dqfd", "dqn"] = "dqfd"
    """The RL stage: DQfD (TD + n-step + margin + L2 over demonstrations and agent data) or DQN with the
    demonstrations in its replay."""
    demo_games: int | None = None
    """Whole expert games to record (default: the budget's)."""
    demo_noise: float | None = None
    """Probability of a random action in each recorded step, the expert's choice kept as its label
    (default: the budget's, 0.03)."""
    bc_updates: int | None = None
    """Behaviour-cloning updates (default: the budget's)."""
    dagger_rounds: int | None = None
    """DAgger rounds (default: the budget's; 0 skips DAgger)."""
    finetune_steps: int | None = None
    """Environment steps of fine-tuning (default: the budget's)."""
    eval_episodes: int | None = None
    """Games per evaluation during training (default: the budget's)."""
    final_episodes: int | None = None
    """Games of each policy's final evaluation, the report's table (default: the budget's)."""

    def __post_init__(self) -> None:
        canonical_game(self.env)  # an unknown game fails here, with suggestions
        for name in ("demo_games", "bc_updates", "finetune_steps", "eval_episodes", "final_episodes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.demo_noise is not None and not 0.0 <= self.demo_noise <= 1.0:
            raise ValueError(f"--demo-noise is a probability in [0, 1], got {self.demo_noise}")
        if self.dagger_rounds is not None and self.dagger_rounds < 0:
            raise ValueError(f"--dagger-rounds must be >= 0, got {self.dagger_rounds}")

    @property
    def budget_name(self) -> Literal["quick", "cpu", "accelerator"]:
        """Which budget the stages start from: --quick's, or the default for the machine jax runs on."""
        if self.quick:
            return "quick"
        return "cpu" if jax.default_backend() == "cpu" else "accelerator"

    @property
    def budget(self) -> Budget:
        """The stage budgets: `budget_name`'s, with the flags given."""
        base = BUDGETS[self.budget_name]
        flags = [f.name for f in dataclasses.fields(Budget) if hasattr(self, f.name)]  # those with a flag
        given = {name: getattr(self, name) for name in flags if getattr(self, name) is not None}
        return dataclasses.replace(base, **given)


@dataclass(frozen=True)
class Stage:
    """One stage's result: its name, its directory and its final evaluation."""

    name: str
    path: Path
    returns: list[float]


def _key(settings: dict[str, Any]) -> str:
    """A stage's identity: a hash of its settings (upstream stages' keys included)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def eval_epsilon(config: MainJobConfig) -> float:
    """The exploration rate of every evaluation, the expert's reference games included: a little, so a
    greedy clone that never serves cannot stall a Breakout game to the step limit."""
    return 0.0 if config.quick else 0.01


def _common(config: MainJobConfig, budget: Budget) -> dict[str, Any]:
    """What every training stage shares: the game, the seed, a small replay, the evaluation protocol."""
    return {
        "env": config.env,
        "seed": config.seed,
        "num_envs": 4,
        "eval_episodes": budget.eval_episodes,
        "final_eval_episodes": budget.final_episodes,
        "eval_epsilon": eval_epsilon(config),
        "replay_capacity": 20_000,
        "offline_log_every": 100 if config.quick else 250,
        "log_every": 256 if config.quick else 2_000,
    }


def stage_configs(
    config: MainJobConfig, demos: tuple[str, ...], expert: str | None
) -> dict[str, AgentConfig]:
    """The training stages' configs, each building on the one before: DAgger starts from the clone's
    weights with the demonstrations in its aggregate, and fine-tuning starts from DAgger's weights (the
    clone's when DAgger is left out) with the demonstrations and DAgger's aggregate in its replay.

    Each stage's run directory is named by a hash of its settings, which name the directories it reads
    (the demonstrations', the stage it starts from): a changed setting redoes that stage and those after
    it. DAgger needs an `expert` to label its states: without one it is left out."""
    shared = {**_common(config, config.budget), **({"batch_size": 16} if config.quick else {})}
    stages = {"bc": _placed(config, "bc", _bc_stage(config, shared, demos))}
    start, extra_demos = stages["bc"].run_dir, ()
    if config.budget.dagger_rounds and expert:
        dagger = _placed(config, "dagger", _dagger_stage(config, shared, demos, start, expert))
        aggregate = str(Path(dagger.run_dir) / AGGREGATE)
        stages["dagger"] = dataclasses.replace(dagger, save_aggregate=aggregate)
        start, extra_demos = dagger.run_dir, (aggregate,)
    finetune = _finetune_stage(config, shared, demos + extra_demos, start)
    stages["finetune"] = _placed(config, "finetune", finetune)
    return stages


def _placed(config: MainJobConfig, name: str, stage: AgentConfig) -> AgentConfig:
    """`stage` in its directory under the job's, named by a hash of its settings. A setting added to
    imitax after runs were recorded counts only away from the value that reproduces them, so a stage
    finished before it was added keeps its name and is reused."""
    settings = {
        name: value
        for name, value in dataclasses.asdict(stage).items()
        if name not in rd.ADDED_SETTINGS or value != rd.ADDED_SETTINGS[name]
    }
    key = _key(settings)
    return dataclasses.replace(stage, run_dir=str(Path(config.run_dir) / f"{name}-{key}"))


def _bc_stage(config: MainJobConfig, shared: dict[str, Any], demos: tuple[str, ...]) -> AgentConfig:
    updates = config.budget.bc_updates
    return dataclasses.replace(
        BC_DEFAULT,
        **shared,
        demos=demos,
        pretrain_updates=updates,
        offline_eval_every=_every(updates, EVALUATIONS, shared["offline_log_every"]),
        eval_every=0,
    )


def _dagger_stage(
    config: MainJobConfig, shared: dict[str, Any], demos: tuple[str, ...], start: str, expert: str
) -> AgentConfig:
    budget = config.budget
    return dataclasses.replace(
        DAGGER_DEFAULT,
        **{**shared, "replay_capacity": 4_000},  # DAgger's data is all labelled aggregate
        demos=demos,
        init_from=start,
        expert=expert,
        rounds=budget.dagger_rounds,
        round_steps=budget.dagger_round_steps,
        round_updates=budget.dagger_round_updates,
        round_envs=4,
    )


FINETUNE_Q_SCALE = 0.1
"""The clone's logits times this are fine-tuning's first Q-values (`AgentConfig.init_q_scale`)."""


def _finetune_stage(
    config: MainJobConfig, shared: dict[str, Any], demos: tuple[str, ...], start: str
) -> AgentConfig:
    dqfd = config.finetune == "dqfd"
    steps = config.budget.finetune_steps
    return dataclasses.replace(
        DQFD_FAST if dqfd else DQN_FAST,
        **shared,
        demos=demos,
        init_from=start,
        # The clone's logits become Q-values: at their own size (top-2 gaps of about 11) TD learning threw
        # DAgger's +5 down to -18.5 before it climbed back; at a tenth (gaps about DQfD's margin) it
        # started at +5.5 and reached +12 (benchmarks/RESULTS.md, the main job).
        init_q_scale=FINETUNE_Q_SCALE,
        # The clone learnt unshifted frames; with the preset's shifts of 4 the fine-tuning fell to -21.
        augment_shift=0,
        pretrain_updates=config.budget.pretrain_updates if dqfd else 0,
        total_steps=steps,
        learning_starts=min(1_000, steps // 4),
        epsilon_start=0.1,  # the clone already plays
        epsilon_decay_steps=max(1, steps // 2),
        eval_every=_every(steps, EVALUATIONS),
        checkpoint_every=max(1, steps // 2),
    )


def _every(total: int, count: int, grid: int = 1) -> int:
    """An interval that divides `total` into about `count` parts, on a multiple of `grid` (an offline
    phase evaluates only where its chunks end: on its rows)."""
    part = max(1, total // count)
    return max(grid, part - part % grid)


class MainJob:
    """Runs the stages in order, reusing finished ones; `run()` returns the report page's path, or None
    when stopped (Ctrl-C): the same command continues."""

    def __init__(self, config: MainJobConfig, argv: list[str]):
        self.config, self.argv = config, argv
        self.root = Path(config.run_dir)
        self.game = canonical_game(config.env)

        for path in config.demos:  # a missing or damaged dataset fails before anything is written
            load_dataset(path)
        has_expert = any(self.game in games for games in available_experts().values())
        if config.expert:
            # A bad --expert fails before anything is written; an agent's is named by its absolute path,
            # since stage directories are named by a hash of their settings.
            self.expert = make_teacher(config.expert, self.game).name
        elif config.demos and not has_expert:
            self.expert = None  # DAgger needs an oracle: the job runs without it
        else:
            self.expert = default_expert(self.game)  # no expert: a message here

    def run(self) -> Path | None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.root / JOB_FILE, self._job_record())
        start = time.perf_counter()
        demos, expert_returns = self._demonstrations()
        if demos is None:
            return None
        stages = []
        for name, stage_config in stage_configs(self.config, demos, self.expert).items():
            print(f"\n== {name}: {stage_config.run_dir}", flush=True)
            stage = self._train(name, stage_config)
            if stage is None:
                print(f"\nStopped in stage {name}. Run the same command again to continue.")
                return None
            stages.append(stage)
        print("\n== evaluation and report", flush=True)

        page = write_report(self.root, stages, expert_returns, self._random_returns(stages[0]), self)
        print(f"\nDone in {(time.perf_counter() - start) / 60:.1f} minutes. Report: {page}")
        return page

    def _job_record(self) -> dict[str, Any]:
        return {
            "config": dataclasses.asdict(self.config),
            "budget": dataclasses.asdict(self.config.budget),
            "budget_name": self.config.budget_name,
            "command": self.command,
        }

    @property
    def command(self) -> str:
        """The command that reproduces this job."""
        return shlex.join(["imitax", "run", *self.argv])

    # -- stages ----------------------------------------------------------------------------------------

    def _demonstrations(self) -> tuple[tuple[str, ...] | None, list[float]]:
        """(dataset paths, the expert's reference scores); None when the recording stopped."""
        config = self.config
        if config.demos:
            paths = tuple(str(Path(p).resolve()) for p in config.demos)
            return paths, []

        budget = config.budget
        settings = {"env": self.game, "expert": self.expert, "games": budget.demo_games}
        if budget.demo_noise:  # (noise-free recordings keep the directory names they had)
            settings["noise"] = budget.demo_noise
        out = self.root / f"demos-{_key({**settings, 'seed': config.seed})}"
        print(f"== demos: {out}", flush=True)
        if not (out / "data").exists():
            partial = out.with_name(out.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)  # a stopped recording is redone
            report = record_expert(
                ExpertRecordConfig(
                    env=self.game,
                    expert=self.expert,
                    out=str(partial),
                    episodes=budget.demo_games,
                    noise=budget.demo_noise,
                    seed=config.seed,
                )
            )
            if report.interrupted:
                print("\nStopped while recording. Run the same command again to record anew.")
                return None, []
            partial.rename(out)
        else:
            print("reusing the recorded games")
        return (str(out.resolve()),), self._expert_returns(out)

    def _expert_returns(self, demos: Path) -> list[float]:
        """The expert's scores in `final_episodes` games under the learners' evaluation protocol, on no-op
        starts the recording in `demos` did not use (kept beside it, so a rerun with the same evaluation
        reuses them)."""
        episodes, epsilon = self.config.budget.final_episodes, eval_epsilon(self.config)
        path = demos.with_name(f"{demos.name}-expert-{episodes}games-epsilon{epsilon}.json")
        if path.exists():
            return json.loads(path.read_text())["returns"]
        print(f"the expert plays {episodes} games at epsilon {epsilon}, as the learners are evaluated")
        seed = self.config.seed + self.config.budget.demo_games  # the recording used seed, seed + 1, ...
        # A built-in expert plays a game per core; a trained agent plays here, on its network's device.
        builtin = self.expert in available_experts()
        expert = self.expert if builtin else make_teacher(self.expert, self.game)
        workers = (os.cpu_count() or 1) if builtin else 1
        played = evaluate_expert(
            expert, self.game, episodes=episodes, seed=seed, noise=epsilon, workers=workers
        )
        write_json(path, {"returns": played["returns"], "seed": seed, "epsilon": epsilon})
        return played["returns"]

    def _train(self, name: str, config: AgentConfig) -> Stage | None:
        path = Path(config.run_dir)
        if rd.is_finished(path, final_step(config)):
            print("reusing the finished stage")
        else:
            resume = rd.holds_run(path)
            if train(config, resume=resume).interrupted:
                return None
        final = rd.read_rows(path / rd.EVAL_FILE)[-1]  # the run's last step: `final_eval_episodes` games
        return Stage(name, path, [float(r) for r in final["returns"].split()])

    def _random_returns(self, stage: Stage) -> list[float]:
        """Random play's scores (epsilon 1 with `stage`'s checkpoint) on the environments of the learners'
        final evaluations, kept in the stage's directory so that a rerun reuses them."""
        episodes = self.config.budget.final_episodes
        saved = stage.path / f"random-{episodes}games.json"
        if saved.exists():
            return json.loads(saved.read_text())["returns"]
        print(f"random play: {episodes} games", flush=True)
        seed = env_seed(self.config.seed, EVAL_ENVS, episodes)
        result, _ = evaluate_run(str(stage.path), episodes, 1.0, seed=seed)
        returns = [float(r) for r in result.returns]
        write_json(saved, {"returns": returns, "seed": seed})
        return returns


def run_main_job(config: MainJobConfig, argv: list[str]) -> Path | None:
    """Runs (or continues) the main job; returns the report page, or None if it was stopped."""
    return MainJob(config, argv).run()
