"""How every benchmark ends: its figures as a table, the same as one JSON object on the last line, and
that JSON in benchmarks/results/<name> (committed beside RESULTS.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def publish(figures: dict[str, Any], name: str) -> Path:
    """Prints the scalar figures as a table, writes all of them to results/`name`, prints them as JSON."""
    scalars = {k: v for k, v in figures.items() if not isinstance(v, dict | list)}
    width = max(map(len, scalars), default=0)
    for key, value in scalars.items():
        print(f"{key:>{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))
    return path
