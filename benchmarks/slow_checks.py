"""The checks too slow for CI's 15 minutes (`@pytest.mark.slow`): runs them all and records which passed
and how long each took in benchmarks/results/slow_checks.json.

    python benchmarks/slow_checks.py
    python benchmarks/slow_checks.py --default   # CI's suite instead: default_suite.json

`--default` times the README's test command as CI runs it, on an empty compilation cache, and records the
machine's matmul rate beside it: where the ~15-minute budget goes, slowest first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--default", action="store_true", help="time CI's default suite instead")
    default = parser.parse_args().default
    out = RESULTS / ("default_suite.json" if default else "slow_checks.json")
    report = out.with_suffix(".xml")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    if not default:
        command += ["-m", "slow"]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="imitax-suite-cache-") as cache:
        # CI starts from an empty compilation cache; the slow checks keep the tests' shared one.
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache} if default else None
        status = subprocess.call(command, cwd=ROOT, env=env)
    cases = []
    for case in ET.parse(report).getroot().iter("testcase"):
        failed = any(child.tag in ("failure", "error") for child in case)
        skipped = any(child.tag == "skipped" for child in case)
        outcome = "failed" if failed else "skipped" if skipped else "passed"
        cases.append(
            {
                "test": f"{case.get('classname')}::{case.get('name')}",
                "outcome": outcome,
                "seconds": round(float(case.get("time", 0)), 1),
            }
        )
    report.unlink()
    counts = {k: sum(c["outcome"] == k for c in cases) for k in ("passed", "failed", "skipped")}
    result = {**counts, "minutes": round((time.perf_counter() - start) / 60, 1)}
    if default:
        from throughput import matmul_gflops  # benchmarks/ is on sys.path when a script runs

        cases.sort(key=lambda c: -c["seconds"])
        result["matmul_gflops"] = round(matmul_gflops(20, 1024), 1)
        result["test_seconds"] = round(sum(c["seconds"] for c in cases), 1)  # over all workers
    out.write_text(json.dumps({**result, "cases": cases}, indent=2) + "\n")
    print(json.dumps(result))
    return status


if __name__ == "__main__":
    sys.exit(main())
