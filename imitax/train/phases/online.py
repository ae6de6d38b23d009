"""Online interaction: acting on envpool environments and learning from the replay in compiled chunks,
for `total_steps` environment steps (DQN, DQfD's second phase, BC->DQN's fine-tuning)."""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp

from imitax.train.loop import make_train_chunk
from imitax.train.schedule import crossed
from imitax.train.session import PhaseDefaults, Session

CHUNK_ENV_STEPS = 2_000  # environment steps per compiled chunk at most: Ctrl-C waits for a chunk


class OnlinePhase(PhaseDefaults):
    """Environment steps until `total_steps`, with rows every `log_every` and evaluations every
    `eval_every` environment steps."""

    name = "online"  # the loop state counts its environment steps

    def __init__(self, session: Session):
        self.config = session.config
        s = session
        chunk = make_train_chunk(
            s.agent,
            s.replay,
            s.online_learn,
            s.zeros,
            s.xla_env,
            stacked=s.env.spec.frame_stack is not None,
            epsilon_fn=s.schedule.epsilon,
            learning_starts=self.config.learning_starts,
            replay_ratio=self.config.replay_ratio,
            num_seeds=s.num_seeds,
        )
        self._chunk = jax.jit(chunk, static_argnums=1, donate_argnums=0)  # compiled at first call

    def planned(self) -> bool:
        return self.config.total_steps > 0

    def run(self, s: Session) -> None:
        config = self.config
        env_steps = s.env_steps
        while env_steps < config.total_steps:
            start = time.perf_counter()
            s.state, logs = self._chunk(s.state, self._chunk_steps(env_steps))
            logs, seconds = jax.device_get(logs), time.perf_counter() - start
            at = s.offline_updates + env_steps  # the step before this chunk
            s.check_finite(logs.metrics, lambda i, at=at: at + (i + 1) * config.num_envs)
            for k, seed in enumerate(s.seeds):  # logs are (steps, seeds, ...) with several seeds
                part = logs if s.num_seeds == 1 else jax.tree.map(lambda x, k=k: x[:, k], logs)
                s.log.add_scores(k, seed.interval.add_steps(part, seconds))
            before, env_steps = env_steps, s.env_steps
            if crossed(before, env_steps, config.log_every) or env_steps >= config.total_steps:
                epsilon = float(s.schedule.epsilon(jnp.asarray(env_steps)))
                s.write_rows(self.name, {"epsilon": epsilon})
            if config.eval_every and crossed(before, env_steps, config.eval_every):
                s.evaluate(self.name)
            s.maybe_save()
            s.stop.check()

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
