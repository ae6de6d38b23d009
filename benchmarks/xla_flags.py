"""XLA's CPU compiler options as levers on every objective's update (issue 23).

XLA reads XLA_FLAGS once, when it starts, so each option set runs in a process of its own; the sets take
turns over --rounds (A B C, A B C, ...) so that the machine's drift falls on all of them alike. Each
process measures, for every objective of throughput.py (`OBJECTIVES`, at its preset's batch size):
  update_ms        one update inside throughput.py's compiled loop of updates (median of --repeats)
  vs_flop_bound    the update's FLOPs (XLA's cost analysis) at the matmul rate measured in that process,
                   over update_ms: throughput.py's <objective>_update_vs_flop_bound
  loss             the objective's loss after one update from the same state and batch: an option that
                   moves it by more than float32 reordering can is not a speed lever but another sum
Figures per option set: the median over rounds of update_ms and vs_flop_bound, `<set>_vs_default` (the
default's update_ms over the set's, per objective, from the rounds' medians) and the largest relative
change of the loss against the default. Prints a table; its last line is one JSON object, also written to
benchmarks/results/xla_flags.json. Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

OPTION_SETS = {
    "default": "",
    "xnn_greedy": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "xnn_greedy_slinky": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY_SLINKY",
    "onednn": "--xla_cpu_use_onednn=true",
}
"""Option sets to weigh, by name: XNNPACK's graph fusion (dots, convolutions and the element-wise work
around them run as one XNNPACK subgraph instead of one XLA operation each), and oneDNN's kernels."""


def measure(repeats: int) -> dict:
    """This process's figures for every objective (XLA_FLAGS as the parent set it)."""
    import jax
    from throughput import BATCHES, OBJECTIVES, _batch, _timed, compiled_updates, cpu_update, matmul_gflops

    from imitax.agents.agent import make_agent
    from imitax.envs import atari_spec

    spec = atari_spec("Pong", "nature", training=True)
    rate = matmul_gflops(repeats, 2048)
    out = {"matmul_gflops": rate}
    for name, config in OBJECTIVES.items():
        agent = make_agent(config)
        state, batch = agent.init(jax.random.key(0), spec), _batch(config, spec)
        update, flops = cpu_update(agent, state, batch)  # compiled once: its FLOPs and its loss
        loss = float(update(state, batch)[1]["loss"])
        updates = 4 * BATCHES
        ms = float(np.median(_timed(compiled_updates(config, updates), repeats))) / updates * 1e3
        bound_ms = flops / 1e9 / rate * 1e3
        out[name] = {"update_ms": ms, "vs_flop_bound": bound_ms / ms, "loss": loss}
    return out


def run_set(name: str, repeats: int) -> dict:
    """One child process with `name`'s options added to XLA_FLAGS; its figures, or why it failed."""
    flags = " ".join(filter(None, (os.environ.get("XLA_FLAGS", ""), OPTION_SETS[name])))
    command = [sys.executable, __file__, "--child", "--repeats", str(repeats)]
    done = subprocess.run(command, env={**os.environ, "XLA_FLAGS": flags}, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(rounds: dict[str, list[dict]]) -> dict:
    """Medians over rounds per set and objective, each set against the default."""
    figures: dict = {}
    default = rounds["default"]
    objectives = [k for k in default[0] if k != "matmul_gflops"]
    figures["matmul_gflops"] = round(float(np.median([r["matmul_gflops"] for r in default])), 1)
    for name, runs in rounds.items():
        if any("error" in r for r in runs):
            figures[f"{name}_error"] = next(r["error"] for r in runs if "error" in r)
            continue
        for objective in objectives:
            ms = float(np.median([r[objective]["update_ms"] for r in runs]))
            base = float(np.median([r[objective]["update_ms"] for r in default]))
            figures[f"{name}_{objective}_update_ms"] = round(ms, 2)
            figures[f"{name}_{objective}_vs_flop_bound"] = round(
                float(np.median([r[objective]["vs_flop_bound"] for r in runs])), 3
            )
            figures[f"{name}_{objective}_vs_default"] = round(base / ms, 3)
        figures[f"{name}_loss_change"] = float(
            max(
                abs(run[o]["loss"] - ref[o]["loss"]) / max(abs(ref[o]["loss"]), 1e-12)
                for run, ref in zip(runs, default, strict=True)
                for o in objectives
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(OPTION_SETS), choices=list(OPTION_SETS))
    parser.add_argument("--rounds", type=int, default=3, help="turns each option set takes")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure in each process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeats)))
        return
    names = ["default", *(s for s in args.sets if s != "default")]
    rounds: dict[str, list[dict]] = {name: [] for name in names}
    for turn in range(args.rounds):
        for name in names:
            rounds[name].append(run_set(name, args.repeats))
            print(f"round {turn + 1}/{args.rounds}: {name} done", file=sys.stderr, flush=True)
    from _results import publish

    figures = {**summarise(rounds), "rounds": rounds, "option_sets": {n: OPTION_SETS[n] for n in names}}
    publish(figures, "xla_flags.json")


if __name__ == "__main__":
    main()
