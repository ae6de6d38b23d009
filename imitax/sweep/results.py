"""A sweep's results: `results.csv` (one row per trial) and `results.png` (final return against each
swept field, the mean over seeds and the other fields, with their standard deviation as error bars)."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imitax.trials import Trial, final_eval, trial_state, wall_time

TABLE = "results.csv"
PLOT = "results.png"


def result_rows(trials: Sequence[Trial], swept: Sequence[str], log_dir: Path) -> list[dict[str, Any]]:
    """One row per trial: its swept fields, game and seed, its state and final evaluation (blank until
    it is done), its run directory and the wall time of its runs."""
    rows = []
    for trial in trials:
        state = trial_state(trial)
        last = final_eval(trial.run_dir) if state == "done" else None
        seconds = wall_time(trial, log_dir)
        rows.append(
            {
                **{name: trial.params[name] for name in swept},
                "game": trial.params["game"],
                "seed": trial.params["seed"],
                "state": state,
                "step": int(last["step"]) if last else "",
                "return_mean": float(last["return_mean"]) if last else "",
                "return_std": float(last["return_std"]) if last else "",
                "run_dir": str(trial.run_dir),
                "wall_s": round(seconds, 1) if seconds is not None else "",
            }
        )
    return rows


def write_table(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def summary(rows: list[dict[str, Any]], swept: Sequence[str]) -> list[dict[str, Any]]:
    """Per game and setting of the swept fields: the final return's mean and std over seeds, best first."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        if row["return_mean"] != "":
            groups[(row["game"], *(row[name] for name in swept))].append(row["return_mean"])
    out = [
        {
            "game": key[0],
            **dict(zip(swept, key[1:], strict=True)),
            "seeds": len(returns),
            "mean": statistics.mean(returns),
            "std": statistics.pstdev(returns),
        }
        for key, returns in groups.items()
    ]
    return sorted(out, key=lambda r: (r["game"], -r["mean"]))


def print_summary(rows: list[dict[str, Any]], swept: Sequence[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not summary(rows, swept):
        return
    table = Table(title="final return over seeds (best first)")
    for column in ("game", *swept, "seeds", "mean", "std"):
        table.add_column(column, justify="left" if column == "game" else "right")
    for r in summary(rows, swept):
        table.add_row(
            r["game"],
            *(str(r[name]) for name in swept),
            str(r["seeds"]),
            f"{r['mean']:.2f}",
            f"{r['std']:.2f}",
        )
    Console().print(table)


def plot(rows: list[dict[str, Any]], swept: Sequence[str], path: Path) -> bool:
    """Final return against each swept field (games as series); by game alone when nothing is swept.
    Returns False when no trial is done yet (nothing is drawn)."""
    done = [r for r in rows if r["return_mean"] != ""]
    if not done:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = list(swept) or ["game"]
    fig, axes = plt.subplots(1, len(fields), figsize=(4.5 * len(fields), 3.5), squeeze=False)
    games = sorted({r["game"] for r in done})
    for ax, name in zip(axes[0], fields, strict=True):
        values = sorted({r[name] for r in done}, key=_order)
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        for game in games if name != "game" else ["all"]:
            series = done if name == "game" else [r for r in done if r["game"] == game]
            xs, means, stds = [], [], []
            for i, value in enumerate(values):
                returns = [r["return_mean"] for r in series if r[name] == value]
                if returns:
                    xs.append(value if numeric else i)
                    means.append(statistics.mean(returns))
                    stds.append(statistics.pstdev(returns))
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=game)
        if numeric and len(values) > 1 and min(values) > 0 and max(values) / min(values) >= 10:
            ax.set_xscale("log")
        if numeric:
            ax.tick_params(axis="x", labelrotation=30)
        else:
            ax.set_xticks(range(len(values)), [str(v) for v in values], rotation=30, ha="right")
        ax.set_xlabel(name)
        ax.set_ylabel("final return")
        ax.grid(alpha=0.3)
    if len(games) > 1 and fields != ["game"]:
        axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _order(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))
