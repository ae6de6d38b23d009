"""One training process over a run directory (or, with `num_seeds` K > 1, over K of them, the K agents and
replays stacked on a leading axis of the state and stepped in one compiled program): what every phase
drives. It holds the learner and replay state, the environments, the evaluator, the checkpoints and the
run log, and knows no algorithm: the phases it is given bring their own work, columns and counters."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from imitax.agents.agent import make_agent
from imitax.agents.config import AgentConfig
from imitax.agents.learner import with_params
from imitax.data.dataset import Dataset, load_dataset
from imitax.data.replay_loader import check_room, load_demonstrations
from imitax.envs import VecEnv, atari_spec, is_atari, make_vec_env, resolve_env_name
from imitax.networks import scale_q_values
from imitax.replay import Replay, make_replay
from imitax.train import run_dir as rd
from imitax.train.checkpoints import Checkpointer
from imitax.train.divergence import DivergedError, diverged_message, first_non_finite
from imitax.train.evaluation import EvalResult, Evaluator
from imitax.train.interval import Interval
from imitax.train.loading import initial_params
from imitax.train.loop import LoopState, initial_loop_state, make_learn_step, zero_metrics
from imitax.train.memory import check_memory
from imitax.train.progress import TrainProgress
from imitax.train.run_log import RunLog
from imitax.train.schedule import (
    EVAL_ENVS,
    TRAIN_ENVS,
    Schedule,
    crossed,
    env_seed,
    final_step,
)
from imitax.train.validation import HeldOut, held_out_count, split_episodes
from imitax.types import EnvSpec

METRIC_COLUMNS = ["step", "phase", "env_steps", "updates", "episodes", "episode_return", "episode_length"]
SPEED_COLUMNS = ["epsilon", "steps_per_s", "updates_per_s"]


class Phase(Protocol):
    """A part of a run (offline updates, DAgger's rounds, online interaction): it owns its compiled
    chunk, its counters in checkpoints and its metric columns, and drives the session."""

    name: str
    """Names the phase's metrics rows and evaluations ("pretrain", "dagger", "online")."""
    columns: tuple[str, ...]
    """Metric columns of its own."""

    def planned(self) -> bool:
        """Whether the run's config gives the phase any work (the last planned phase names the final
        evaluation)."""
        ...

    def counters(self) -> dict[str, int]:
        """Its counters, saved in each checkpoint."""
        ...

    def restore(self, counters: dict[str, int]) -> None:
        """Takes its counters back from a checkpoint."""
        ...

    def run(self, session: Session) -> None:
        """Does what is left of its work (nothing, on a resumed run that had finished it)."""
        ...


class PhaseDefaults:
    """What a phase without counters, columns or demonstrations of its own declares."""

    columns: tuple[str, ...] = ()

    @staticmethod
    def demo_rows(config: AgentConfig) -> int:
        return 0

    def counters(self) -> dict[str, int]:
        return {}

    def restore(self, counters: dict[str, int]) -> None:
        pass


class PhaseKind(Protocol):
    """What a phase is before its session exists: `Phase`s are made from the session."""

    def __call__(self, session: Session) -> Phase: ...

    def demo_rows(self, config: AgentConfig) -> int:
        """Replay rows of demonstrations the phase adds (DAgger's aggregate), so the replay has room."""
        ...


class StopRequest:
    """Set by Ctrl-C or a kill: training stops at the end of the compiled chunk in flight, where its
    state is whole, and saves a checkpoint."""

    def __init__(self) -> None:
        self.requested = False

    def check(self) -> None:
        """Raises KeyboardInterrupt, between chunks, once a stop was asked for."""
        if self.requested:
            raise KeyboardInterrupt


@dataclass
class _Seed:
    """One seed of a run: its directory, record, interval sums, evaluation key and latest evaluation."""

    config: AgentConfig
    record: dict[str, Any]
    interval: Interval
    eval_key: Any
    checkpointer: Checkpointer | None = None
    final_eval: EvalResult | None = None
    last_eval_step: int | None = None

    @property
    def path(self) -> Path:
        return Path(self.config.resolved_run_dir)


class Session:
    """Everything a run's phases share; built in full (and every bad input refused) before a file is
    written.

    Args:
      config: the run's config (`check_trainable` already passed).
      kinds: the run's phases, in order.
      resume: continue the run in `config.run_dir`.
      quiet: no progress line.
      allow_divergence: keep going when the loss or Q-values stop being finite.
    """

    def __init__(
        self,
        config: AgentConfig,
        kinds: Sequence[PhaseKind],
        resume: bool = False,
        quiet: bool = False,
        allow_divergence: bool = False,
    ):
        self.config, self.quiet, self.allow_divergence = config, quiet, allow_divergence
        self.num_seeds = config.num_seeds
        configs = rd.seed_configs(config)
        self.resume = rd.Resume.find([Path(c.resolved_run_dir) for c in configs], resume)
        self.resumed = resume
        self.start_step = self.resume.step or 0
        spec, early_env = self._spec()
        self.datasets: list[Dataset] = [load_dataset(path) for path in config.demos]
        self._build_replays(spec, sum(kind.demo_rows(config) for kind in kinds))
        self.env: VecEnv = early_env or self._train_envs()
        self.agent = make_agent(config)
        self.offline_agent = make_agent(config, offline=True)
        self.init_params = (
            scale_q_values(initial_params(config.init_from, self.agent, spec), config.init_q_scale)
            if config.init_from
            else None
        )
        held = self.held_out_episodes
        self.held_out = HeldOut(self.offline_agent, config, spec, self.datasets, held) if any(held) else None
        self.schedule = Schedule(config)
        self.evaluator = self._evaluator(config.eval_episodes)
        records = self._records(configs, spec)
        self.state, eval_keys = self._initial_state()
        self.online_learn = make_learn_step(self.agent, self.replay, self.schedule.beta)
        self.offline_learn = make_learn_step(self.offline_agent, self.offline_replay, self.schedule.beta)
        one_agent, one_replay = self.seed_part(self.state.agent, 0), self.seed_part(self.state.replay, 0)
        self.zeros = zero_metrics(self.online_learn, one_agent, one_replay)
        self.offline_zeros = zero_metrics(self.offline_learn, one_agent, one_replay)
        self.metric_names = sorted(set(self.zeros) | set(self.offline_zeros))
        self.seeds = [
            _Seed(c, r, Interval(self.metric_names), eval_keys[k])
            for k, (c, r) in enumerate(zip(configs, records, strict=True))
        ]
        self.offline_updates = 0  # updates of the offline phase and DAgger's rounds
        self.last_ckpt = 0
        self.log: RunLog | None = None
        self.stop = StopRequest()
        self.phases: list[Phase] = [kind(self) for kind in kinds]

    # -- building ------------------------------------------------------------------------------------

    def _train_envs(self) -> VecEnv:
        config = self.config
        seed = env_seed(config.seed, TRAIN_ENVS, config.num_envs, self.start_step)
        num_envs = config.num_envs * self.num_seeds
        return make_vec_env(config.env, num_envs, preset=config.env_preset, training=True, seed=seed)

    def _spec(self) -> tuple[EnvSpec, VecEnv | None]:
        """The training spec, and the environments when they had to start for it: an Atari game's spec
        is known without them, so memory is checked before K x N of them start."""
        config = self.config
        if is_atari(config.env):
            return atari_spec(resolve_env_name(config.env), config.env_preset, True), None
        env = self._train_envs()
        return env.spec, env

    def _build_replays(self, spec: EnvSpec, phase_rows: int) -> None:
        """The online replay and the offline one (demonstrations only), with room for every
        demonstration row the datasets and the phases bring."""
        config = self.config
        demo_rows = sum(check_room(d, spec) for d in self.datasets) + phase_rows
        self.train_episodes, self.held_out_episodes = split_episodes(
            self.datasets, held_out_count(config, self.datasets)
        )
        replay_config = config.replay_config(demo_rows)
        self.replay: Replay = make_replay(replay_config, spec, config.num_envs)
        check_memory(self.replay, config)
        offline_config = dataclasses.replace(replay_config, demo_fraction=1.0 if demo_rows else None)
        self.offline_replay: Replay = make_replay(offline_config, spec, config.num_envs)

    @functools.cached_property
    def final_evaluator(self) -> Evaluator:
        """The evaluator of the run's last step: the periodic one, or one with more games."""
        games = self.config.resolved_final_eval_episodes
        return self.evaluator if games == self.config.eval_episodes else self._evaluator(games)

    def _evaluator(self, games: int) -> Evaluator:
        """Plays `games` per seed on evaluation environments, seeded by the count of games (`env_seed`),
        so that K seeds trained together play the games of K separate runs."""
        config = self.config
        eval_env = make_vec_env(
            config.env,
            games * self.num_seeds,
            preset=config.eval_preset,
            training=False,
            seed=env_seed(config.seed, EVAL_ENVS, games),
        )
        max_steps = eval_env.spec.preset.max_episode_steps + 2 if eval_env.spec.preset else 100_000
        epsilon = config.resolved_eval_epsilon
        return Evaluator(eval_env, self.agent.act, epsilon, max_steps, self.num_seeds)

    def _records(self, configs: Sequence[AgentConfig], spec: EnvSpec) -> list[dict[str, Any]]:
        """Each seed's run record, checked against the recorded one when resuming."""
        settings = (spec.settings(), self.evaluator.env.spec.settings())
        records = [rd.run_record(self.config.algo, c, *settings) for c in configs]
        for c, old, new in zip(configs, self.resume.saved, records, strict=True):
            if old is not None:
                rd.check_same_run(Path(c.resolved_run_dir), old, new, self.config.algo)
        return records

    def _initial_state(self) -> tuple[LoopState, list[jax.Array]]:
        """The loop state (seeds stacked) and each seed's evaluation key."""
        first = self.env.reset()
        self.xla_env = self.env.xla()
        parts, eval_keys = [], []
        for k in range(self.num_seeds):
            key_agent, key_loop, eval_key = jax.random.split(jax.random.key(self.config.seed + k), 3)
            agent_state = self.agent.init(key_agent, self.env.spec)
            if self.init_params is not None:
                agent_state = with_params(agent_state, self.init_params)
            envs = slice(k * self.config.num_envs, (k + 1) * self.config.num_envs)
            seed_first = jax.tree.map(lambda x, envs=envs: x[envs], first)
            handle = self.xla_env.handle
            parts.append(initial_loop_state(agent_state, self.replay.init(), handle, seed_first, key_loop))
            eval_keys.append(eval_key)
        state = self.stacked([p._replace(handle=None) for p in parts])
        return state._replace(handle=parts[0].handle), eval_keys

    # -- opening: directories, checkpoints, the log ----------------------------------------------------

    def open(self) -> None:
        """Writes the run's directories and records, restores a resumed run, and opens its log."""
        for seed in self.seeds:
            seed.path.mkdir(parents=True, exist_ok=True)
            seed.checkpointer = Checkpointer(seed.path / rd.CHECKPOINTS_DIR)
            damaged = self.resume.damaged.get(seed.path)
            if damaged:
                aside = seed.checkpointer.set_aside(damaged)
                self.resume.notes.append(f"Moved the damaged checkpoints {damaged} to {aside}.")
        if self.restored:
            self._restore()
        else:
            self._load_demos()
        for seed, old in zip(self.seeds, self.resume.saved, strict=True):
            record = seed.record if old is None else rd.resumed_record(old, seed.record, self.resume.step)
            rd.write_record(seed.path, record)
        self.log = RunLog(
            [s.path for s in self.seeds],
            [s.record for s in self.seeds],
            self._metric_columns(),
            self.step,
            self.resumed,
            self._progress(),
            self.config.wandb_project,
        )
        for seed in self.seeds:
            seed.final_eval, seed.last_eval_step = self._evaluation_at_step(seed.path)
        self._announce()
        self.last_ckpt = self.step

    @property
    def restored(self) -> bool:
        """Whether a resumed run restores a checkpoint (else it stopped before its first one)."""
        return self.resumed and self.resume.step is not None

    def _progress(self) -> TrainProgress:
        config = self.config
        seeds = f" ({self.num_seeds} seeds)" if self.num_seeds > 1 else ""
        description = f"{config.algo} {config.env}{seeds}"
        return TrainProgress(
            final_step(config), self.step, description, not self.quiet, offline_end=config.offline_updates
        )

    def _announce(self) -> None:
        for note in self.resume.notes:
            self.log.message(note)
        where = self.config.resolved_run_dir
        if self.restored:
            refill = " (replay not saved: refilling it before learning resumes)"
            refill = "" if self.config.save_replay else refill
            self.log.message(f"Resumed {where} at step {self.step:,}{refill}.")
        elif self.resumed:
            self.log.message(f"{where} stopped before its first checkpoint: starting again in place.")

    def _metric_columns(self) -> list[str]:
        extra = [name for phase in self.phases for name in phase.columns]
        held_out = self.held_out.columns if self.held_out else []
        return METRIC_COLUMNS + SPEED_COLUMNS + extra + self.metric_names + held_out

    def close(self) -> Exception | None:
        """Closes the log and the checkpoints; a full disk met on the way comes back to be raised."""
        full = self.log.close() if self.log is not None else None
        for seed in self.seeds:
            if seed.checkpointer is not None:
                seed.checkpointer.close()
        return full

    # -- the run's position ----------------------------------------------------------------------------

    @property
    def env_steps(self) -> int:
        """Environment steps of each seed (all seeds step together)."""
        return int(np.asarray(self.state.env_steps).reshape(-1)[0])

    @property
    def updates(self) -> int:
        return int(np.asarray(self.state.updates).reshape(-1)[0])

    @property
    def step(self) -> int:
        """The run's position: offline updates plus environment steps."""
        return self.offline_updates + self.env_steps

    def seed_part(self, tree: Any, k: int) -> Any:
        """Seed k's part of a state (the state itself for one seed)."""
        return tree if self.num_seeds == 1 else jax.tree.map(lambda x: x[k], tree)

    def stacked(self, trees: list[Any]) -> Any:
        """Seeds' trees stacked on a leading axis (static parts, such as an optimizer, from the first)."""
        if self.num_seeds == 1:
            return trees[0]
        leaves = zip(*(jax.tree.leaves(tree) for tree in trees), strict=True)
        return jax.tree.unflatten(jax.tree.structure(trees[0]), [jnp.stack(xs) for xs in leaves])

    # -- checkpoints -----------------------------------------------------------------------------------

    def _checkpoint_tree(self, k: int) -> dict[str, Any]:
        """Seed k's checkpoint: what a run of that seed alone would save."""
        part = self.seed_part(self.state._replace(handle=None), k)
        counters = {"offline_updates": self.offline_updates}
        for phase in self.phases:
            counters.update(phase.counters())
        tree = {
            "agent": part.agent,
            "counters": {
                "env_steps": part.env_steps,
                "fresh_steps": part.fresh_steps,
                "update_debt": part.update_debt,
                "updates": part.updates,
                **{name: jnp.asarray(value, jnp.int32) for name, value in counters.items()},
            },
            "key": part.key,
            "eval_key": self.seeds[k].eval_key,
            "interval": self.seeds[k].interval.as_tree(),
        }
        if self.config.save_replay:
            tree["replay"] = part.replay
        return tree

    def _restore(self) -> None:
        step = self.resume.step
        restored = [s.checkpointer.restore(self._checkpoint_tree(k), step) for k, s in enumerate(self.seeds)]
        for seed, tree in zip(self.seeds, restored, strict=True):
            seed.eval_key = tree["eval_key"]
            seed.interval.load(tree["interval"])
        tree = self.stacked(restored)
        counters = {name: int(np.asarray(value).reshape(-1)[0]) for name, value in tree["counters"].items()}
        replay_kept = "replay" in tree
        cut = self.replay.cut_streams if self.num_seeds == 1 else jax.vmap(self.replay.cut_streams)
        # The environments restart with new games: the stored games end where the checkpoint cut them.
        stored = tree["counters"]
        self.state = self.state._replace(
            agent=tree["agent"],
            replay=cut(tree["replay"]) if replay_kept else self.state.replay,
            env_steps=stored["env_steps"],
            fresh_steps=stored["fresh_steps"] if replay_kept else jnp.zeros_like(stored["env_steps"]),
            update_debt=stored["update_debt"],
            updates=stored["updates"],
            key=tree["key"],
        )
        self.offline_updates = counters["offline_updates"]
        for phase in self.phases:
            phase.restore(counters)
        if not replay_kept:
            self._load_demos()

    def _load_demos(self) -> None:
        """Fills every seed's demonstration partition (the same rows for each)."""
        if not self.datasets:
            return
        replay_state = self.seed_part(self.state.replay, 0)
        for dataset, indices in zip(self.datasets, self.train_episodes, strict=True):
            if indices:
                replay_state = load_demonstrations(dataset, self.replay, replay_state, self.env.spec, indices)
        self.state = self.state._replace(replay=self.stacked([replay_state] * self.num_seeds))

    def save(self) -> None:
        for k, seed in enumerate(self.seeds):
            seed.checkpointer.save(self.step, self._checkpoint_tree(k))
        self.last_ckpt = self.step

    def maybe_save(self) -> None:
        """A checkpoint when the run crossed a multiple of `checkpoint_every` since the last one."""
        if crossed(self.last_ckpt, self.step, self.config.checkpoint_every):
            self.save()

    def latest_checkpoint(self) -> int | None:
        return self.seeds[0].checkpointer.latest_step()

    # -- rows and evaluations --------------------------------------------------------------------------

    def base_row(self, phase: str) -> dict[str, Any]:
        return {"step": self.step, "phase": phase, "env_steps": self.env_steps, "updates": self.updates}

    def check_finite(self, metrics: dict[str, Any], step_of: Callable[[int], int]) -> None:
        """Stops the run (DivergedError) when a chunk's loss or Q-values are no longer finite, before
        anything of that chunk is written or saved; `step_of(i)` is the run's step at the i-th log entry."""
        found = None if self.allow_divergence else first_non_finite(metrics, per_step=True)
        if found is not None:
            name, value, index = found
            where, last = self.config.resolved_run_dir, self.latest_checkpoint()
            raise DivergedError(diverged_message(where, step_of(index), name, value, last))

    def write_rows(self, phase: str, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Each seed's metrics row of the interval that ends here (an offline phase's with the held-out
        episodes' scores); returns them."""
        rows = []
        for k, seed in enumerate(self.seeds):
            row = {**seed.interval.row(self.base_row(phase)), **(extra or {})}
            if self.held_out is not None and phase != "online":
                row.update(self.held_out.metrics(self.seed_part(self.state.agent, k)))
            self.log.row(k, row)
            rows.append(row)
        return rows

    def _evaluation_at_step(self, path: Path) -> tuple[EvalResult | None, int | None]:
        """The evaluation already logged at this step (a resumed run that had finished), if any."""
        rows = rd.read_rows(path / rd.EVAL_FILE)
        if not rows or int(rows[-1]["step"]) != self.step:
            return None, None
        returns = np.array([float(r) for r in rows[-1]["returns"].split()])
        lengths = np.full(len(returns), float(rows[-1]["length_mean"]))
        return EvalResult(returns, lengths), self.step

    def evaluated_here(self) -> bool:
        """Whether every seed's latest evaluation is at the run's current step."""
        return all(s.last_eval_step == self.step and s.final_eval is not None for s in self.seeds)

    def evaluate(self, phase: str) -> None:
        """Whole games by every seed's agent, logged as the phase's evaluation at this step."""
        keys = []
        for seed in self.seeds:
            seed.eval_key, key = jax.random.split(seed.eval_key)
            keys.append(key)
        # A run can end past its final step (the online phase steps num_envs at a time).
        evaluator = self.final_evaluator if self.step >= final_step(self.config) else self.evaluator
        result = evaluator(self.state.agent, self.stacked(keys))
        games = evaluator.env.num_envs // self.num_seeds
        for k, seed in enumerate(self.seeds):
            part = EvalResult(*(x[k * games : (k + 1) * games] for x in result))
            summary = part.summary()
            returns = " ".join(f"{r:g}" for r in part.returns)
            self.log.evaluation(k, {**self.base_row(phase), **summary, "returns": returns}, summary)
            seed.final_eval, seed.last_eval_step = part, self.step
        means = ", ".join(f"{s.final_eval.mean:.2f}" for s in self.seeds)
        self.log.message(
            f"eval @ step {self.step:,} ({phase}): return {means} ± {self.seeds[0].final_eval.std:.2f} "
            f"over {games} games" + (" per seed" if self.num_seeds > 1 else "")
        )
