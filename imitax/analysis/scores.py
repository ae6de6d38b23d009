"""Random and human reference scores of the 57 Atari games, and human-normalised scores.

A human-normalised score is `(score - random) / (human - random)`: 0 plays like a uniformly random policy,
1 like the professional human game tester. The table is the one Agent57 reports against (Badia et al. 2020,
"Agent57: Outperforming the Atari Human Benchmark", Appendix H.4) and DQN Zoo ships (its `atari_data.py`,
from which it is transcribed): the random and human scores of Mnih et al. 2015, "Human-level control
through deep reinforcement learning", and of Wang et al. 2016, "Dueling Network Architectures for Deep
Reinforcement Learning", for the 57 games. They were measured with up to 30 no-op starts and episodes
capped at 108,000 frames (30 minutes).

Mnih et al. 2015's own table has other human scores for some games (Pong 9.3, Breakout 31.8): compare
normalised scores only with results normalised by the same table.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike


class Reference(NamedTuple):
    random: float
    """Mean score of a uniformly random policy."""
    human: float
    """Mean score of a professional human game tester."""


class NoReferenceScoresError(ValueError):
    """A game outside the 57 of the table: its scores cannot be human-normalised."""


# Keyed by imitax's canonical game names (`imitax.envs.all_games()`).
REFERENCE_SCORES: dict[str, Reference] = {
    "Alien": Reference(227.8, 7127.7),
    "Amidar": Reference(5.8, 1719.5),
    "Assault": Reference(222.4, 742.0),
    "Asterix": Reference(210.0, 8503.3),
    "Asteroids": Reference(719.1, 47388.7),
    "Atlantis": Reference(12850.0, 29028.1),
    "BankHeist": Reference(14.2, 753.1),
    "BattleZone": Reference(2360.0, 37187.5),
    "BeamRider": Reference(363.9, 16926.5),
    "Berzerk": Reference(123.7, 2630.4),
    "Bowling": Reference(23.1, 160.7),
    "Boxing": Reference(0.1, 12.1),
    "Breakout": Reference(1.7, 30.5),
    "Centipede": Reference(2090.9, 12017.0),
    "ChopperCommand": Reference(811.0, 7387.8),
    "CrazyClimber": Reference(10780.5, 35829.4),
    "Defender": Reference(2874.5, 18688.9),
    "DemonAttack": Reference(152.1, 1971.0),
    "DoubleDunk": Reference(-18.6, -16.4),
    "Enduro": Reference(0.0, 860.5),
    "FishingDerby": Reference(-91.7, -38.7),
    "Freeway": Reference(0.0, 29.6),
    "Frostbite": Reference(65.2, 4334.7),
    "Gopher": Reference(257.6, 2412.5),
    "Gravitar": Reference(173.0, 3351.4),
    "Hero": Reference(1027.0, 30826.4),
    "IceHockey": Reference(-11.2, 0.9),
    "Jamesbond": Reference(29.0, 302.8),
    "Kangaroo": Reference(52.0, 3035.0),
    "Krull": Reference(1598.0, 2665.5),
    "KungFuMaster": Reference(258.5, 22736.3),
    "MontezumaRevenge": Reference(0.0, 4753.3),
    "MsPacman": Reference(307.3, 6951.6),
    "NameThisGame": Reference(2292.3, 8049.0),
    "Phoenix": Reference(761.4, 7242.6),
    "Pitfall": Reference(-229.4, 6463.7),
    "Pong": Reference(-20.7, 14.6),
    "PrivateEye": Reference(24.9, 69571.3),
    "Qbert": Reference(163.9, 13455.0),
    "Riverraid": Reference(1338.5, 17118.0),
    "RoadRunner": Reference(11.5, 7845.0),
    "Robotank": Reference(2.2, 11.9),
    "Seaquest": Reference(68.4, 42054.7),
    "Skiing": Reference(-17098.1, -4336.9),
    "Solaris": Reference(1236.3, 12326.7),
    "SpaceInvaders": Reference(148.0, 1668.7),
    "StarGunner": Reference(664.0, 10250.0),
    "Surround": Reference(-10.0, 6.5),
    "Tennis": Reference(-23.8, -8.3),
    "TimePilot": Reference(3568.0, 5229.2),
    "Tutankham": Reference(11.4, 167.6),
    "UpNDown": Reference(533.4, 11693.2),
    "Venture": Reference(0.0, 1187.5),
    "VideoPinball": Reference(16256.9, 17667.9),  # random is close to human here: normalised scores swing
    "WizardOfWor": Reference(563.5, 4756.5),
    "YarsRevenge": Reference(3092.9, 54576.9),
    "Zaxxon": Reference(32.5, 9173.3),
}


def _key(name: str) -> str:
    """The spelling-free key of a game name: "ALE/SpaceInvaders-v5", "space_invaders" -> "spaceinvaders"."""
    name = re.sub(r"^ALE/", "", name.strip(), flags=re.IGNORECASE)
    name = re.sub(r"(NoFrameskip)?-v\d+$", "", name)
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_KEY = {_key(game): game for game in REFERENCE_SCORES}


def has_reference_scores(game: str) -> bool:
    return _key(game) in _BY_KEY


def reference_scores(game: str) -> Reference:
    """The random and human scores of a game, by canonical name (other spellings of the name work too).

    Raises:
      NoReferenceScoresError: the game is not one of the 57 of the table.
    """
    if not has_reference_scores(game):
        raise NoReferenceScoresError(
            f"There are no human reference scores for {game!r}: the table holds the 57 games of the Atari "
            "benchmark (Badia et al. 2020, Appendix H.4). Compare its raw returns instead, or add its random "
            "and human scores, with their source, to imitax.analysis.scores.REFERENCE_SCORES."
        )
    return REFERENCE_SCORES[_BY_KEY[_key(game)]]


def human_normalized(game: str, score: ArrayLike) -> np.ndarray:
    """`(score - random) / (human - random)`, elementwise over an array of scores of one game."""
    ref = reference_scores(game)
    return (np.asarray(score, dtype=np.float64) - ref.random) / (ref.human - ref.random)
