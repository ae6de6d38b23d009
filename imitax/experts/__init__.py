"""Built-in experts (no neural network) that play Atari games.

Two kinds, both deterministic:
- sight experts (`pong_sight`, `breakout_sight`; the defaults) decide from the observation a learner
  receives, the preprocessed frame stack, and nothing else: every label is a function of what a clone
  sees, so a clone can reach them, and they label stored observations as well as live games;
- search experts (`pong`, `breakout`, over `search`) read RAM and search ahead on a private mirror
  emulator loaded with a clone of the env's state: the strongest players, and the oracle of stored
  emulator states (`Oracle`). Their decisive choices are not functions of the frames (FIELD_NOTES).

Measured (nature preset, `training=False`, whole games; benchmarks/RESULTS.md):
- pong-sight: +21.0 over 30 games (all 21-0); machado preset +18.1 over 10; ~1,150 steps/s.
- breakout-sight: mean 348.5 over 30 games (only 4 distinct games come out of the no-op starts); machado
  196.2 over 10; ~1,500 steps/s.
- pong-search: 21-0 in all 10 games, 626 steps/s; with 25% of executed actions random, +10.9.
- breakout-search: mean 771.8 over 10 games; 8 clear both walls (864); 175-335 steps/s.
"""

from imitax.experts.base import Expert, action_index
from imitax.experts.breakout import BreakoutSearchExpert
from imitax.experts.evaluation import evaluate_expert
from imitax.experts.oracle import Oracle
from imitax.experts.pong import PongSearchExpert
from imitax.experts.registry import (
    available_experts,
    decisive_steps,
    default_expert,
    make_expert,
    search_expert,
)

__all__ = [
    "BreakoutSearchExpert",
    "Expert",
    "Oracle",
    "PongSearchExpert",
    "action_index",
    "available_experts",
    "decisive_steps",
    "default_expert",
    "evaluate_expert",
    "make_expert",
    "search_expert",
]
