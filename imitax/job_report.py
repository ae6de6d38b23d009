"""The main job's report: one HTML page, readable offline, beside its pictures.

`index.html` holds a table of returns per stage beside the expert's and random play's (with each stage's
training speed: offline updates/s and online environment steps/s, medians of its metrics rows), the learning
curves (`curves.png`), a short GIF of the final agent playing (`play.gif`) and the command that
reproduces the job.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imitax.envs import AtariEnv
from imitax.train import run_dir as rd
from imitax.train.loading import load_agent

if TYPE_CHECKING:
    from rich.console import Console

GIF_STEPS = 400  # agent steps shown (16 s of play at 4 frames a step)
FINETUNE_NAMES = {"dqfd": "DQfD", "dqn": "DQN"}


def normalized(score: float, random: float, expert: float) -> float | None:
    """0 at random play, 1 at the expert; None when the two coincide."""
    return None if expert == random else (score - random) / (expert - random)


def returns_table(stages: Sequence[Any], expert: list[float], random: list[float]) -> list[dict[str, Any]]:
    """One row per line of the report's table: the references, then each stage's final evaluation."""
    rows = []
    if expert:
        rows.append({"name": "expert", "returns": expert})
    rows.append({"name": "random play", "returns": random})
    rows += [
        {
            "name": s.name,
            "returns": s.returns,
            "path": str(s.path),
            **stage_speeds(s.path),
            **imitation(s.path),
        }
        for s in stages
    ]
    reference = (float(np.mean(random)), float(np.mean(expert))) if expert else None
    for row in rows:
        values = np.asarray(row["returns"], float)
        row.update(mean=float(values.mean()), std=float(values.std()), games=len(values))
        row["normalized"] = normalized(row["mean"], *reference) if reference else None
    return rows


def stage_speeds(run_dir: Path) -> dict[str, float | None]:
    """A stage's training speed: the median `updates_per_s` of its offline rows (cloning, pre-training,
    DAgger's updates) and `steps_per_s` of its online rows; None where it has no such phase."""
    rows = rd.read_rows(Path(run_dir) / rd.METRICS_FILE)

    def median(phase_is_online: bool, column: str) -> float | None:
        values = _numbers([r for r in rows if (r.get("phase") == "online") == phase_is_online], column)
        return float(np.median(values)) if values else None

    return {"updates_per_s": median(False, "updates_per_s"), "steps_per_s": median(True, "steps_per_s")}


def imitation(run_dir: Path) -> dict[str, float | None]:
    """How well a stage imitates: the clone's accuracy on held-out demonstration games (and on its
    training batches) at its last offline row, and, for DAgger, how often its own action agreed with the
    teacher's on the states it visited in its last round; None where a stage has no such figure."""
    rows = rd.read_rows(Path(run_dir) / rd.METRICS_FILE)

    def last(column: str) -> float | None:
        values = _numbers(rows, column)
        return values[-1] if values else None

    disagreement = last("disagreement")
    return {
        "held_out_accuracy": last("val_bc_accuracy"),
        "train_accuracy": last("bc_accuracy"),
        "agreement": None if disagreement is None else 1.0 - disagreement,
    }


def _numbers(rows: list[dict[str, str]], column: str) -> list[float]:
    """A metrics column's values, the rows that leave it blank (or NaN) left out."""
    return [float(r[column]) for r in rows if r.get(column) not in (None, "", "nan")]


