"""The one replay that BC, DQN and DQfD sample from."""

from imitax.replay.buffer import Replay, ReplayConfig, ReplayState, make_replay, state_nbytes
from imitax.types import Step, Transition

__all__ = [
    "Replay",
    "ReplayConfig",
    "ReplayState",
    "Step",
    "Transition",
    "make_replay",
    "state_nbytes",
]
