"""The main job, `imitax run`: every stage runs and reports; a rerun reuses finished stages and a
changed setting redoes only the stages it reaches; bad input is refused before anything is written."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from imitax import cli, pipeline
from imitax.pipeline import MainJobConfig, stage_configs
from imitax.train import run_dir as rd

TINY = ["--quick", "--bc-updates", "20", "--dagger-rounds", "1", "--finetune-steps", "256"]


def _stage_dirs(root) -> dict[str, str]:
    return {p.name.split("-")[0]: p.name for p in root.iterdir() if p.is_dir() and "-" in p.name}


@pytest.mark.timeout(900)
def test_main_job_runs_every_stage_and_reuses_them(tmp_path, capsys):
    root = tmp_path / "job"
    assert cli.main(["run", *TINY, "--run-dir", str(root)]) == 0
    stages = _stage_dirs(root)
    assert set(stages) == {"demos", "bc", "dagger", "finetune"}
    report = root / "report"
    for name in ("index.html", "curves.png", "play.gif", "returns.json"):
        assert (report / name).stat().st_size > 0
    rows = {r["name"]: r for r in json.loads((report / "returns.json").read_text())}
    assert rows["expert"]["mean"] >= 18.0  # Pong's sight expert wins 20-1 (or 21-0)
    assert rows["random play"]["normalized"] == 0.0 and rows["expert"]["normalized"] == 1.0
    assert {"bc", "dagger", "finetune"} <= set(rows)
    assert {r["games"] for r in rows.values()} == {pipeline.QUICK_BUDGET.final_episodes}  # the final games
    assert rows["bc"]["updates_per_s"] > 0 and rows["bc"]["steps_per_s"] is None  # each stage's speed
    assert rows["finetune"]["steps_per_s"] > 0
    assert 0 <= rows["bc"]["held_out_accuracy"] <= 1 and 0 <= rows["dagger"]["agreement"] <= 1
    assert len(rd.read_rows(root / stages["finetune"] / rd.EVAL_FILE)) >= 3  # curves, not one point
    page = (report / "index.html").read_text()
    assert "imitax run --quick --bc-updates 20" in page and "play.gif" in page and "updates/s" in page
    assert "Budget (quick)" in page and json.loads((root / "job.json").read_text())["budget_name"] == "quick"
    capsys.readouterr()

    modified = {p: p.stat().st_mtime_ns for p in root.glob("*/eval.csv")}
    assert cli.main(["run", *TINY, "--run-dir", str(root)]) == 0
    assert capsys.readouterr().out.count("reusing") == 4
    assert {p: p.stat().st_mtime_ns for p in root.glob("*/eval.csv")} == modified


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env", "Seaquest"], "No built-in expert plays Seaquest"),
        (["--env", "Pongg"], "Pongg"),
        (["--demos", "missing-dataset"], "missing-dataset"),
        (["--bc-updates", "0"], "--bc-updates must be >= 1"),
        (["--demo-noise", "1.5"], "--demo-noise is a probability"),
    ],
)
def test_main_job_refuses_bad_input_and_writes_nothing(tmp_path, capsys, args, message):
    root = tmp_path / "job"
    try:
        status = cli.main(["run", *args, "--run-dir", str(root)])
    except SystemExit as stop:  # tyro reports a config's own checks itself
        status = stop.code
    assert status == 2
    assert message in capsys.readouterr().err
    assert not root.exists()


def test_the_budget_follows_the_machine_unless_quick_or_a_flag_says_otherwise(monkeypatch):
    monkeypatch.setattr(pipeline.jax, "default_backend", lambda: "cpu")
    assert MainJobConfig().budget_name == "cpu" and MainJobConfig().budget == pipeline.CPU_BUDGET
    monkeypatch.setattr(pipeline.jax, "default_backend", lambda: "gpu")
    assert MainJobConfig().budget_name == "accelerator"
    assert MainJobConfig().budget == pipeline.ACCELERATOR_BUDGET
    assert MainJobConfig(quick=True).budget == pipeline.QUICK_BUDGET
    assert MainJobConfig(finetune_steps=1_000).budget.finetune_steps == 1_000
    cpu, accelerator = (dataclasses.asdict(b) for b in (pipeline.CPU_BUDGET, pipeline.ACCELERATOR_BUDGET))
    assert all(accelerator[name] >= cpu[name] for name in cpu) and accelerator != cpu


def test_a_changed_setting_redoes_only_the_stages_it_reaches():
    def dirs(**changes):
        config = MainJobConfig(quick=True, **changes)
        return {name: c.run_dir for name, c in stage_configs(config, ("d",), "pong-search").items()}

    base = dirs()
    assert set(base) == {"bc", "dagger", "finetune"}
    longer = dirs(finetune_steps=2048)
    assert longer["finetune"] != base["finetune"] and longer["bc"] == base["bc"]
    assert longer["dagger"] == base["dagger"]
    assert dirs(seed=1)["bc"] != base["bc"]  # every stage reads the seed
    assert "dagger" not in dirs(dagger_rounds=0)
    # Each stage starts from the one before, so a change upstream redoes everything after it.
    other_demos = {n: c.run_dir for n, c in stage_configs(MainJobConfig(quick=True), ("e",), "x").items()}
    assert all(other_demos[name] != base[name] for name in base)
    longer_bc = dirs(bc_updates=300)
    assert all(longer_bc[name] != base[name] for name in base)


def test_a_setting_added_later_names_a_stage_only_away_from_its_legacy_value(monkeypatch):
    def dirs():
        config = MainJobConfig(quick=True)
        return {name: c.run_dir for name, c in stage_configs(config, ("d",), "pong-search").items()}

    base = dirs()
    monkeypatch.setitem(rd.ADDED_SETTINGS, "margin", 0.5)  # as if margin came later, and runs used 0.8
    assert dirs() == base
    monkeypatch.setitem(rd.ADDED_SETTINGS, "margin", 0.8)  # ... and runs before it had 0.8: left out
    assert all(name != base[stage] for stage, name in dirs().items())


def test_each_stage_starts_from_the_one_before_with_the_data_before_it():
    stages = stage_configs(MainJobConfig(quick=True), ("demos",), "pong-search")
    bc, dagger, finetune = stages["bc"], stages["dagger"], stages["finetune"]
    assert bc.init_from is None and dagger.init_from == bc.run_dir and finetune.init_from == dagger.run_dir
    assert dagger.demos == ("demos",) and dagger.save_aggregate.startswith(dagger.run_dir)
    assert finetune.demos == ("demos", dagger.save_aggregate)
    assert bc.offline_eval_every < bc.pretrain_updates and finetune.eval_every < finetune.total_steps
    assert finetune.init_q_scale < 1 == bc.init_q_scale == dagger.init_q_scale  # only TD rescales logits
    without_dagger = stage_configs(MainJobConfig(quick=True, dagger_rounds=0), ("demos",), "pong-search")
    assert without_dagger["finetune"].init_from == without_dagger["bc"].run_dir
    assert without_dagger["finetune"].demos == ("demos",)


def test_the_returns_table_fits_80_columns_without_cutting_a_figure():
    from rich.console import Console

    from imitax.job_report import print_table

    row = dict(mean=-20.3, std=8.32, games=10, normalized=0.25, held_out_accuracy=0.907, agreement=0.998)
    rows = [
        dict(row, name="random play"),
        dict(row, name="finetune", games=30, updates_per_s=1234.5, steps_per_s=33.4),
    ]
    console = Console(width=80, record=True, file=io.StringIO())
    print_table(rows, console)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for figure in ("-20.3 ± 8.3", "0.25", "0.91", "1.00", "1,234.5", "33.4", "30", "random play"):
        assert figure in text
