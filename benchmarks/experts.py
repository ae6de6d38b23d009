"""How strong is each built-in expert? Whole games under each evaluation protocol, true scores:
  - nature: Mnih et al. 2015's environment (up to 30 no-op starts, no sticky actions), the expert's own
    play; 30 games, seeds 0-29;
  - nature_eps: the same games with the Nature agents' evaluation epsilon 0.05 (one executed action in 20
    uniformly random): what a learner evaluated that way can at best inherit from its teacher;
  - machado: Machado et al. 2018, sticky actions 0.25, no no-op starts; 10 games, seeds 0-9.
A game that reaches the preset's 27,000-step limit counts as played (`time_limits` says how many did).

Experts and protocols already measured keep their figures in benchmarks/results/experts.json
(`--experts` and `--protocols` pick what to play again). Prints a table and, as its last line, one JSON
object: `<expert>_<protocol>_mean`, with each expert's games under "games".

    python benchmarks/experts.py                          # every built-in expert
    python benchmarks/experts.py --experts pong-sight --protocols nature_eps
"""

from __future__ import annotations

import argparse
import json

from _results import RESULTS, publish

from imitax.experts import available_experts
from imitax.experts.evaluation import evaluate_expert

PROTOCOLS = {  # name -> (environment preset, games, epsilon)
    "nature": ("nature", 30, 0.0),
    "nature_eps": ("nature", 30, 0.05),
    "machado": ("machado", 10, 0.0),
}
OUT = "experts.json"


def play(expert: str, game: str, protocols: list[str]) -> dict:
    """The expert's games under each of `protocols`."""
    out = {}
    for protocol in protocols:
        preset, games, epsilon = PROTOCOLS[protocol]
        result = evaluate_expert(expert, game, preset, episodes=games, seed=0, noise=epsilon)
        keep = ("returns", "mean_return", "std_return", "time_limits", "episode_steps", "steps_per_s")
        out[protocol] = {k: result[k] for k in keep}
        print(f"{expert:<16} {protocol:<10} {result['mean_return']:+8.1f} over {games} games", flush=True)
    return out


def main() -> None:
    experts = available_experts()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", nargs="*", choices=list(experts), default=list(experts))
    parser.add_argument("--protocols", nargs="*", choices=list(PROTOCOLS), default=list(PROTOCOLS))
    args = parser.parse_args()
    played = {name: play(name, experts[name][0], args.protocols) for name in args.experts}
    saved = RESULTS / OUT  # read after playing: what another run wrote meanwhile is kept
    games = json.loads(saved.read_text())["games"] if saved.exists() else {}
    for name, protocols in played.items():
        games[name] = {**games.get(name, {}), **protocols}
    figures: dict = {}
    for name, by_protocol in games.items():
        for protocol in PROTOCOLS:
            if protocol in by_protocol:
                figures[f"{name}_{protocol}_mean"] = round(by_protocol[protocol]["mean_return"], 2)
    publish({**figures, "games": games}, OUT)


if __name__ == "__main__":
    main()
