"""Runs an online value-based agent: compiled chunks of acting and learning, and between them (in
Python) metrics, evaluation, checkpoints, progress, resuming and Ctrl-C."""

from __future__ import annotations

import collections
import contextlib
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

from imitax.agents.base import Agent
from imitax.agents.config import RunConfig
from imitax.envs import VecEnv, make_vec_env
from imitax.replay import Replay, ReplayConfig, make_replay
from imitax.train import run_dir as rd
from imitax.train.evaluation import EvalResult, Evaluator
from imitax.train.loop import LoopState, StepLog, initial_loop_state, make_train_chunk, zero_metrics
from imitax.train.progress import TrainProgress

RESUMABLE = {"total_steps", "run_dir"}  # settings a resumed run may change
CHUNK_ENV_STEPS = 2_000  # environment steps per compiled chunk at most: Ctrl-C waits for a chunk


@dataclass(frozen=True)
class Schedule:
    """When an online agent learns and how much it explores."""

    learning_starts: int
    replay_ratio: float
    epsilon_start: float
    epsilon_end: float
    epsilon_decay_steps: int

    def epsilon(self, env_steps: jax.Array) -> jax.Array:
        """1 before learning starts (uniform random acting), then linear decay to `epsilon_end`."""
        progress = (env_steps - self.learning_starts) / max(self.epsilon_decay_steps, 1)
        eps = self.epsilon_start + jnp.clip(progress, 0.0, 1.0) * (self.epsilon_end - self.epsilon_start)
        return jnp.where(env_steps < self.learning_starts, 1.0, eps)


@dataclass
class TrainResult:
    run_dir: Path
    env_steps: int
    final_eval: EvalResult | None
    interrupted: bool = False


def derive_seed(seed: int, *words: int) -> int:
    """A 31-bit seed for one purpose of a run (training envs, evaluation envs, a resumed start)."""
    return int(np.random.SeedSequence([seed, *words]).generate_state(1)[0] % (2**31 - 2**16))


_TRAIN_ENVS, _EVAL_ENVS = 1, 2


