"""Built-in experts (no neural network) that play Atari games from the emulator state.

Each expert's decision is a pure function of the emulator state: it reads RAM and searches ahead on a
private mirror emulator loaded with a clone of the env's state, so it can label any state a learner
visits (DAgger's oracle) and leaves the env untouched (RAM, screen, random generator). How they play:
`imitax.experts.search` (shared), `pong`, `breakout`.

Measured by `benchmarks/demos.py` on the 2-core CPU (nature preset, `training=False`, seeds 0-9):
- pong-search: 21-0 in all 10 games (mean +21.0), recorded at 626 steps/s, games of 3,562 to 4,536
  steps (none near the 10,000-step budget). With 25% of executed actions random: mean +10.9 (-2 to
  +16). As an oracle over 8 envs acting at random: 386 labels/s.
- breakout-search: mean 771.8; 8 of 10 games clear both walls (864, the maximum), 2 stop at 403 when
  the ball falls into a cycle that no hit position changes. The game cannot end once it is cleared,
  so every game runs to the 27,000-step time limit. 335 steps/s over whole recorded games; about 175
  steps/s while bricks remain (the first 2,000 steps). All figures: benchmarks/RESULTS.md.
"""

from imitax.experts.base import Expert, action_index
from imitax.experts.breakout import BreakoutSearchExpert
from imitax.experts.evaluation import evaluate_expert
from imitax.experts.oracle import Oracle
from imitax.experts.pong import PongSearchExpert
from imitax.experts.registry import available_experts, default_expert, make_expert

__all__ = [
    "BreakoutSearchExpert",
    "Expert",
    "Oracle",
    "PongSearchExpert",
    "action_index",
    "available_experts",
    "default_expert",
    "evaluate_expert",
    "make_expert",
]
