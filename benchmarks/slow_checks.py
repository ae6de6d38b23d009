"""The checks too slow for CI's 15 minutes (`@pytest.mark.slow`): runs them all and records which passed
and how long each took in benchmarks/results/slow_checks.json.

    python benchmarks/slow_checks.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "slow_checks.json"


def main() -> int:
    report = OUT.with_suffix(".xml")
    start = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "slow",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
    ]
    status = subprocess.call(command, cwd=ROOT)
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
    result = {**counts, "minutes": round((time.perf_counter() - start) / 60, 1), "cases": cases}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(counts))
    return status


if __name__ == "__main__":
    sys.exit(main())