@contextlib.contextmanager
def _stop_on_signals():
    """Ctrl-C (SIGINT) and kill (SIGTERM, as schedulers send) both stop training the same way: at the end
    of the compiled chunk in flight, with a checkpoint. Installed explicitly, because a process started in
    the background inherits SIGINT ignored and Python then never raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Run:
    """One training process over a run directory."""

    def __init__(
        self,
        config: RunConfig,
        agent: Agent,
        replay_config: ReplayConfig,
        schedule: Schedule,
        resume: bool,
        quiet: bool,
    ):
        self.config, self.agent, self.schedule, self.quiet = config, agent, schedule, quiet
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
            seed=derive_seed(config.seed, _TRAIN_ENVS, start_step),
        )
        self.replay: Replay = make_replay(replay_config, self.env.spec, config.num_envs)
        eval_env = make_vec_env(
            config.env,
            config.eval_episodes,
            preset=config.env_preset,
            training=False,
            seed=derive_seed(config.seed, _EVAL_ENVS),
        )
        max_steps = eval_env.spec.preset.max_episode_steps + 2 if eval_env.spec.preset else 100_000
        self.evaluator = Evaluator(eval_env, agent.act, config.eval_epsilon, max_steps)
        self.record = rd.run_record(config.algo, config, self.env.spec.settings(), eval_env.spec.settings())
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
        self.metric_names = sorted(zero_metrics(agent, self.state.agent, self.replay, self.state.replay))
        self.resumed_from = start_step if resume else None

    def _initial_state(self) -> LoopState:
        key = jax.random.key(self.config.seed)
        key_agent, key_loop, self.eval_key = jax.random.split(key, 3)
        agent_state = self.agent.init(key_agent, self.env.spec)
        first = self.env.reset()
        xla = self.env.xla()
        self.env_step_fn = xla.step
        return initial_loop_state(agent_state, self.replay.init(), xla.handle, first, key_loop)

    # -- checkpoints ---------------------------------------------------------------------------------

    def _checkpoint_tree(self, state: LoopState) -> dict[str, Any]:
        tree = {
            "agent": state.agent,
            "counters": {
                "env_steps": state.env_steps,
                "fresh_steps": state.fresh_steps,
                "update_debt": state.update_debt,
                "updates": jnp.asarray(self.total_updates, jnp.int32),
            },
            "key": state.key,
            "eval_key": self.eval_key,
        }
        if self.config.save_replay:
            tree["replay"] = state.replay
        return tree

    def _restore(self, checkpointer: rd.Checkpointer) -> None:
        restored = checkpointer.restore(self._checkpoint_tree(self.state))
        counters = restored["counters"]
        replay_kept = "replay" in restored
        self.state = self.state._replace(
            agent=restored["agent"],
            replay=restored["replay"] if replay_kept else self.state.replay,
            env_steps=counters["env_steps"],
            fresh_steps=counters["fresh_steps"] if replay_kept else jnp.zeros((), jnp.int32),
            update_debt=counters["update_debt"],
            key=restored["key"],
        )
        self.eval_key = restored["eval_key"]
        self.total_updates = int(counters["updates"])

    # -- the loop ------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        config = self.config
        self.path.mkdir(parents=True, exist_ok=True)
        checkpointer = rd.Checkpointer(self.path / "checkpoints")
        self.total_updates = 0
        if self.resumed_from is not None:
            self._restore(checkpointer)
        else:
            rd.write_record(self.path, self.record)
        env_steps = int(self.state.env_steps)
        columns = [
            "env_steps",
            "updates",
            "episodes",
            "episode_return",
            "episode_length",
            "epsilon",
            "steps_per_s",
            *self.metric_names,
        ]
        metrics_log = rd.CsvLog(self.path / rd.METRICS_FILE, columns)
        eval_log = rd.CsvLog(
            self.path / rd.EVAL_FILE,
            [
                "env_steps",
                "return_mean",
                "return_std",
                "return_min",
                "return_max",
                "length_mean",
                "episodes",
                "returns",
            ],
        )
        if self.resumed_from is not None:
            metrics_log.truncate_after(env_steps)
            eval_log.truncate_after(env_steps)
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(str(self.path / "tb"), purge_step=env_steps or None)
        progress = TrainProgress(config.total_steps, env_steps, f"{config.algo} {config.env}", not self.quiet)
        if self.resumed_from is not None:
            refill = "" if config.save_replay else " (replay not saved: refilling it before learning resumes)"
            progress.message(f"Resumed {self.path} at step {env_steps:,}{refill}.")

        chunk = jax.jit(
            make_train_chunk(
                self.agent,
                self.replay,
                self.env_step_fn,
                stacked=self.env.spec.frame_stack is not None,
                epsilon_fn=self.schedule.epsilon,
                learning_starts=self.schedule.learning_starts,
                replay_ratio=self.schedule.replay_ratio,
            ),
            static_argnums=1,
            donate_argnums=0,
        )
        recent = collections.deque(maxlen=20)
        interval: list[tuple[StepLog, float]] = []  # chunks since the last metrics row
        last_log = last_eval = last_ckpt = env_steps
        final_eval: EvalResult | None = None
        interrupted = False

        def write_row() -> None:
            row = self._summarise(interval, env_steps, recent)
            interval.clear()
            metrics_log.append(row)
            for name, value in row.items():
                if name != "env_steps" and value is not None and not math.isnan(value):
                    writer.add_scalar(f"train/{name}", value, env_steps)
            progress.update(env_steps, row["steps_per_s"], np.mean(recent) if recent else None)

        try:
            while env_steps < config.total_steps:
                steps = self._chunk_steps(env_steps, last_log)
                start = time.perf_counter()
                self.state, logs = chunk(self.state, steps)
                interval.append((jax.device_get(logs), time.perf_counter() - start))
                env_steps = int(self.state.env_steps)
                if env_steps - last_log >= config.log_every or env_steps >= config.total_steps:
                    write_row()
                    last_log = env_steps
                if config.eval_every and env_steps - last_eval >= config.eval_every:
                    final_eval = self._evaluate(env_steps, eval_log, writer, progress)
                    last_eval = env_steps
                if env_steps - last_ckpt >= config.checkpoint_every:
                    checkpointer.save(env_steps, self._checkpoint_tree(self.state))
                    last_ckpt = env_steps
            if last_eval != env_steps or final_eval is None:
                final_eval = self._evaluate(env_steps, eval_log, writer, progress)
            if last_ckpt != env_steps or checkpointer.latest_step() is None:
                checkpointer.save(env_steps, self._checkpoint_tree(self.state))
        except KeyboardInterrupt:
            interrupted = True
            progress.close()
            if interval:  # the chunks finished since the last row: keep them
                env_steps = int(self.state.env_steps)
                write_row()
            self._save_on_interrupt(checkpointer)
        finally:
            progress.close()
            writer.close()
            checkpointer.close()
        return TrainResult(self.path, int(self.state.env_steps), final_eval, interrupted)

    def _save_on_interrupt(self, checkpointer: rd.Checkpointer) -> None:
        try:
            jax.block_until_ready(self.state)
            step = int(self.state.env_steps)
            checkpointer.save(step, self._checkpoint_tree(self.state))
            print(f"\nStopped. Saved a checkpoint at step {step:,}; continue with --resume {self.path}")
        except Exception:  # the state was mid-update (donated): the last periodic checkpoint stands
            latest = checkpointer.latest_step()
            where = f"step {latest:,}" if latest is not None else "nowhere yet"
            print(f"\nStopped mid-chunk; the latest checkpoint is at {where} (--resume {self.path}).")

    def _chunk_steps(self, env_steps: int, last_log: int) -> int:
        """Vector steps in the next compiled chunk: short enough that Ctrl-C, evaluations and
        checkpoints wait at most CHUNK_ENV_STEPS, ending on log boundaries and at total_steps."""
        config = self.config
        target = min(
            config.log_every,
            CHUNK_ENV_STEPS,
            last_log + config.log_every - env_steps,
            config.total_steps - env_steps,
        )
        return max(1, math.ceil(target / config.num_envs))

    def _summarise(self, interval: list[tuple[StepLog, float]], env_steps: int, recent) -> dict[str, Any]:
        logs = jax.tree.map(lambda *xs: np.concatenate(xs), *(log for log, _ in interval))
        seconds = sum(s for _, s in interval)
        over = logs.game_over
        scores = logs.game_score[over]
        recent.extend(scores.tolist())
        updates = int(logs.updates.sum())
        self.total_updates += updates
        row: dict[str, Any] = {
            "env_steps": env_steps,
            "updates": self.total_updates,
            "episodes": int(over.sum()),
            "episode_return": float(scores.mean()) if len(scores) else math.nan,
            "episode_length": float(logs.game_length[over].mean()) if len(scores) else math.nan,
            "epsilon": float(self.schedule.epsilon(jnp.asarray(env_steps))),
            "steps_per_s": over.size / seconds,  # (chunk steps, envs): every environment step
        }
        for name in self.metric_names:
            total = np.asarray(logs.metrics[name]).sum()
            row[name] = float(total / updates) if updates else math.nan
        return row

    def _evaluate(self, env_steps: int, eval_log: rd.CsvLog, writer, progress) -> EvalResult:
        self.eval_key, key = jax.random.split(self.eval_key)
        result = self.evaluator(self.state.agent, key)
        summary = result.summary()
        eval_log.append(
            {"env_steps": env_steps, **summary, "returns": " ".join(f"{r:g}" for r in result.returns)}
        )
        for name in ("return_mean", "return_std"):
            writer.add_scalar(f"eval/{name}", summary[name], env_steps)
        progress.message(
            f"eval @ {env_steps:,} steps: return {result.mean:.2f} ± {result.std:.2f} "
            f"over {len(result.returns)} games"
        )
        return result


def train(
    config: RunConfig,
    agent: Agent,
    replay_config: ReplayConfig,
    schedule: Schedule,
    *,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Trains `agent` online as `config` says, recording everything in the run directory.

    Raises:
      RunDirError: the run directory holds another run (or, resuming, a run with other settings or none).
      ValueError: settings that cannot work (an unknown game, a replay too small...).
    """
    run = _Run(config, agent, replay_config, schedule, resume, quiet)
    with _stop_on_signals():
        return run.run()
