"""A deliberately naive replay to test `imitax.replay` against: whole observations kept per step,
transitions built by walking Python lists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class NaiveStep:
    obs: np.ndarray  # the full observation as the environment showed it
    action: int
    label: int
    reward: float
    terminal: bool
    first: bool
    last: bool


class NaiveReplay:
    def __init__(self, stream_length: int, frame_stack: int, n_step: int, discount: float):
        self.length = stream_length
        self.stack = frame_stack
        self.n = n_step
        self.gamma = discount
        self.streams: dict[str, list[NaiveStep]] = {}

    def add(self, stream: str, step: NaiveStep) -> None:
        self.streams.setdefault(stream, []).append(step)

    def kept(self, stream: str, capacity: int | None) -> range:
        total = len(self.streams.get(stream, []))
        if capacity is None or total <= capacity:
            return range(0, total)
        return range(total - capacity, total)

    def transition(self, stream: str, j: int, capacity: int | None) -> dict | None:
        """The transition starting at step j of a stream, or None when it is not valid."""
        steps = self.streams[stream]
        kept = self.kept(stream, capacity)
        wrapped = capacity is not None and len(steps) > capacity
        if j not in kept or steps[j].last:
            return None
        if wrapped and j < kept.start + self.stack - 1:
            return None
        total, power, span = 0.0, 1.0, 0
        for k in range(1, self.n + 1):
            if j + k >= kept.stop:
                return None
            total += power * steps[j + k].reward
            power *= self.gamma
            span = k
            if steps[j + k].last:
                break
        one = steps[j + 1]
        end = steps[j + span]
        return {
            "obs_tm1": steps[j].obs,
            "action_tm1": steps[j].action,
            "label_tm1": steps[j].label,
            "reward_t": one.reward,
            "discount_t": 0.0 if one.terminal else self.gamma,
            "obs_t": one.obs,
            "nstep_return_t": total,
            "nstep_discount_t": 0.0 if end.terminal else self.gamma**span,
            "nstep_obs_t": end.obs,
        }
