"""Runs any imitax agent through its phases, all on one learner state and one replay:

1. offline: `pretrain_updates` updates on the demonstrations alone (BC, DQfD's pre-training, BC->DQN);
2. DAgger's rounds, for a `DaggerConfig`: act, label with the expert, aggregate, train;
3. online: acting and learning on envpool environments for `total_steps` environment steps.

Each phase runs in compiled chunks; between them (in Python) come metrics rows, evaluations,
checkpoints, progress, resuming and Ctrl-C. Rows and checkpoints are keyed by the run's `step`: offline
updates plus environment steps, which only grows.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from imitax.agents.agent import make_agent
from imitax.agents.algorithms import DaggerConfig
from imitax.agents.config import AgentConfig
from imitax.agents.learner import with_params
from imitax.data.dataset import Dataset, load_dataset
from imitax.data.replay_loader import check_room, load_demonstrations
from imitax.disk import DiskFullError, disk_full_error, is_disk_full, quiet_full_disk_in_threads
from imitax.envs import VecEnv, atari_spec, is_atari, make_vec_env, resolve_env_name
from imitax.replay import Replay, make_replay
from imitax.train import run_dir as rd
from imitax.train.checkpoints import Checkpointer
from imitax.train.divergence import DivergedError, diverged_message, first_non_finite
from imitax.train.evaluation import EvalResult, Evaluator
from imitax.train.interval import Interval
from imitax.train.loading import initial_params, with_added_settings
from imitax.train.loop import (
    LoopState,
    initial_loop_state,
    make_learn_step,
    make_offline_chunk,
    make_train_chunk,
    over_seeds,
    zero_metrics,
)
from imitax.train.progress import TrainProgress
from imitax.train.validation import PREFIX, HeldOut, held_out_count, split_episodes

RESUMABLE = {"total_steps", "run_dir", "wandb_project"}  # settings a resumed run may change
CHUNK_ENV_STEPS = 2_000  # environment steps per compiled chunk at most: Ctrl-C waits for a chunk
CHUNK_UPDATES = 250  # offline updates per compiled chunk at most
METRIC_COLUMNS = ["step", "phase", "env_steps", "updates", "episodes", "episode_return", "episode_length"]
EVAL_COLUMNS = ["step", "phase", "env_steps", "updates", "return_mean", "return_std", "return_min"]
EVAL_COLUMNS += ["return_max", "length_mean", "episodes", "returns"]


@dataclass(frozen=True)
class Schedule:
    """When an online agent learns, how much it explores, and how prioritized replay corrects."""

    config: AgentConfig
    total_updates: int
    """Updates the whole run makes (`expected_updates`): beta reaches 1 at the last."""

    def epsilon(self, env_steps: jax.Array) -> jax.Array:
        """1 before learning starts (uniform random acting), then linear decay to `epsilon_end`."""
        c = self.config
        progress = (env_steps - c.learning_starts) / max(c.epsilon_decay_steps, 1)
        eps = c.epsilon_start + jnp.clip(progress, 0.0, 1.0) * (c.epsilon_end - c.epsilon_start)
        return jnp.where(env_steps < c.learning_starts, 1.0, eps)

    def beta(self, updates: jax.Array) -> jax.Array:
        """Prioritized replay's importance exponent, annealed linearly to 1 by the run's last update."""
        start = self.config.importance_exponent
        return start + jnp.clip(updates / max(self.total_updates, 1), 0.0, 1.0) * (1.0 - start)


@dataclass
class TrainResult:
    run_dir: Path
    env_steps: int
    final_eval: EvalResult | None
    interrupted: bool = False
    updates: int = 0


def derive_seed(seed: int, *words: int) -> int:
    """A 31-bit seed for one purpose of a run (DAgger's emulators, a resumed start)."""
    return int(np.random.SeedSequence([seed, *words]).generate_state(1)[0] % (2**31 - 2**16))


def env_seed(seed: int, purpose: int, envs: int, start_step: int = 0) -> int:
    """The seed of a run's first environment for a purpose (environment i gets it + i): a base drawn from
    the purpose and the start step, plus `seed * envs`. Linear in the run's seed, so the K x envs
    environments of K seeds trained together get exactly the seeds of K separate runs."""
    return derive_seed(0, purpose, start_step) % 2**30 + seed * envs


_TRAIN_ENVS, _EVAL_ENVS, _DAGGER_ENVS = 1, 2, 3


class StopRequest:
    """Set by Ctrl-C (SIGINT) or a kill (SIGTERM, as schedulers send): training stops at the end of the
    compiled chunk in flight, where its state is whole, and saves a checkpoint. A second signal stops at
    once (the last periodic checkpoint stands)."""

    def __init__(self) -> None:
        self.requested = False

    def check(self) -> None:
        """Raises KeyboardInterrupt, between chunks, once a stop was asked for."""
        if self.requested:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_on_signals(stop: StopRequest):
    """Installs the handlers explicitly, because a process started in the background inherits SIGINT
    ignored and Python then never raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        print("\nStopping at the end of this chunk (signal again to stop at once)...", flush=True)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of `every` lies in (before, after]: rows, evaluations and checkpoints keep to
    their grid whatever the chunks or a resume did."""
    return after // every > before // every


def expected_updates(config: AgentConfig) -> int:
    """Gradient updates a run will make in all: its offline phase, DAgger's rounds and its online phase."""
    online = max(config.total_steps - config.learning_starts, 0) * config.replay_ratio
    return int(config.offline_updates + online)


def final_step(config: AgentConfig) -> int:
    """The `step` a run ends at: its offline updates (DAgger's included) plus its environment steps."""
    return config.offline_updates + config.total_steps


def dagger_rows(config: DaggerConfig) -> int:
    """Replay rows DAgger's aggregate may take: every labelled step, plus one final observation for each
    episode a round ends (finished games, generously counted, and the games cut at the round's end)."""
    per_round = config.round_steps + config.round_steps // 50 + config.round_envs
    return config.rounds * per_round


def seed_configs(config: AgentConfig) -> list[AgentConfig]:
    """One config per seed of a run: the run itself, or with `num_seeds` K > 1 the K separate runs it
    trains together (seed s in RUN_DIR/seed<s>), each what `imitax train` would run alone."""
    if config.num_seeds == 1:
        return [config]
    root = Path(config.resolved_run_dir)
    return [
        dataclasses.replace(config, seed=seed, num_seeds=1, run_dir=str(root / f"seed{seed}"))
        for seed in range(config.seed, config.seed + config.num_seeds)
    ]


@dataclass
class _Seed:
    """What one seed of a run writes: its run directory, record, rows, TensorBoard logs, checkpoints."""

    config: AgentConfig
    record: dict[str, Any]
    interval: Interval
    recent: collections.deque = dataclasses.field(default_factory=lambda: collections.deque(maxlen=20))
    eval_key: Any = None
    final_eval: EvalResult | None = None
    last_eval_step: int | None = None
    checkpointer: Any = None
    metrics_log: Any = None
    eval_log: Any = None
    writer: Any = None
    wandb: Any = None
    """The seed's Weights & Biases run, when --wandb-project asks for one."""

    @property
    def path(self) -> Path:
        return Path(self.config.resolved_run_dir)


class _Run:
    """One training process over a run directory (or, with `num_seeds` K > 1, over K of them, the K
    agents and replays stacked on a leading axis of the state and stepped in one compiled program)."""

    def __init__(self, config: AgentConfig, resume: bool, quiet: bool, allow_divergence: bool = False):
        config.check_trainable()
        if config.wandb_project:
            _import_wandb()  # missing: a message before anything is written
        self.config, self.quiet, self.allow_divergence = config, quiet, allow_divergence
        self.num_seeds = config.num_seeds
        if self.num_seeds > 1 and isinstance(config, DaggerConfig):
            raise ValueError("DAgger's rounds act on ale-py emulators one seed at a time: drop --num-seeds")
        configs = seed_configs(config)
        self.path = Path(configs[0].resolved_run_dir)
        saved = [rd.load_run_record(Path(c.resolved_run_dir)) if resume else None for c in configs]
        if not resume:
            for c in configs:
                rd.check_new_run_dir(Path(c.resolved_run_dir))
        self.saved, self.notes = saved, []
        start_step, self.damaged = 0, {}
        if resume:
            start_step, self.damaged, self.notes = resume_point([Path(c.resolved_run_dir) for c in configs])

        # Everything that can fail on bad input is built before a file is written.
        def train_envs() -> VecEnv:
            seed = env_seed(config.seed, _TRAIN_ENVS, config.num_envs, start_step or 0)
            num_envs = config.num_envs * self.num_seeds
            return make_vec_env(config.env, num_envs, preset=config.env_preset, training=True, seed=seed)

        # An Atari game's spec is known without its environments, so memory is checked before K x N of
        # them start; a vector task's spec comes from envpool.
        atari = is_atari(config.env)
        early_env = None if atari else train_envs()
        spec = atari_spec(resolve_env_name(config.env), config.env_preset, True) if atari else early_env.spec
        self.datasets: list[Dataset] = [load_dataset(path) for path in config.demos]
        demo_rows = sum(check_room(d, spec) for d in self.datasets)
        self.train_episodes, held = split_episodes(self.datasets, held_out_count(config, self.datasets))
        if isinstance(config, DaggerConfig):
            demo_rows += dagger_rows(config)
        replay_config = config.replay_config(demo_rows)
        self.replay: Replay = make_replay(replay_config, spec, config.num_envs)
        check_memory(self.replay, config)
        self.env: VecEnv = early_env or train_envs()
        offline_config = dataclasses.replace(replay_config, demo_fraction=1.0 if demo_rows else None)
        self.offline_replay: Replay = make_replay(offline_config, spec, config.num_envs)
        self.agent = make_agent(config)
        self.offline_agent = make_agent(config, offline=True)
        self.init_params = initial_params(config.init_from, self.agent, spec) if config.init_from else None
        self.held_out = HeldOut(self.offline_agent, config, spec, self.datasets, held) if any(held) else None
        self.dagger = None
        if isinstance(config, DaggerConfig):
            from imitax.train.dagger import DaggerRounds

            seed = derive_seed(config.seed, _DAGGER_ENVS, start_step or 0)
            self.dagger = DaggerRounds(config, spec, self.agent.act, seed)
        self.schedule = Schedule(config, expected_updates(config))
        eval_env = make_vec_env(
            config.env,
            config.eval_episodes * self.num_seeds,
            preset=config.eval_preset,
            training=False,
            seed=env_seed(config.seed, _EVAL_ENVS, config.eval_episodes),
        )
        max_steps = eval_env.spec.preset.max_episode_steps + 2 if eval_env.spec.preset else 100_000
        epsilon = config.resolved_eval_epsilon
        self.evaluator = Evaluator(eval_env, self.agent.act, epsilon, max_steps, self.num_seeds)
        settings = (spec.settings(), eval_env.spec.settings())
        records = [rd.run_record(config.algo, c, *settings) for c in configs]
        for c, old, new in zip(configs, saved, records, strict=True):
            if old is not None:
                _check_same_run(Path(c.resolved_run_dir), old, new, config.algo)
        self.state, eval_keys = self._initial_state()
        self.online_learn = make_learn_step(self.agent, self.replay, self.schedule.beta)
        self.offline_learn = make_learn_step(self.offline_agent, self.offline_replay, self.schedule.beta)
        one_agent, one_replay = self._seed_part(self.state.agent, 0), self._seed_part(self.state.replay, 0)
        self.zeros = zero_metrics(self.online_learn, one_agent, one_replay)
        self.offline_zeros = zero_metrics(self.offline_learn, one_agent, one_replay)
        self.metric_names = sorted(set(self.zeros) | set(self.offline_zeros))
        self.seeds = [
            _Seed(c, r, Interval(self.metric_names), eval_key=eval_keys[k])
            for k, (c, r) in enumerate(zip(configs, records, strict=True))
        ]
        self.resumed = resume
        self.start_step = start_step
        self.restored = resume and start_step is not None  # else it stopped before its first checkpoint
        self.stop = StopRequest()
        self.offline_updates = 0  # updates of the offline phase and DAgger's rounds
        self.dagger_round = 0

    def _seed_part(self, tree: Any, k: int) -> Any:
        """Seed k's part of a state (the state itself for one seed)."""
        return tree if self.num_seeds == 1 else jax.tree.map(lambda x: x[k], tree)

    def _stacked(self, trees: list[Any]) -> Any:
        """Seeds' trees stacked on a leading axis (static parts, such as an optimizer, from the first)."""
        if self.num_seeds == 1:
            return trees[0]
        leaves = zip(*(jax.tree.leaves(tree) for tree in trees), strict=True)
        return jax.tree.unflatten(jax.tree.structure(trees[0]), [jnp.stack(xs) for xs in leaves])

    def _initial_state(self) -> tuple[LoopState, list[jax.Array]]:
        """The loop state (seeds stacked) and each seed's evaluation key."""
        first = self.env.reset()
        xla = self.env.xla()
        self.xla_env = xla
        parts, eval_keys = [], []
        for k in range(self.num_seeds):
            key_agent, key_loop, eval_key = jax.random.split(jax.random.key(self.config.seed + k), 3)
            agent_state = self.agent.init(key_agent, self.env.spec)
            if self.init_params is not None:
                agent_state = with_params(agent_state, self.init_params)
            envs = slice(k * self.config.num_envs, (k + 1) * self.config.num_envs)
            seed_first = jax.tree.map(lambda x, envs=envs: x[envs], first)
            parts.append(
                initial_loop_state(agent_state, self.replay.init(), xla.handle, seed_first, key_loop)
            )
            eval_keys.append(eval_key)
        state = self._stacked([p._replace(handle=None) for p in parts])
        return state._replace(handle=parts[0].handle), eval_keys

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

    # -- checkpoints ---------------------------------------------------------------------------------

    def _checkpoint_tree(self, state: LoopState, k: int) -> dict[str, Any]:
        """Seed k's checkpoint: what a run of that seed alone would save."""
        part = self._seed_part(state._replace(handle=None), k)
        tree = {
            "agent": part.agent,
            "counters": {
                "env_steps": part.env_steps,
                "fresh_steps": part.fresh_steps,
                "update_debt": part.update_debt,
                "updates": part.updates,
                "offline_updates": jnp.asarray(self.offline_updates, jnp.int32),
                "dagger_round": jnp.asarray(self.dagger_round, jnp.int32),
            },
            "key": part.key,
            "eval_key": self.seeds[k].eval_key,
            "interval": self.seeds[k].interval.as_tree(),
        }
        if self.config.save_replay:
            tree["replay"] = part.replay
        return tree

    def _restore(self) -> None:
        restored = [
            s.checkpointer.restore(self._checkpoint_tree(self.state, k), self.start_step)
            for k, s in enumerate(self.seeds)
        ]
        for seed, tree in zip(self.seeds, restored, strict=True):
            seed.eval_key = tree["eval_key"]
            seed.interval.load(tree["interval"])
        tree = self._stacked(restored)
        counters = tree["counters"]
        replay_kept = "replay" in tree
        cut = self.replay.cut_streams if self.num_seeds == 1 else jax.vmap(self.replay.cut_streams)
        # The environments restart with new games: the stored games end where the checkpoint cut them.
        self.state = self.state._replace(
            agent=tree["agent"],
            replay=cut(tree["replay"]) if replay_kept else self.state.replay,
            env_steps=counters["env_steps"],
            fresh_steps=counters["fresh_steps"] if replay_kept else jnp.zeros_like(counters["env_steps"]),
            update_debt=counters["update_debt"],
            updates=counters["updates"],
            key=tree["key"],
        )
        self.offline_updates = int(np.asarray(counters["offline_updates"]).reshape(-1)[0])
        self.dagger_round = int(np.asarray(counters["dagger_round"]).reshape(-1)[0])
        if not replay_kept:
            self._load_demos()

    def _load_demos(self) -> None:
        """Fills every seed's demonstration partition (the same rows for each)."""
        if not self.datasets:
            return
        replay_state = self._seed_part(self.state.replay, 0)
        for dataset, indices in zip(self.datasets, self.train_episodes, strict=True):
            if indices:
                replay_state = load_demonstrations(dataset, self.replay, replay_state, self.env.spec, indices)
        self.state = self.state._replace(replay=self._stacked([replay_state] * self.num_seeds))

    # -- the run -------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        config = self.config
        for seed in self.seeds:
            seed.path.mkdir(parents=True, exist_ok=True)
            seed.checkpointer = Checkpointer(seed.path / "checkpoints")
            if self.damaged.get(seed.path):
                aside = seed.checkpointer.set_aside(self.damaged[seed.path])
                self.notes.append(f"Moved the damaged checkpoints {self.damaged[seed.path]} to {aside}.")
        if self.restored:
            self._restore()
        else:
            self._load_demos()
        for seed, old in zip(self.seeds, self.saved, strict=True):
            record = seed.record if old is None else resumed_record(old, seed.record, self.start_step)
            rd.write_record(seed.path, record)
        from tensorboardX import SummaryWriter

        for seed in self.seeds:
            seed.metrics_log = rd.CsvLog(seed.path / rd.METRICS_FILE, self._metric_columns())
            seed.eval_log = rd.CsvLog(seed.path / rd.EVAL_FILE, EVAL_COLUMNS)
            if self.resumed:
                seed.metrics_log.truncate_after(self.step)
                seed.eval_log.truncate_after(self.step)
            seed.writer = SummaryWriter(str(seed.path / "tb"), purge_step=self.step or None)
            if config.wandb_project:
                seed.wandb = _import_wandb().init(
                    project=config.wandb_project,
                    name=seed.path.name,
                    id=f"{seed.path.name}-{seed.record['created']}".replace(":", ""),
                    resume="allow",
                    dir=str(seed.path),
                    config=seed.record,
                    reinit="create_new",
                )
            seed.final_eval, seed.last_eval_step = self._evaluation_at_step(seed.path)
        seeds = f" ({self.num_seeds} seeds)" if self.num_seeds > 1 else ""
        self.progress = TrainProgress(
            final_step(config), self.step, f"{config.algo} {config.env}{seeds}", not self.quiet
        )
        for note in self.notes:
            self.progress.message(note)
        if self.restored:
            refill = "" if config.save_replay else " (replay not saved: refilling it before learning resumes)"
            self.progress.message(f"Resumed {config.resolved_run_dir} at step {self.step:,}{refill}.")
        elif self.resumed:
            self.progress.message(
                f"{config.resolved_run_dir} stopped before its first checkpoint: starting again in place."
            )
        self.last_ckpt = self.step
        interrupted = False
        try:
            self._offline_phase(config.pretrain_updates, "pretrain")
            if self.dagger is not None:
                self._dagger_phase(self.dagger)
            if self.env_steps < config.total_steps:
                self._online_phase()
            if any(s.last_eval_step != self.step or s.final_eval is None for s in self.seeds):
                self._evaluate(self._last_phase)
            if self.last_ckpt != self.step or self.seeds[0].checkpointer.latest_step() is None:
                self._save()
        except KeyboardInterrupt:
            interrupted = True
            self.progress.close()
            self._save_on_interrupt()
        except DiskFullError as err:
            raise self._disk_full(err) from None
        finally:
            self.progress.close()
            events_lost = self._close_logs()
        if events_lost is not None:
            raise self._disk_full(events_lost)
        return TrainResult(
            Path(config.resolved_run_dir),
            self.env_steps,
            self.seeds[0].final_eval,
            interrupted,
            self.updates,
        )

    @property
    def _last_phase(self) -> str:
        """The phase the run ends in, which names its final evaluation."""
        if self.config.total_steps:
            return "online"
        return "dagger" if self.dagger is not None else "pretrain"

    def _disk_full(self, err: DiskFullError) -> DiskFullError:
        """The message of a full disk, with the command that continues the run and from where."""
        latest = self.seeds[0].checkpointer.latest_step()
        at = f"from step {latest:,}" if latest is not None else "from the start"
        resume = f"imitax train {self.config.algo} --resume {self.config.resolved_run_dir}"
        return DiskFullError(f"{err} Free some space, then `{resume}` continues {at}.")

    def _close_logs(self) -> DiskFullError | None:
        """Closes every seed's logs and checkpoints; TensorBoard's last flush onto a full disk comes back
        as an error to raise (when nothing else is being raised), not as a traceback."""
        full = None
        for seed in self.seeds:
            try:
                seed.writer.close()
            except OSError as err:
                if not is_disk_full(err):
                    raise
                full = disk_full_error(seed.path / "tb", "TensorBoard's events", None, "The rows are intact.")
            seed.checkpointer.close()
            if seed.wandb is not None:
                seed.wandb.finish()
        return full

    def _metric_columns(self) -> list[str]:
        extra = ["epsilon", "steps_per_s", "updates_per_s"]
        if isinstance(self.config, DaggerConfig):
            extra += ["round", "beta", "round_return", "round_games", "round_labels", "disagreement"]
        held_out = self.held_out.columns if self.held_out else []
        return METRIC_COLUMNS + extra + self.metric_names + held_out

    def _save(self) -> None:
        for k, seed in enumerate(self.seeds):
            seed.checkpointer.save(self.step, self._checkpoint_tree(self.state, k))
        self.last_ckpt = self.step

    def _maybe_save(self) -> None:
        if _crossed(self.last_ckpt, self.step, self.config.checkpoint_every):
            self._save()

    def _save_on_interrupt(self) -> None:
        where = self.config.resolved_run_dir
        try:
            jax.block_until_ready(self.state)
            self._save()
            print(f"\nStopped. Saved a checkpoint at step {self.step:,}; continue with --resume {where}")
        except Exception:  # the state was mid-update (donated): the last periodic checkpoint stands
            latest = self.seeds[0].checkpointer.latest_step()
            at = f"step {latest:,}" if latest is not None else "nowhere yet"
            print(f"\nStopped mid-chunk; the latest checkpoint is at {at} (--resume {where}).")

    # -- offline updates -----------------------------------------------------------------------------

    def _offline_phase(
        self, until: int, phase: str, eval_every: int | None = None, last_row: dict | None = None
    ) -> None:
        """Offline updates until `self.offline_updates` reaches `until`, in compiled chunks; rows at every
        multiple of `offline_log_every` and at the phase's end, where `last_row` adds its columns."""
        config = self.config
        eval_every = config.offline_eval_every if eval_every is None else eval_every
        while self.offline_updates < until:
            to_row = config.offline_log_every - self.offline_updates % config.offline_log_every
            count = min(to_row, CHUNK_UPDATES, until - self.offline_updates)
            start = time.perf_counter()
            self.state, log = self._offline_chunk()(self.state, jnp.asarray(count, jnp.int32))
            log, seconds = jax.device_get(log), time.perf_counter() - start
            self._check_finite(log.metrics, lambda _, at=self.step + count: at)
            for k, seed in enumerate(self.seeds):
                seed.interval.add_updates(self._seed_part(log, k), seconds)
            self.offline_updates += count
            if self.offline_updates == until:
                rows = self._write_rows(phase, last_row or {})
                if self.held_out is not None:
                    self.progress.message(self._held_out_summary(rows[0]))
            elif self.offline_updates % config.offline_log_every == 0:
                self._write_rows(phase)
            if eval_every and self.offline_updates % eval_every == 0:
                self._evaluate(phase)
            self._maybe_save()
            self.stop.check()

    def _offline_chunk(self):
        if not hasattr(self, "_compiled_offline"):
            chunk = make_offline_chunk(self.offline_learn, self.offline_zeros)
            self._compiled_offline = jax.jit(over_seeds(chunk, self.num_seeds), donate_argnums=0)
        return self._compiled_offline

    def _base_row(self, phase: str) -> dict[str, Any]:
        return {"step": self.step, "phase": phase, "env_steps": self.env_steps, "updates": self.updates}

    # -- DAgger --------------------------------------------------------------------------------------

    def _dagger_phase(self, rounds: Any) -> None:
        config = rounds.config
        while self.dagger_round < config.rounds:
            beta = config.beta_at(self.dagger_round)
            self.progress.message(f"DAgger round {self.dagger_round}: acting with beta {beta:.3f}")
            stats, replay_state = rounds.collect(
                self.state.agent, self.state.replay, self.replay, beta, self.dagger_round
            )
            self.state = self.state._replace(replay=replay_state)
            stats["round"] = self.dagger_round
            self.dagger_round += 1
            until = self.offline_updates + config.round_updates
            if config.round_updates:
                self._offline_phase(until, "dagger", eval_every=0, last_row=stats)
            else:
                self._write_row(self.seeds[0], {**self._base_row("dagger"), **stats})
            self._evaluate("dagger")
            self._save()
            self.stop.check()
        if config.save_aggregate:
            path = rounds.save(config.save_aggregate)
            self.progress.message(f"Saved the aggregated demonstrations to {path}")

    # -- online --------------------------------------------------------------------------------------

    def _online_phase(self) -> None:
        config = self.config
        chunk = jax.jit(
            make_train_chunk(
                self.agent,
                self.replay,
                self.online_learn,
                self.zeros,
                self.xla_env,
                stacked=self.env.spec.frame_stack is not None,
                epsilon_fn=self.schedule.epsilon,
                learning_starts=config.learning_starts,
                replay_ratio=config.replay_ratio,
                num_seeds=self.num_seeds,
            ),
            static_argnums=1,
            donate_argnums=0,
        )
        env_steps = self.env_steps
        while env_steps < config.total_steps:
            start = time.perf_counter()
            self.state, logs = chunk(self.state, self._chunk_steps(env_steps))
            logs, seconds = jax.device_get(logs), time.perf_counter() - start
            at = self.offline_updates + env_steps  # the step before this chunk
            self._check_finite(logs.metrics, lambda i, at=at: at + (i + 1) * config.num_envs)
            for k, seed in enumerate(self.seeds):  # logs are (steps, seeds, ...) with several seeds
                part = logs if self.num_seeds == 1 else jax.tree.map(lambda x, k=k: x[:, k], logs)
                seed.recent.extend(seed.interval.add_steps(part, seconds))
            before, env_steps = env_steps, self.env_steps
            if _crossed(before, env_steps, config.log_every) or env_steps >= config.total_steps:
                epsilon = float(self.schedule.epsilon(jnp.asarray(env_steps)))
                self._write_rows("online", {"epsilon": epsilon})
            if config.eval_every and _crossed(before, env_steps, config.eval_every):
                self._evaluate()
            self._maybe_save()
            self.stop.check()

    def _chunk_steps(self, env_steps: int) -> int:
        """Vector steps in the next compiled chunk: short enough that Ctrl-C, evaluations and
        checkpoints wait at most CHUNK_ENV_STEPS, ending on the --log-every and --eval-every grids and at
        total_steps."""
        config = self.config
        ahead = [CHUNK_ENV_STEPS, config.total_steps - env_steps]
        for every in (config.log_every, config.eval_every):  # a chunk ends at the next row or evaluation
            if every:
                ahead.append((env_steps // every + 1) * every - env_steps)
        target = min(ahead)
        return max(1, math.ceil(target / config.num_envs))

    # -- rows and evaluations ------------------------------------------------------------------------

    def _check_finite(self, metrics: dict[str, Any], step_of: Any) -> None:
        """Stops the run (DivergedError) when a chunk's loss or Q-values are no longer finite, before
        anything of that chunk is written or saved; `step_of(i)` is the run's step at the i-th log entry."""
        found = None if self.allow_divergence else first_non_finite(metrics, per_step=True)
        if found is not None:
            name, value, index = found
            last = self.seeds[0].checkpointer.latest_step()
            message = diverged_message(self.config.resolved_run_dir, step_of(index), name, value, last)
            raise DivergedError(message)

    def _write_rows(self, phase: str, extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Each seed's metrics row of the interval that ends here (an offline phase's with the held-out
        episodes' scores); returns them."""
        rows = []
        for k, seed in enumerate(self.seeds):
            row = {**seed.interval.row(self._base_row(phase)), **(extra or {})}
            if self.held_out is not None and phase != "online":
                row.update(self.held_out.metrics(self._seed_part(self.state.agent, k)))
            self._write_row(seed, row)
            rows.append(row)
        return rows

    def _held_out_summary(self, row: dict[str, Any]) -> str:
        """The progress line comparing held-out scores with training ones (seed 0's)."""
        held = self.held_out
        pairs = [
            f"{name} {row[PREFIX + name]:.3f} (training {row[name]:.3f})"
            for name in ("loss", "bc_accuracy")
            if PREFIX + name in row
        ]
        games = f"{held.episodes} held-out game{'s' * (held.episodes > 1)}, {held.transitions:,} steps"
        return f"{games}: " + ", ".join(pairs)

    def _write_row(self, seed: _Seed, row: dict[str, Any]) -> None:
        seed.metrics_log.append(row)
        scalars = {
            f"train/{name}": value
            for name, value in row.items()
            if name not in ("step", "phase") and isinstance(value, int | float) and not math.isnan(value)
        }
        for name, value in scalars.items():
            seed.writer.add_scalar(name, value, row["step"])
        if seed.wandb is not None:
            seed.wandb.log(scalars, step=row["step"])
        if seed is self.seeds[-1]:
            speeds = [(row.get(f"{unit}_per_s"), unit) for unit in ("steps", "updates")]
            known = [(v, unit) for v, unit in speeds if isinstance(v, int | float) and not math.isnan(v)]
            speed, unit = known[0] if known else (0.0, "steps")
            recent = [score for s in self.seeds for score in s.recent]
            self.progress.update(self.step, speed, np.mean(recent) if recent else None, unit)

    def _evaluation_at_step(self, path: Path) -> tuple[EvalResult | None, int | None]:
        """The evaluation already logged at this step (a resumed run that had finished), if any."""
        rows = rd.read_rows(path / rd.EVAL_FILE)
        if not rows or int(rows[-1]["step"]) != self.step:
            return None, None
        returns = np.array([float(r) for r in rows[-1]["returns"].split()])
        lengths = np.full(len(returns), float(rows[-1]["length_mean"]))
        return EvalResult(returns, lengths), self.step

    def _evaluate(self, phase: str = "online") -> None:
        keys = []
        for seed in self.seeds:
            seed.eval_key, key = jax.random.split(seed.eval_key)
            keys.append(key)
        result = self.evaluator(self.state.agent, self._stacked(keys))
        games = self.config.eval_episodes
        for k, seed in enumerate(self.seeds):
            part = EvalResult(*(x[k * games : (k + 1) * games] for x in result))
            summary = part.summary()
            returns = " ".join(f"{r:g}" for r in part.returns)
            seed.eval_log.append({**self._base_row(phase), **summary, "returns": returns})
            for name in ("return_mean", "return_std"):
                seed.writer.add_scalar(f"eval/{name}", summary[name], self.step)
            if seed.wandb is not None:
                seed.wandb.log({f"eval/{k}": v for k, v in summary.items()}, step=self.step)
            seed.final_eval, seed.last_eval_step = part, self.step
        means = ", ".join(f"{s.final_eval.mean:.2f}" for s in self.seeds)
        self.progress.message(
            f"eval @ step {self.step:,} ({phase}): return {means} ± {self.seeds[0].final_eval.std:.2f} "
            f"over {games} games" + (" per seed" if self.num_seeds > 1 else "")
        )


def _import_wandb():
    try:
        import wandb
    except ImportError:
        raise ValueError(
            "--wandb-project logs to Weights & Biases, which is not installed: pip install wandb "
            "(or drop --wandb-project; TensorBoard logs are always written)"
        ) from None
    return wandb


def resume_point(paths: list[Path]) -> tuple[int | None, dict[Path, list[int]], list[str]]:
    """The step a run resumes from (the newest checkpoint intact in each of its seeds' directories; None:
    no checkpoint yet), the damaged newer checkpoints of each directory, and a line naming each.

    Raises:
      RunDirError: checkpoints, but none intact; or seeds whose newest intact checkpoints differ.
    """
    steps, damaged, notes = set(), {}, []
    for path in paths:
        checkpointer = Checkpointer(path / "checkpoints", create=False)
        step, lines = checkpointer.newest_intact()
        notes += [f"{path}: {line}; passed over." for line in lines]
        damaged[path] = [s for s in checkpointer.all_steps() if step is None or s > step]
        if step is None and lines:
            raise rd.RunDirError(
                f"{path}: no intact checkpoint to resume from ({'; '.join(lines)}). Restore the checkpoints "
                f"from a copy, or move {path / 'checkpoints'} away and resume to train the run again from "
                "its start."
            )
        steps.add(step)
    if len(steps) > 1:
        raise rd.RunDirError(
            f"{paths[0].parent}: its seeds' newest intact checkpoints differ ({sorted(steps, key=str)}); "
            "resume each seed's directory on its own."
        )
    step = steps.pop()
    if damaged and step is not None and any(damaged.values()):
        notes.append(f"Resuming from the newest intact checkpoint, at step {step:,}.")
    return step, damaged, notes


def resumed_record(old: dict[str, Any], new: dict[str, Any], step: int | None) -> dict[str, Any]:
    """A resumed run's record: the original, with the settings a resume may change (--total-steps...) as
    they are now, and the resume itself noted (from which step, when, by which command, with which code)."""
    config = {**old["config"], **{k: new["config"][k] for k in RESUMABLE if k in new["config"]}}
    resume = {"step": step or 0, **{k: new[k] for k in ("created", "command", "git", "versions") if k in new}}
    return {**old, "config": config, "resumes": [*old.get("resumes", []), resume]}


def _check_same_run(path: Path, saved: dict, new: dict, algo: str) -> None:
    recorded = with_added_settings(saved["config"], new["config"])  # a run from before a setting existed
    diffs = rd.config_differences(recorded, new["config"], RESUMABLE)
    if saved.get("algo") != algo:
        diffs.insert(0, f"algo: run has {saved.get('algo')!r}, asked for {algo!r}")
    if diffs:
        raise rd.RunDirError(
            f"--resume {path}: that run was made with other settings:\n  "
            + "\n  ".join(diffs)
            + "\nResume with the run's own settings (omit these flags), or start a new --run-dir."
        )


def check_memory(replay: Replay, config: AgentConfig) -> None:
    """Refuses, before allocating, replays that would not fit the device's memory (K of them with
    --num-seeds K), naming the largest number of seeds and the largest capacity that would."""
    shapes = jax.eval_shape(replay.init)
    per_replay = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    need, room = per_replay * config.num_seeds, 0.8 * available_memory()
    if need <= room:
        return
    gib = 2**30
    most_seeds = int(room // per_replay)
    per_row = per_replay / max(config.replay_capacity, 1)
    capacity = int(room / config.num_seeds / per_row) // config.num_envs * config.num_envs
    raise ValueError(
        f"{config.num_seeds} replay(s) of {config.replay_capacity:,} transitions take {need / gib:.1f} GiB; "
        f"this machine has about {room / gib:.1f} GiB to spare. Use --num-seeds {max(most_seeds, 1)} or "
        f"less, or --replay-capacity {max(capacity, 0):,} or less."
    )


def available_memory() -> float:
    """Bytes free for arrays on the default device: the accelerator's, or the machine's available RAM."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return host_memory_available()


def host_memory_available() -> float:
    """Bytes of RAM the machine can still give (Linux's MemAvailable; elsewhere its free pages)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def train(
    config: AgentConfig, *, resume: bool = False, quiet: bool = False, allow_divergence: bool = False
) -> TrainResult:
    """Trains the agent `config` describes through its phases, recording everything in the run directory.

    Raises:
      RunDirError: the run directory holds another run (or, resuming, a run with other settings or none).
      DatasetError: a demonstration dataset that is missing, damaged, empty or of another game or preset.
      ValueError: settings that cannot work (an unknown game, a replay too small, terms without demos...).
      RunInUseError: another process is writing the run directory.
      DivergedError: the loss or Q-values became NaN or infinite (unless `allow_divergence`).
      DiskFullError: no space left for a checkpoint or a row; what was written before is intact.
    """
    with rd.holding(run_paths(config)):
        run = _Run(config, resume, quiet, allow_divergence)
        with _stop_on_signals(run.stop), quiet_full_disk_in_threads():
            return run.run()


def run_paths(config: AgentConfig) -> list[Path]:
    """The directories a run writes: its own, and each seed's when it trains several."""
    paths = [Path(config.resolved_run_dir)]
    return paths + [Path(c.resolved_run_dir) for c in seed_configs(config) if config.num_seeds > 1]