def plot_curves(stages: Sequence[Any], out: Path, expert: list[float], random: list[float]) -> None:
    """Evaluation return and training loss of the stages one after another, as the job ran them: each
    stage's steps (offline updates + environment steps) start where the stage before it ended."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ret, loss) = plt.subplots(1, 2, figsize=(11, 4))
    start = 0
    for stage in stages:
        evals = rd.read_rows(stage.path / rd.EVAL_FILE)
        rows = [r for r in rd.read_rows(stage.path / rd.METRICS_FILE) if r.get("loss")]
        steps = [int(r["step"]) for r in evals]
        ret.plot([start + s for s in steps], [float(r["return_mean"]) for r in evals], "o-", label=stage.name)
        loss.plot([start + int(r["step"]) for r in rows], [float(r["loss"]) for r in rows], label=stage.name)
        for axis in (ret, loss):
            axis.axvline(start, color="0.85", linewidth=0.8)
        start += max([*steps, *(int(r["step"]) for r in rows), 0])
    for label, values, style in (("expert", expert, "--"), ("random", random, ":")):
        if values:
            ret.axhline(float(np.mean(values)), color="gray", linestyle=style, label=label)
    ret.set(xlabel="step of the job (each stage's updates + environment steps)", ylabel="evaluation return")
    loss.set(xlabel="step of the job", ylabel="training loss", yscale="log")
    for axis in (ret, loss):
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def play_gif(run_dir: Path, out: Path, seed: int, steps: int = GIF_STEPS) -> float:
    """A GIF of a run's final agent playing (greedy) for up to `steps` steps; returns its score."""
    import jax
    from PIL import Image

    loaded = load_agent(run_dir)
    act = jax.jit(loaded.agent.act)
    env = AtariEnv(loaded.spec.name, loaded.spec.preset, training=False, seed=seed, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    frames, score, key = [Image.fromarray(env.render())], 0.0, jax.random.key(seed)
    for _ in range(steps):
        action = int(act(loaded.state, obs[None], key, 0.0)[0])
        obs, _, terminated, truncated, info = env.step(action)
        score += info["score"]  # this step's true (unclipped) points
        frames.append(Image.fromarray(env.render()))
        if terminated or truncated:
            break
    frames[0].save(out, save_all=True, append_images=frames[1::2], duration=66, loop=0)
    return score


def write_report(
    root: Path, stages: Sequence[Any], expert: list[float], random: list[float], job: Any
) -> Path:
    """Writes the report into `root/report/`; returns the page's path."""
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    rows = returns_table(stages, expert, random)
    plot_curves(stages, out / "curves.png", expert, random)
    play_gif(stages[-1].path, out / "play.gif", job.config.seed)
    (out / "returns.json").write_text(json.dumps(rows, indent=2) + "\n")
    print_table(rows)
    page = out / "index.html"
    page.write_text(_page(rows, job, stages))
    return page


def print_table(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    """The returns table on `console` (a rich Console; the terminal's by default), fitted to 80
    columns: its figures are never cut or wrapped, its headers may wrap."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    games = {row["games"] for row in rows}
    columns = {
        "": [row["name"] for row in rows],
        "return": [f"{row['mean']:.1f} ± {row['std']:.1f}" for row in rows],
        "games": [str(row["games"]) for row in rows],
        "normalised": [_fmt(row["normalized"]) for row in rows],
        "held-out acc.": [_fmt(row.get("held_out_accuracy")) for row in rows],
        "agreement": [_fmt(row.get("agreement")) for row in rows],
        "updates/s": [_rate(row.get("updates_per_s")) for row in rows],
        "steps/s": [_rate(row.get("steps_per_s")) for row in rows],
    }
    title = "final returns"
    if len(games) == 1:  # one count for every row: said once in the title, which leaves room
        del columns["games"]
        title += f", {next(iter(games))} games each"
    caption = (
        "normalised: random play 0, the expert 1. held-out acc.: on games the clone never trained on. "
        "agreement: with the oracle on the states the learner visits (DAgger's last round)."
    )
    table = Table(title=title, box=box.SIMPLE_HEAD, padding=0, pad_edge=False)
    for header, cells in columns.items():
        width = max(len(cell) for cell in cells)
        table.add_column(header, justify="right" if header else "left", min_width=width)
    for cells in zip(*columns.values(), strict=True):
        table.add_row(*cells)
    console = console or Console()
    console.print(table)
    console.print(caption, style="dim")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def _page(rows: list[dict[str, Any]], job: Any, stages: Sequence[Any]) -> str:
    config = job.config
    body = "".join(
        f"<tr><td>{html.escape(r['name'])}</td><td>{r['mean']:.2f} ± {r['std']:.2f}</td>"
        f"<td>{r['games']}</td><td>{_fmt(r['normalized'])}</td>"
        f"<td>{_fmt(r.get('held_out_accuracy'))}</td><td>{_fmt(r.get('train_accuracy'))}</td>"
        f"<td>{_fmt(r.get('agreement'))}</td>"
        f"<td>{_rate(r.get('updates_per_s'))}</td><td>{_rate(r.get('steps_per_s'))}</td>"
        f"<td><code>{html.escape(Path(r['path']).name) if 'path' in r else ''}</code></td></tr>"
        for r in rows
    )
    record = rd.load_run_record(stages[-1].path)
    protocol = {
        "protocol": record["config"].get("eval_protocol", "preset"),
        "epsilon": record["config"]["eval_epsilon"],
        **record.get("eval_env", {}).get("preset", {}),
    }
    budget = html.escape(json.dumps(dataclasses.asdict(config.budget)))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>imitax run: {html.escape(config.env)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;}} td,th{{padding:.2em .8em;}}
table{{border-collapse:collapse}} tr:nth-child(even){{background:#f3f3f3}} code{{font-size:90%}}</style>
</head><body>
<h1>Learning {html.escape(config.env)} from demonstrations</h1>
<p>Demonstrations, behaviour cloning, DAgger, then {FINETUNE_NAMES[config.finetune]} fine-tuning; every
return is the true game score of whole games (evaluation epsilon {record["config"]["eval_epsilon"]}).</p>
<h2>Returns</h2>
<table><tr><th>stage</th><th>return (mean ± std)</th><th>games</th>
<th>normalised (random 0, expert 1)</th><th>held-out accuracy</th><th>training accuracy</th>
<th>agrees with teacher on own states</th><th>updates/s</th><th>steps/s</th><th>directory</th></tr>
{body}</table>
<h2>Learning curves</h2><img src="curves.png" alt="learning curves" width="100%">
<h2>The final agent playing</h2><img src="play.gif" alt="the final agent playing">
<h2>Reproduce</h2><pre>{html.escape(job.command)}</pre>
<p>Budget ({config.budget_name}): <code>{budget}</code></p>
<p>Evaluation protocol: <code>{html.escape(json.dumps(protocol, sort_keys=True))}</code></p>
</body></html>
"""
