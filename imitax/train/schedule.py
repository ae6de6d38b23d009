"""How much a run does and when: its exploration and importance schedules, its updates and final step,
and the seeds of its environments."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from imitax.agents.config import AgentConfig

TRAIN_ENVS, EVAL_ENVS, DAGGER_ENVS = 1, 2, 3  # what a run's environments are for, in their seeds


@dataclass(frozen=True)
class Schedule:
    """When an online agent learns, how much it explores, and how prioritized replay corrects."""

    config: AgentConfig

    def epsilon(self, env_steps: jax.Array) -> jax.Array:
        """1 before learning starts (uniform random acting), then linear decay to `epsilon_end`."""
        c = self.config
        progress = (env_steps - c.learning_starts) / max(c.epsilon_decay_steps, 1)
        eps = c.epsilon_start + jnp.clip(progress, 0.0, 1.0) * (c.epsilon_end - c.epsilon_start)
        return jnp.where(env_steps < c.learning_starts, 1.0, eps)

    def beta(self, updates: jax.Array) -> jax.Array:
        """Prioritized replay's importance exponent, annealed linearly to 1 by the run's last update."""
        start = self.config.importance_exponent
        progress = updates / max(self.config.expected_updates, 1)
        return start + jnp.clip(progress, 0.0, 1.0) * (1.0 - start)


def final_step(config: AgentConfig) -> int:
    """The `step` a run ends at: its offline updates (DAgger's included) plus its environment steps."""
    return config.offline_updates + config.total_steps


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of `every` lies in (before, after]: rows, evaluations and checkpoints keep to
    their grid whatever the chunks or a resume did."""
    return after // every > before // every


def derive_seed(seed: int, *words: int) -> int:
    """A 31-bit seed for one purpose of a run (DAgger's emulators, a resumed start)."""
    return int(np.random.SeedSequence([seed, *words]).generate_state(1)[0] % (2**31 - 2**16))


def env_seed(seed: int, purpose: int, envs: int, start_step: int = 0) -> int:
    """The seed of a run's first environment for a purpose (environment i gets it + i): a base drawn from
    the purpose and the start step, plus `seed * envs`. Linear in the run's seed, so the K x envs
    environments of K seeds trained together get exactly the seeds of K separate runs."""
    return derive_seed(0, purpose, start_step) % 2**30 + seed * envs
