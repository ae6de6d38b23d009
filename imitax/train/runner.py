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
from imitax.data.dataset import Dataset, load_dataset
from imitax.data.replay_loader import check_room, load_demonstrations
from imitax.envs import VecEnv, make_vec_env
from imitax.replay import Replay, make_replay
from imitax.train import run_dir as rd
from imitax.train.evaluation import EvalResult, Evaluator
from imitax.train.interval import Interval
from imitax.train.loop import (
    LoopState,
    initial_loop_state,
    make_learn_step,
    make_offline_chunk,
    make_train_chunk,
    zero_metrics,
)
from imitax.train.progress import TrainProgress

RESUMABLE = {"total_steps", "run_dir"}  # settings a resumed run may change
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
    """A 31-bit seed for one purpose of a run (training envs, evaluation envs, a resumed start)."""
    return int(np.random.SeedSequence([seed, *words]).generate_state(1)[0] % (2**31 - 2**16))


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


class _Run:
    """One training process over a run directory."""

    def __init__(self, config: AgentConfig, resume: bool, quiet: bool):
        config.check_trainable()
        self.config, self.quiet = config, quiet
        self.path = Path(config.resolved_run_dir)
        saved = rd.load_run_record(self.path) if resume else None
        if saved is None:
            rd.check_new_run_dir(self.path)
        start_step = rd.Checkpointer(self.path / "checkpoints", create=False).latest_step() if resume else 0
        # Everything that can fail on bad input is built before a file is written.
        self.env: VecEnv = make_vec_env(
            config.env,
            config.num_envs,
            preset=config.env_preset,
            training=True,
            seed=derive_seed(config.seed, _TRAIN_ENVS, start_step or 0),
        )
        spec = self.env.spec
        self.datasets: list[Dataset] = [load_dataset(path) for path in config.demos]
        demo_rows = sum(check_room(d, spec) for d in self.datasets)
        if isinstance(config, DaggerConfig):
            demo_rows += dagger_rows(config)
        replay_config = config.replay_config(demo_rows)
        self.replay: Replay = make_replay(replay_config, spec, config.num_envs)
        offline_config = dataclasses.replace(replay_config, demo_fraction=1.0 if demo_rows else None)
        self.offline_replay: Replay = make_replay(offline_config, spec, config.num_envs)
        self.agent = make_agent(config)
        self.offline_agent = make_agent(config, offline=True)
        self.dagger = None
        if isinstance(config, DaggerConfig):
            from imitax.train.dagger import DaggerRounds

            seed = derive_seed(config.seed, _DAGGER_ENVS, start_step or 0)
            self.dagger = DaggerRounds(config, spec, self.agent.act, seed)
        self.schedule = Schedule(config, expected_updates(config))
        eval_env = make_vec_env(
            config.env,
            config.eval_episodes,
            preset=config.env_preset,
            training=False,
            seed=derive_seed(config.seed, _EVAL_ENVS),
        )
        max_steps = eval_env.spec.preset.max_episode_steps + 2 if eval_env.spec.preset else 100_000
        self.evaluator = Evaluator(eval_env, self.agent.act, config.eval_epsilon, max_steps)
        self.record = rd.run_record(config.algo, config, spec.settings(), eval_env.spec.settings())
        if saved is not None:
            diffs = rd.config_differences(saved["config"], self.record["config"], RESUMABLE)
            if saved.get("algo") != config.algo:
                diffs.insert(0, f"algo: run has {saved.get('algo')!r}, asked for {config.algo!r}")
            if diffs:
                raise rd.RunDirError(
                    f"--resume {self.path}: that run was made with other settings:\n  "
                    + "\n  ".join(diffs)
                    + "\nResume with the run's own settings (omit these flags), or start a new --run-dir."
                )
        self.state = self._initial_state()
        self.online_learn = make_learn_step(self.agent, self.replay, self.schedule.beta)
        self.offline_learn = make_learn_step(self.offline_agent, self.offline_replay, self.schedule.beta)
        self.zeros = zero_metrics(self.online_learn, self.state.agent, self.state.replay)
        self.offline_zeros = zero_metrics(self.offline_learn, self.state.agent, self.state.replay)
        self.metric_names = sorted(set(self.zeros) | set(self.offline_zeros))
        self.interval = Interval(self.metric_names)
        self.recent: collections.deque = collections.deque(maxlen=20)  # scores of the latest games
        self.resumed = resume
        self.restored = resume and start_step is not None  # else it stopped before its first checkpoint
        self.stop = StopRequest()
        self.offline_updates = 0  # updates of the offline phase and DAgger's rounds
        self.dagger_round = 0

    def _initial_state(self) -> LoopState:
        key = jax.random.key(self.config.seed)
        key_agent, key_loop, self.eval_key = jax.random.split(key, 3)
        agent_state = self.agent.init(key_agent, self.env.spec)
        first = self.env.reset()
        xla = self.env.xla()
        self.env_step_fn = xla.step
        return initial_loop_state(agent_state, self.replay.init(), xla.handle, first, key_loop)

    @property
    def step(self) -> int:
        """The run's position: offline updates plus environment steps."""
        return self.offline_updates + int(self.state.env_steps)

    # -- checkpoints ---------------------------------------------------------------------------------

    def _checkpoint_tree(self, state: LoopState) -> dict[str, Any]:
        tree = {
            "agent": state.agent,
            "counters": {
                "env_steps": state.env_steps,
                "fresh_steps": state.fresh_steps,
                "update_debt": state.update_debt,
                "updates": state.updates,
                "offline_updates": jnp.asarray(self.offline_updates, jnp.int32),
                "dagger_round": jnp.asarray(self.dagger_round, jnp.int32),
            },
            "key": state.key,
            "eval_key": self.eval_key,
            "interval": self.interval.as_tree(),
        }
        if self.config.save_replay:
            tree["replay"] = state.replay
        return tree

    def _restore(self, checkpointer: rd.Checkpointer) -> None:
        restored = checkpointer.restore(self._checkpoint_tree(self.state))
        counters = restored["counters"]
        replay_kept = "replay" in restored
        # The environments restart with new games: the stored games end where the checkpoint cut them.
        self.state = self.state._replace(
            agent=restored["agent"],
            replay=self.replay.cut_streams(restored["replay"]) if replay_kept else self.state.replay,
            env_steps=counters["env_steps"],
            fresh_steps=counters["fresh_steps"] if replay_kept else jnp.zeros((), jnp.int32),
            update_debt=counters["update_debt"],
            updates=counters["updates"],
            key=restored["key"],
        )
        self.eval_key = restored["eval_key"]
        self.interval.load(restored["interval"])
        self.offline_updates = int(counters["offline_updates"])
        self.dagger_round = int(counters["dagger_round"])
        if not replay_kept:
            self._load_demos()

    def _load_demos(self) -> None:
        replay_state = self.state.replay
        for dataset in self.datasets:
            replay_state = load_demonstrations(dataset, self.replay, replay_state, self.env.spec)
        self.state = self.state._replace(replay=replay_state)

    # -- the run -------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        config = self.config
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpointer = rd.Checkpointer(self.path / "checkpoints")
        if self.restored:
            self._restore(self.checkpointer)
        else:
            self._load_demos()
            rd.write_record(self.path, self.record)
        self.metrics_log = rd.CsvLog(self.path / rd.METRICS_FILE, self._metric_columns())
        self.eval_log = rd.CsvLog(self.path / rd.EVAL_FILE, EVAL_COLUMNS)
        if self.resumed:
            self.metrics_log.truncate_after(self.step)
            self.eval_log.truncate_after(self.step)
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(self.path / "tb"), purge_step=self.step or None)
        self.progress = TrainProgress(
            final_step(config), self.step, f"{config.algo} {config.env}", not self.quiet
        )
        if self.restored:
            refill = "" if config.save_replay else " (replay not saved: refilling it before learning resumes)"
            self.progress.message(f"Resumed {self.path} at step {self.step:,}{refill}.")
        elif self.resumed:
            self.progress.message(
                f"{self.path} stopped before its first checkpoint: starting again in place."
            )
        self.last_ckpt = self.step
        self.final_eval, self.last_eval_step = self._evaluation_at_step()
        interrupted = False
        try:
            self._offline_phase(config.pretrain_updates, "pretrain")
            if self.dagger is not None:
                self._dagger_phase(self.dagger)
            if int(self.state.env_steps) < config.total_steps:
                self._online_phase()
            if self.last_eval_step != self.step or self.final_eval is None:
                self._evaluate()
            if self.last_ckpt != self.step or self.checkpointer.latest_step() is None:
                self._save()
        except KeyboardInterrupt:
            interrupted = True
            self.progress.close()
            self._save_on_interrupt()
        finally:
            self.progress.close()
            self.writer.close()
            self.checkpointer.close()
        return TrainResult(
            self.path, int(self.state.env_steps), self.final_eval, interrupted, int(self.state.updates)
        )

    def _metric_columns(self) -> list[str]:
        extra = ["epsilon", "steps_per_s", "updates_per_s"]
        if isinstance(self.config, DaggerConfig):
            extra += ["round", "beta", "round_return", "round_games", "round_labels", "disagreement"]
        return METRIC_COLUMNS + extra + self.metric_names

    def _save(self) -> None:
        self.checkpointer.save(self.step, self._checkpoint_tree(self.state))
        self.last_ckpt = self.step

    def _maybe_save(self) -> None:
        if _crossed(self.last_ckpt, self.step, self.config.checkpoint_every):
            self._save()

    def _save_on_interrupt(self) -> None:
        try:
            jax.block_until_ready(self.state)
            self._save()
            print(f"\nStopped. Saved a checkpoint at step {self.step:,}; continue with --resume {self.path}")
        except Exception:  # the state was mid-update (donated): the last periodic checkpoint stands
            latest = self.checkpointer.latest_step()
            where = f"step {latest:,}" if latest is not None else "nowhere yet"
            print(f"\nStopped mid-chunk; the latest checkpoint is at {where} (--resume {self.path}).")

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
            self.interval.add_updates(jax.device_get(log), time.perf_counter() - start)
            self.offline_updates += count
            if self.offline_updates == until:
                self._write_row({**self.interval.row(self._base_row(phase)), **(last_row or {})})
            elif self.offline_updates % config.offline_log_every == 0:
                self._write_row(self.interval.row(self._base_row(phase)))
            if eval_every and self.offline_updates % eval_every == 0:
                self._evaluate(phase)
            self._maybe_save()
            self.stop.check()

    def _offline_chunk(self):
        if not hasattr(self, "_compiled_offline"):
            self._compiled_offline = jax.jit(
                make_offline_chunk(self.offline_learn, self.offline_zeros), donate_argnums=0
            )
        return self._compiled_offline

    def _base_row(self, phase: str) -> dict[str, Any]:
        return {
            "step": self.step,
            "phase": phase,
            "env_steps": int(self.state.env_steps),
            "updates": int(self.state.updates),
        }

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
                self._write_row({**self._base_row("dagger"), **stats})
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
                self.env_step_fn,
                stacked=self.env.spec.frame_stack is not None,
                epsilon_fn=self.schedule.epsilon,
                learning_starts=config.learning_starts,
                replay_ratio=config.replay_ratio,
            ),
            static_argnums=1,
            donate_argnums=0,
        )
        env_steps = int(self.state.env_steps)
        while env_steps < config.total_steps:
            start = time.perf_counter()
            self.state, logs = chunk(self.state, self._chunk_steps(env_steps))
            self.recent.extend(self.interval.add_steps(jax.device_get(logs), time.perf_counter() - start))
            before, env_steps = env_steps, int(self.state.env_steps)
            if _crossed(before, env_steps, config.log_every) or env_steps >= config.total_steps:
                row = self._base_row("online")
                row["epsilon"] = float(self.schedule.epsilon(jnp.asarray(env_steps)))
                self._write_row(self.interval.row(row))
            if config.eval_every and _crossed(before, env_steps, config.eval_every):
                self._evaluate()
            self._maybe_save()
            self.stop.check()

    def _chunk_steps(self, env_steps: int) -> int:
        """Vector steps in the next compiled chunk: short enough that Ctrl-C, evaluations and
        checkpoints wait at most CHUNK_ENV_STEPS, ending on the --log-every grid and at total_steps."""
        config = self.config
        next_row = (env_steps // config.log_every + 1) * config.log_every
        target = min(CHUNK_ENV_STEPS, next_row - env_steps, config.total_steps - env_steps)
        return max(1, math.ceil(target / config.num_envs))

    # -- rows and evaluations ------------------------------------------------------------------------

    def _write_row(self, row: dict[str, Any]) -> None:
        self.metrics_log.append(row)
        for name, value in row.items():
            if name not in ("step", "phase") and isinstance(value, int | float) and not math.isnan(value):
                self.writer.add_scalar(f"train/{name}", value, row["step"])
        speeds = [row.get(name) for name in ("steps_per_s", "updates_per_s")]
        speed = next((v for v in speeds if isinstance(v, int | float) and not math.isnan(v)), 0.0)
        self.progress.update(self.step, speed, np.mean(self.recent) if self.recent else None)

    def _evaluation_at_step(self) -> tuple[EvalResult | None, int | None]:
        """The evaluation already logged at this step (a resumed run that had finished), if any."""
        rows = rd.read_rows(self.path / rd.EVAL_FILE)
        if not rows or int(rows[-1]["step"]) != self.step:
            return None, None
        returns = np.array([float(r) for r in rows[-1]["returns"].split()])
        lengths = np.full(len(returns), float(rows[-1]["length_mean"]))
        return EvalResult(returns, lengths), self.step

    def _evaluate(self, phase: str = "online") -> EvalResult:
        self.eval_key, key = jax.random.split(self.eval_key)
        result = self.evaluator(self.state.agent, key)
        summary = result.summary()
        returns = " ".join(f"{r:g}" for r in result.returns)
        self.eval_log.append({**self._base_row(phase), **summary, "returns": returns})
        for name in ("return_mean", "return_std"):
            self.writer.add_scalar(f"eval/{name}", summary[name], self.step)
        self.progress.message(
            f"eval @ step {self.step:,} ({phase}): return {result.mean:.2f} ± {result.std:.2f} "
            f"over {len(result.returns)} games"
        )
        self.final_eval, self.last_eval_step = result, self.step
        return result


def train(config: AgentConfig, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Trains the agent `config` describes through its phases, recording everything in the run directory.

    Raises:
      RunDirError: the run directory holds another run (or, resuming, a run with other settings or none).
      DatasetError: a demonstration dataset that is missing, damaged, empty or of another game or preset.
      ValueError: settings that cannot work (an unknown game, a replay too small, terms without demos...).
    """
    run = _Run(config, resume, quiet)
    with _stop_on_signals(run.stop):
        return run.run()
