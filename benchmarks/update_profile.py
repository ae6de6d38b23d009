"""Where an update's time goes: each objective's update (`throughput.OBJECTIVES`, at its preset's batch
size, in the compiled loop `throughput.py` times) run under JAX's profiler, its XLA operations' time
summed by operation.

Prints a table, then as its last line one JSON object (also benchmarks/results/update_profile.json):
  matmul_gflops                this machine's float32 matrix-product rate (as throughput.py measures it)
  <objective>_update_ms        wall time of one update in the profiled loop
  <objective>_busy_ms          time per update in which at least one XLA operation ran
  <objective>_idle_ms          the rest: the runtime between its operations (dispatch, waiting)
  <objective>_op_ms            operation time per update summed over threads (above busy_ms where
                               operations overlap)
  <objective>_ops_per_update   operations launched per update
  <objective>_ops              ms and count per update of each kind of operation, by XLA's name for it
                               without the numeric suffix ("ynn_fusion": the matrix products that
                               YNNPACK runs; "concatenate": the patches of a convolution; "dot"...)
On the CPU backend; a GPU's trace names its kernels differently.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import jax
from _results import publish  # benchmarks/ is on sys.path when a script runs
from throughput import OBJECTIVES, compiled_updates, matmul_gflops

OPERATION = re.compile(r"[a-z][a-z0-9_\-]*(\.\d+)?")
"""An XLA operation's name in the trace (the runtime's and Python's events are named otherwise)."""
CONTROL = {"while", "call", "conditional"}
"""Operations that hold others: their time is their operations'."""


def trace_events(run, calls: int) -> tuple[list[dict], float]:
    """The complete events of `calls` calls of `run` under the profiler, and their wall seconds."""
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder)
        start = time.perf_counter()
        for _ in range(calls):
            jax.block_until_ready(run())
        seconds = time.perf_counter() - start
        jax.profiler.stop_trace()
        (path,) = Path(folder).rglob("*.trace.json.gz")
        with gzip.open(path) as trace:
            events = json.load(trace)["traceEvents"]
    return [e for e in events if e.get("ph") == "X"], seconds


def busy_us(ops: list[dict]) -> float:
    """Microseconds covered by at least one of the operations (the union of their intervals)."""
    covered, end = 0.0, float("-inf")
    for op in sorted(ops, key=lambda e: e["ts"]):
        start, stop = op["ts"], op["ts"] + op["dur"]
        if stop > end:
            covered += stop - max(start, end)
            end = stop
    return covered


def _kind(op: dict) -> str:
    """An operation's kind: its name without XLA's numeric suffix ("concatenate.17" -> "concatenate")."""
    return re.sub(r"\.\d+$", "", op["name"])


def profile(config, updates: int, calls: int) -> dict:
    """One objective's figures (see the module docstring), per update."""
    events, seconds = trace_events(compiled_updates(config, updates), calls)
    ops = [e for e in events if OPERATION.fullmatch(e["name"]) and _kind(e) not in CONTROL]
    n = updates * calls
    kinds, counts = Counter(), Counter()
    for op in ops:
        kinds[_kind(op)] += op["dur"] / 1e3 / n
        counts[_kind(op)] += 1 / n
    busy = busy_us(ops) / 1e3 / n
    return {
        "update_ms": round(seconds * 1e3 / n, 2),
        "busy_ms": round(busy, 2),
        "idle_ms": round(seconds * 1e3 / n - busy, 2),
        "op_ms": round(sum(kinds.values()), 2),
        "ops_per_update": round(len(ops) / n, 1),
        "ops": {k: {"ms": round(v, 3), "count": round(counts[k], 1)} for k, v in kinds.most_common()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--updates", type=int, default=20, help="updates per compiled loop")
    parser.add_argument("--calls", type=int, default=3, help="profiled calls of the loop")
    parser.add_argument("--only", nargs="*", choices=list(OBJECTIVES), default=list(OBJECTIVES))
    args = parser.parse_args()
    figures: dict = {"device": jax.default_backend(), "matmul_gflops": round(matmul_gflops(20, 2048), 1)}
    for name in args.only:
        found = profile(OBJECTIVES[name], args.updates, args.calls)
        for key, value in found.items():
            figures[f"{name}_{key}"] = value
        top = ", ".join(f"{k} {v['ms']:.2f} ms x{v['count']:g}" for k, v in list(found["ops"].items())[:6])
        print(f"{name}: {found['update_ms']} ms/update, idle {found['idle_ms']} ms; {top}", flush=True)
    publish(figures, "update_profile.json")


if __name__ == "__main__":
    main()
