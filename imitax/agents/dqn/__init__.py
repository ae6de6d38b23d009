"""DQN and its common variants (double, dueling, n-step)."""

from imitax.agents.dqn.agent import DQNState, make_dqn, make_optimizer
from imitax.agents.dqn.config import CARTPOLE, FAST, NATURE, PRESETS, DQNConfig

__all__ = ["CARTPOLE", "FAST", "NATURE", "PRESETS", "DQNConfig", "DQNState", "make_dqn", "make_optimizer"]
