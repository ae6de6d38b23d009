"""Offline updates: gradient steps on the demonstrations alone, in compiled chunks (BC, DQfD's
pre-training, BC->DQN's cloning, and the training between DAgger's rounds)."""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp

from imitax.train.loop import make_offline_chunk, over_seeds
from imitax.train.session import PhaseDefaults, Session
from imitax.train.validation import PREFIX

CHUNK_UPDATES = 250  # offline updates per compiled chunk at most: Ctrl-C waits for a chunk


class OfflineUpdates:
    """The compiled offline chunk of a session, and the loop that runs it until a number of updates,
    writing rows on the `offline_log_every` grid and at the end."""

    def __init__(self, session: Session):
        self.session = session
        self._chunk = None  # compiled at first use: a run without offline updates never builds it

    def _compiled(self):
        if self._chunk is None:
            s = self.session
            chunk = make_offline_chunk(s.offline_learn, s.offline_zeros)
            self._chunk = jax.jit(over_seeds(chunk, s.num_seeds), donate_argnums=0)
        return self._chunk

    def run(self, until: int, phase: str, eval_every: int, last_row: dict[str, Any] | None = None) -> None:
        """Updates until the session's `offline_updates` reaches `until`; rows at every multiple of
        `offline_log_every` and at the end, where `last_row` adds its columns; evaluations every
        `eval_every` updates (0: none)."""
        s, log_every = self.session, self.session.config.offline_log_every
        while s.offline_updates < until:
            count = min(log_every - s.offline_updates % log_every, CHUNK_UPDATES, until - s.offline_updates)
            start = time.perf_counter()
            s.state, log = self._compiled()(s.state, jnp.asarray(count, jnp.int32))
            log, seconds = jax.device_get(log), time.perf_counter() - start
            s.check_finite(log.metrics, lambda _, at=s.step + count: at)
            for k, seed in enumerate(s.seeds):
                seed.interval.add_updates(s.seed_part(log, k), seconds)
            s.offline_updates += count
            if s.offline_updates == until:
                rows = s.write_rows(phase, last_row or {})
                if s.held_out is not None:
                    s.log.message(held_out_summary(s, rows[0]))
            elif s.offline_updates % log_every == 0:
                s.write_rows(phase)
            if eval_every and s.offline_updates % eval_every == 0:
                s.evaluate(phase)
            s.maybe_save()
            s.stop.check()


def held_out_summary(session: Session, row: dict[str, Any]) -> str:
    """The progress line comparing held-out scores with training ones (seed 0's)."""
    held = session.held_out
    pairs = [
        f"{name} {row[PREFIX + name]:.3f} (training {row[name]:.3f})"
        for name in ("loss", "bc_accuracy")
        if PREFIX + name in row
    ]
    games = f"{held.episodes} held-out game{'s' * (held.episodes > 1)}, {held.transitions:,} steps"
    return f"{games}: " + ", ".join(pairs)


class OfflinePhase(PhaseDefaults):
    """`pretrain_updates` updates on the demonstrations before anything else, evaluated every
    `offline_eval_every`."""

    name = "pretrain"  # the session's offline_updates tell how far it went

    def __init__(self, session: Session):
        self.config = session.config
        self.updates = OfflineUpdates(session)

    def planned(self) -> bool:
        return self.config.pretrain_updates > 0

    def run(self, session: Session) -> None:
        self.updates.run(self.config.pretrain_updates, self.name, self.config.offline_eval_every)
