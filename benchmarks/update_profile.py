"""Where an update's time goes: each objective's update (`throughput.OBJECTIVES`, at its preset's batch
size, in the compiled loop `throughput.py` times) run under JAX's profiler, its XLA operations' time
summed by operation.

Prints a table, then as its last line one JSON object (also benchmarks/results/update_profile.json):
  matmul_gflops                this machine's float32 matrix-product rate (as throughput.py measures it)
  <objective>_update_ms        wall time of one update in the loop, not profiled (measured alternately
                               with the profiled calls)
  <objective>_profiled_ms      the same under the profiler, which the figures below divide
  <objective>_busy_ms          time per update in which at least one XLA operation ran
  <objective>_idle_ms          the rest: the runtime between its operations (dispatch, waiting), the
                               profiler's own cost included
  <objective>_products_ms      time per update in which at least one matrix product ran (`PRODUCTS`)
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
CONTROL = {"while", "call", "conditional", "cond"}
"""Operations that hold others: their time is their operations'."""
PRODUCTS = ("ynn_fusion", "xnn_fusion", "onednn", "dot", "convolution")
"""The kinds of operation that are matrix products on the CPU backend (XLA hands most to YNNPACK)."""


def trace_events(run, calls: int) -> tuple[list[list[dict]], float, float]:
    """The complete events of `calls` calls of `run` under the profiler, one list per call (each trace
    has its own clock), and the wall seconds of the calls profiled and of as many unprofiled calls,
    alternating."""
    plain, profiled = 0.0, 0.0
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(calls):
            plain += _seconds(run)
            jax.profiler.start_trace(folder)
            profiled += _seconds(run)
            jax.profiler.stop_trace()
        events = []
        for path in Path(folder).rglob("*.trace.json.gz"):
            with gzip.open(path) as trace:
                events.append([e for e in json.load(trace)["traceEvents"] if e.get("ph") == "X"])
    return events, plain, profiled


def _seconds(run) -> float:
    start = time.perf_counter()
    jax.block_until_ready(run())
    return time.perf_counter() - start


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
    traces, plain, seconds = trace_events(compiled_updates(config, updates), calls)
    calls_ops = [[e for e in t if OPERATION.fullmatch(e["name"]) and _kind(e) not in CONTROL] for t in traces]
    ops = [op for call in calls_ops for op in call]
    n = updates * calls
    kinds, counts = Counter(), Counter()
    for op in ops:
        kinds[_kind(op)] += op["dur"] / 1e3 / n
        counts[_kind(op)] += 1 / n
    busy = sum(busy_us(call) for call in calls_ops) / 1e3 / n
    products = sum(busy_us([op for op in call if _kind(op).startswith(PRODUCTS)]) for call in calls_ops)
    products /= 1e3 * n
    return {
        "update_ms": round(plain * 1e3 / n, 2),
        "profiled_ms": round(seconds * 1e3 / n, 2),
        "busy_ms": round(busy, 2),
        "products_ms": round(products, 2),
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
        times = f"{found['update_ms']} ms/update ({found['profiled_ms']} profiled)"
        print(f"{name}: {times}, products {found['products_ms']}, idle {found['idle_ms']}; {top}", flush=True)
    publish(figures, "update_profile.json")


if __name__ == "__main__":
    main()
