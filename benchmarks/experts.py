"""How strong is each built-in expert? Whole games under both evaluation protocols, true scores:
  - Nature (Mnih et al. 2015): up to 30 no-op starts, no sticky actions; 30 games, seeds 0-29;
  - Machado et al. 2018: sticky actions 0.25, no no-op starts; 10 games, seeds 0-9.
A game that reaches the preset's 27,000-step limit counts as played (`time_limits` says how many did).

Experts already measured keep their figures in benchmarks/results/experts.json (`--experts` picks which
to play again). Prints a table and, as its last line, one JSON object:
`<expert>_nature_mean`, `<expert>_machado_mean`, with each expert's games under "games".

    python benchmarks/experts.py                          # every built-in expert
    python benchmarks/experts.py --experts pong-sight
"""

from __future__ import annotations

import argparse
import json

from _results import RESULTS, publish

from imitax.experts import available_experts
from imitax.experts.evaluation import evaluate_expert

PROTOCOLS = {"nature": 30, "machado": 10}  # preset -> games
OUT = "experts.json"


def play(expert: str, game: str) -> dict:
    """The expert's games under each protocol."""
    out = {}
    for preset, games in PROTOCOLS.items():
        result = evaluate_expert(expert, game, preset, episodes=games, seed=0)
        keep = ("returns", "mean_return", "std_return", "time_limits", "episode_steps", "steps_per_s")
        out[preset] = {k: result[k] for k in keep}
        print(f"{expert:<16} {preset:<8} {result['mean_return']:+8.1f} over {games} games", flush=True)
    return out


def main() -> None:
    experts = available_experts()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", nargs="*", choices=list(experts), default=list(experts))
    args = parser.parse_args()
    saved = RESULTS / OUT
    games = json.loads(saved.read_text())["games"] if saved.exists() else {}
    for name in args.experts:
        games[name] = play(name, experts[name][0])
    figures: dict = {}
    for name, played in games.items():
        for preset in PROTOCOLS:
            figures[f"{name}_{preset}_mean"] = round(played[preset]["mean_return"], 2)
    publish({**figures, "games": games}, OUT)


if __name__ == "__main__":
    main()
