"""The main job, `imitax run`: every stage runs and reports; a rerun reuses finished stages and a
changed setting redoes only the stages it reaches; bad input is refused before anything is written."""

from __future__ import annotations

import json

import pytest

from imitax import cli
from imitax.pipeline import MainJobConfig, stage_configs

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
    assert rows["expert (recorded games)"]["mean"] == 21.0  # Pong's expert wins 21-0
    assert rows["random play"]["normalized"] == 0.0 and rows["expert (recorded games)"]["normalized"] == 1.0
    assert {"bc", "dagger", "finetune"} <= set(rows)
    assert rows["bc"]["updates_per_s"] > 0 and rows["bc"]["steps_per_s"] is None  # each stage's speed
    assert rows["finetune"]["steps_per_s"] > 0
    page = (report / "index.html").read_text()
    assert "imitax run --quick --bc-updates 20" in page and "play.gif" in page and "updates/s" in page
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
    other_demos = stage_configs(MainJobConfig(quick=True), ("e",), "pong-search")
    assert other_demos["bc"].run_dir != base["bc"] and other_demos["dagger"].run_dir == base["dagger"]
