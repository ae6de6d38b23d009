"""A run whose loss or Q-values stop being finite says so and stops, instead of logging empty cells: the
updates after the first NaN or infinity learn nothing, and every checkpoint after it is spoilt."""

from __future__ import annotations

from typing import Any

import numpy as np


class DivergedError(ValueError):
    """A watched metric became NaN or infinite; the message names the step, the term and what to do."""


def watched(name: str) -> bool:
    """Metrics that are finite in any sound update: the loss, each term's loss, Q-values, the gradient."""
    return name == "loss" or name.endswith("_loss") or name in ("q_mean", "grad_norm")


def first_non_finite(metrics: dict[str, Any], per_step: bool) -> tuple[str, float, int] | None:
    """The first watched metric that is not finite in a chunk's logs: its name, its value and the index of
    the first such entry along axis 0 (`per_step`: the logs are per vector step; else one sum, index 0).
    Each term's own loss is named before the total, so the message points at the term that went first."""
    names = sorted((n for n in metrics if watched(n)), key=lambda n: (n in ("loss", "grad_norm"), n))
    found = None
    for name in names:
        values = np.asarray(metrics[name], np.float64)
        bad = ~np.isfinite(values)
        if not bad.any():
            continue
        index = int(np.argmax(bad.reshape(bad.shape[0], -1).any(axis=1))) if per_step and values.ndim else 0
        value = float(values.reshape(-1)[np.argmax(bad.reshape(-1))])
        if found is None or index < found[2]:
            found = (name, value, index)
    return found


def diverged_message(run_dir: str, step: int, name: str, value: float, last_checkpoint: int | None) -> str:
    term = name.removesuffix("_loss")
    what = f"the {term!r} term's loss" if name.endswith("_loss") else name
    saved = (
        f"The last good checkpoint is at step {last_checkpoint:,} (resuming repeats the same updates)."
        if last_checkpoint is not None
        else "No checkpoint was saved before it."
    )
    return (
        f"{run_dir}: the run diverged: {what} became {value} at step {step:,}, and the run stopped. {saved} "
        "Train again with a smaller --learning-rate (or a tighter --max-grad-norm), or pass "
        "--allow-divergence True to keep going."
    )
