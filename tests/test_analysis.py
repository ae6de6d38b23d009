"""Human-normalised scores, aggregates with bootstrap intervals, and the report over run directories: values
computed by hand, and the bad inputs that must stop the report before it writes anything."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from imitax.agents.algorithms import DQN_CARTPOLE, DQN_NATURE
from imitax.analysis import aggregate, human_normalized, plot_aggregates, reference_scores
from imitax.analysis.aggregate import METRICS, stratified_bootstrap
from imitax.analysis.report import ReportArgs, collect_runs, report, report_command, score_matrices
from imitax.analysis.scores import REFERENCE_SCORES, NoReferenceScoresError
from imitax.envs import all_games, atari_spec, make_vec_env
from imitax.flags import parse
from imitax.train.run_dir import EVAL_FILE, CsvLog, RunDirError, read_rows, run_record, write_record
from imitax.train.run_log import EVAL_COLUMNS
from imitax.train.runner import train

# -- reference scores ---------------------------------------------------------------------------------------


def test_the_table_holds_the_57_games_by_their_imitax_names():
    assert len(REFERENCE_SCORES) == 57
    assert set(REFERENCE_SCORES) <= set(all_games())
    assert all(ref.human > ref.random for ref in REFERENCE_SCORES.values())
    assert reference_scores("Pong") == (-20.7, 14.6)
    assert reference_scores("Breakout") == (1.7, 30.5)


def test_human_normalized_by_hand():
    assert human_normalized("Pong", -20.7) == 0.0
    assert human_normalized("Pong", 14.6) == pytest.approx(1.0)
    np.testing.assert_allclose(human_normalized("Breakout", [1.7, 16.1, 30.5, 59.3]), [0.0, 0.5, 1.0, 2.0])
    assert human_normalized("DoubleDunk", -17.5) == pytest.approx(0.5)  # both references negative
    np.testing.assert_allclose(human_normalized("Pong", np.zeros((2, 3))), np.full((2, 3), 20.7 / 35.3))


def test_other_spellings_of_a_game_find_its_scores():
    for name in ("space_invaders", "ALE/SpaceInvaders-v5", "spaceinvaders", "SpaceInvadersNoFrameskip-v4"):
        assert reference_scores(name) == REFERENCE_SCORES["SpaceInvaders"]


@pytest.mark.parametrize("game", ["CartPole-v1", "Adventure", "Pacman"])
def test_a_game_without_reference_scores_is_named_with_what_to_do(game):
    with pytest.raises(NoReferenceScoresError, match=rf"no human reference scores for '{game}'.*raw returns"):
        human_normalized(game, 1.0)
    assert issubclass(NoReferenceScoresError, ValueError)


# -- aggregates ----------------------------------------------------------------------------------------------


SCORES = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 100.0]])  # (runs, games)


def test_point_estimates_by_hand():
    agg = aggregate({"a": SCORES}, reps=10)["a"]
    assert agg.iqm.value == pytest.approx(3.5)  # sorted 0 1 | 2 3 4 5 | 6 100
    assert agg.mean.value == pytest.approx((2 + 3 + 4 + 51.5) / 4)  # mean of the games' means
    assert agg.median.value == pytest.approx(3.5)  # median of 2, 3, 4, 51.5
    assert agg.optimality_gap.value == pytest.approx(1 / 8)  # 1 - mean(0, 1, 1, 1, 1, 1, 1, 1)
    assert (agg.runs, agg.games, agg.reps) == (2, 4, 10)
    # 10 scores: 25% trimming cuts int(2.5) = 2 from each end, as scipy.stats.trim_mean does.
    assert aggregate({"a": np.arange(1.0, 11.0)[None]}, reps=1)["a"].iqm.value == pytest.approx(5.5)


def test_optimality_gap_counts_only_the_shortfall_below_human():
    agg = aggregate({"a": [[0.25, 3.0], [1.0, 0.75]]}, reps=5)["a"]
    assert agg.optimality_gap.value == pytest.approx(1 - (0.25 + 1 + 1 + 0.75) / 4)


def test_intervals_hold_the_estimates_and_a_seed_fixes_them():
    scores = np.random.default_rng(0).normal(1.0, 0.5, (5, 10))
    first = aggregate({"a": scores}, reps=200, seed=3)["a"]
    for est in first.estimates().values():
        assert est.low <= est.value <= est.high
        assert est.low < est.high
    assert aggregate({"a": scores}, reps=200, seed=3)["a"] == first
    assert aggregate({"a": scores}, reps=200, seed=4)["a"] != first
    # An algorithm's intervals do not depend on what else is reported with it.
    assert aggregate({"b": scores * 2, "a": scores}, reps=200, seed=3)["a"] == first


def test_the_bootstrap_leaves_numpys_global_random_state_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    aggregate({"a": SCORES}, reps=20)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_runs_that_agree_on_every_game_give_an_interval_of_one_point():
    for scores in ([[0.2, 0.9, 1.5]], [[0.2, 0.9], [0.2, 0.9], [0.2, 0.9]]):
        for est in aggregate({"a": scores}, reps=50)["a"].estimates().values():
            assert est.low == pytest.approx(est.value) and est.high == pytest.approx(est.value)


def test_stratified_resamples_draw_each_games_runs_from_that_game_only():
    scores = np.array([[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]])
    replicates = stratified_bootstrap(scores, lambda x: x, reps=50, seed=0)  # (reps, runs, games)
    for game in range(3):
        assert set(np.unique(replicates[:, :, game])) <= set(scores[:, game])
    assert len(np.unique(replicates.reshape(50, -1), axis=0)) > 1


def test_the_intervals_are_rliables_own_after_seeding_numpy():
    try:
        from rliable import library
    except Exception as err:  # arch 7 fails on import under pandas 3 (a TypeError)
        pytest.skip(f"rliable.library does not import here: {err!r}")
    scores = np.random.default_rng(1).normal(1.0, 0.5, (4, 6))
    ours = aggregate({"a": scores}, reps=100, seed=7)["a"]
    np.random.seed(7)
    func = lambda x: np.array([metric(x) for metric in METRICS.values()])
    points, intervals = library.get_interval_estimates({"a": scores}, func, reps=100)
    np.testing.assert_allclose([e.value for e in ours.estimates().values()], points["a"])
    np.testing.assert_allclose([e.low for e in ours.estimates().values()], intervals["a"][0])
    np.testing.assert_allclose([e.high for e in ours.estimates().values()], intervals["a"][1])


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([1.0, 2.0], r"\(runs, games\) array"),
        (np.zeros((0, 3)), r"\(runs, games\) array"),
        ([[1.0, np.nan]], "NaN"),
    ],
)
def test_bad_score_arrays_are_refused(scores, message):
    with pytest.raises(ValueError, match=message):
        aggregate({"a": scores}, reps=5)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="reps"):
        aggregate({"a": SCORES}, reps=0)
    with pytest.raises(ValueError, match="confidence"):
        aggregate({"a": SCORES}, confidence=1.0)
    with pytest.raises(ValueError, match="No scores"):
        aggregate({})


def test_the_plot_is_a_png(tmp_path):
    results = aggregate({"dqn": SCORES / 10, "bc": SCORES / 20}, reps=20)
    path = plot_aggregates(results, tmp_path / "aggregates.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the report --------------------------------------------------------------------------------------------


def fake_run(
    root: Path, algo: str, game: str, seed: int, returns: list[float], preset: str = "nature"
) -> Path:
    """A run directory as `imitax train` writes it, with one evaluation row per entry of `returns`."""
    path = root / f"{algo}-{game.lower()}-seed{seed}"
    config = dataclasses.replace(DQN_NATURE, env=game, env_preset=preset, seed=seed, run_dir=str(path))
    if game in REFERENCE_SCORES:
        train_env, eval_env = atari_spec(game, preset, training=True), atari_spec(game, preset)
    else:
        train_env = eval_env = make_vec_env(game, 1).spec
    record = run_record(algo, config, train_env.settings(), eval_env.settings())
    write_record(path, record)
    log = CsvLog(path / EVAL_FILE, EVAL_COLUMNS)
    for i, value in enumerate(returns):
        step = 1000 * (i + 1)
        log.append(
            {
                "step": step,
                "phase": "online",
                "env_steps": step,
                "updates": step // 4,
                "return_mean": value,
                "return_std": 1.0,
                "return_min": value - 1,
                "return_max": value + 1,
                "length_mean": 100.0,
                "episodes": 2,
                "returns": f"{value - 1:g} {value + 1:g}",
            }
        )
    return path


def _table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=240)


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    """dqn and bc on Pong and Breakout, two seeds each; the last evaluation is each run's score."""
    root = tmp_path / "runs"
    return [
        fake_run(root, "dqn", "Pong", 0, [-21.0, -20.7]),  # normalised 0
        fake_run(root, "dqn", "Pong", 1, [0.0, 14.6]),  # 1
        fake_run(root, "dqn", "Breakout", 0, [9.0, 16.1]),  # 0.5
        fake_run(root, "dqn", "Breakout", 1, [2.0, 30.5]),  # 1
        fake_run(root, "bc", "Pong", 0, [-9.0, -3.05]),  # 0.5
        fake_run(root, "bc", "Pong", 1, [-3.0, -3.05]),  # 0.5
        fake_run(root, "bc", "Breakout", 0, [0.0, 1.7]),  # 0
        fake_run(root, "bc", "Breakout", 1, [4.0, 1.7]),  # 0
    ]


def test_collect_runs_reads_each_final_evaluation_and_its_protocol(runs):
    collected = collect_runs(runs)
    assert [(r.algo, r.game, r.seed) for r in collected][:2] == [("bc", "Breakout", 0), ("bc", "Breakout", 1)]
    pong = next(r for r in collected if (r.algo, r.game, r.seed) == ("dqn", "Pong", 0))
    assert (pong.return_mean, pong.step, pong.env_steps, pong.episodes) == (-20.7, 2000, 2000, 2)
    assert pong.human_normalized == pytest.approx(0.0)
    assert (pong.preset, pong.eval_epsilon, pong.max_episode_frames) == ("nature", 0.05, 108_000)
    assert pong.protocol == "nature, ε=0.05, ≤108,000 frames"


def test_the_report_by_hand(runs, tmp_path):
    out = tmp_path / "report"
    console = _quiet()
    result = report(runs, out, reps=50, console=console)
    assert sorted(p.name for p in out.iterdir()) == ["aggregates.csv", "aggregates.png", "runs.csv"]
    assert result.games == {"bc": ["Breakout", "Pong"], "dqn": ["Breakout", "Pong"]}
    matrices, _ = score_matrices(result.runs)
    np.testing.assert_allclose(matrices["dqn"], [[0.5, 0.0], [1.0, 1.0]])  # (seeds, [Breakout, Pong])

    rows = {(r["algo"], r["metric"]): r for r in _table(out / "aggregates.csv")}
    # dqn: Breakout 0.5, 1; Pong 0, 1.
    expected = {"mean": 0.625, "median": 0.625, "iqm": 0.75, "optimality_gap": 0.375}
    for metric, value in expected.items():
        row = rows[("dqn", metric)]
        assert float(row["value"]) == pytest.approx(value)
        assert float(row["ci_low"]) <= float(row["value"]) <= float(row["ci_high"])
        assert (row["runs"], row["games"], row["reps"], row["seed"], row["confidence"]) == (
            "2",
            "2",
            "50",
            "0",
            "0.95",
        )
    # bc: every run of a game agrees, so the intervals are points.
    for metric, value in {"mean": 0.25, "median": 0.25, "iqm": 0.25, "optimality_gap": 0.75}.items():
        row = rows[("bc", metric)]
        assert float(row["value"]) == float(row["ci_low"]) == float(row["ci_high"]) == pytest.approx(value)

    table = _table(out / "runs.csv")
    assert len(table) == 8
    assert {r["preset"] for r in table} == {"nature"}
    assert (
        float(next(r for r in table if r["algo"] == "dqn" and r["game"] == "Breakout")["human_normalized"])
        == 0.5
    )
    text = console.file.getvalue()
    assert "Final evaluations" in text and "evaluated with nature, ε=0.05, ≤108,000 frames" in text
    assert "IQM" in text and "0.750" in text
    assert "Note" not in text


def test_the_report_is_the_same_for_the_same_seed(runs, tmp_path):
    first = report(runs, tmp_path / "a", reps=40, seed=5, console=_quiet())
    again = report(runs, tmp_path / "b", reps=40, seed=5, console=_quiet())
    assert first.aggregates == again.aggregates
    assert (tmp_path / "a" / "aggregates.csv").read_text() == (tmp_path / "b" / "aggregates.csv").read_text()


def test_games_without_reference_scores_keep_their_raw_returns(runs, tmp_path):
    cartpole = fake_run(tmp_path / "runs", "dqn", "CartPole-v1", 0, [180.0])
    console = _quiet()
    result = report([*runs, cartpole], tmp_path / "report", reps=20, console=console)
    assert result.games["dqn"] == ["Breakout", "Pong"]  # CartPole is not aggregated
    row = next(r for r in _table(tmp_path / "report" / "runs.csv") if r["game"] == "CartPole-v1")
    assert (row["return_mean"], row["human_normalized"], row["preset"]) == ("180", "", "")
    text = console.file.getvalue()
    assert "No human reference scores for CartPole-v1" in text
    assert "different protocols" in text


def test_notes_say_when_aggregates_are_not_comparable(tmp_path):
    root = tmp_path / "runs"
    runs = [
        fake_run(root, "dqn", "Pong", 0, [0.0]),
        fake_run(root, "bc", "Breakout", 0, [3.0], preset="machado"),
        fake_run(root, "bc", "Pong", 0, [0.0, 1.0]),
    ]
    console = _quiet()
    report(runs, tmp_path / "report", reps=10, console=console)
    text = console.file.getvalue()
    assert "aggregated over different games (bc: Breakout, Pong; dqn: Pong)" in text
    assert "different protocols" in text and "machado" in text
    assert "bc's final evaluations come at different environment steps (1,000, 2,000)" in text


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory) -> Path:
    """A real tiny run, as `imitax train dqn --preset cartpole` writes it."""
    path = tmp_path_factory.mktemp("real") / "dqn-cartpole-seed0"
    tiny = dataclasses.replace(
        DQN_CARTPOLE,
        total_steps=1_000,
        log_every=500,
        eval_every=500,
        checkpoint_every=1_000,
        eval_episodes=2,
        learning_starts=200,
        replay_capacity=1_000,
        run_dir=str(path),
    )
    train(tiny, quiet=True)
    return path


@pytest.mark.timeout(300)
def test_a_real_run_is_reported_with_its_last_evaluation(cartpole_run, tmp_path):
    out = tmp_path / "report"
    assert report_command(ReportArgs(run_dirs=(str(cartpole_run),), out=str(out), reps=10)) == 0
    last = read_rows(cartpole_run / EVAL_FILE)[-1]
    (row,) = _table(out / "runs.csv")
    assert (row["algo"], row["game"], row["seed"], row["step"]) == ("dqn", "CartPole-v1", "0", last["step"])
    assert float(row["return_mean"]) == pytest.approx(float(last["return_mean"]))
    assert row["human_normalized"] == "" and float(row["eval_epsilon"]) == DQN_CARTPOLE.eval_epsilon
    assert _table(out / "aggregates.csv") == []
    assert not (out / "aggregates.png").exists()


# -- bad input: one clear message, nothing written -------------------------------------------------------


def _refused(run_dirs, tmp_path, message: str) -> None:
    out = tmp_path / "report"
    with pytest.raises(ValueError, match=message):
        report(run_dirs, out, reps=5, console=_quiet())
    assert not out.exists()


def test_no_run_directories(tmp_path):
    _refused([], tmp_path, r"No run directories given: pass one or more")


def test_a_directory_that_does_not_exist(tmp_path):
    _refused([tmp_path / "nope"], tmp_path, r"nope does not exist")


def test_a_directory_that_holds_no_run_names_the_runs_inside_it(runs, tmp_path):
    _refused(
        [tmp_path / "runs"],
        tmp_path,
        r"runs is not a run directory \(config.json is missing\)\. It holds 8 runs",
    )
    (tmp_path / "empty").mkdir()
    _refused([tmp_path / "empty"], tmp_path, r"empty is not a run directory .*each holds config.json")


def test_a_run_without_an_evaluation(runs, tmp_path):
    fresh = fake_run(tmp_path / "runs", "dqn", "Seaquest", 0, [])
    _refused([*runs, fresh], tmp_path, r"dqn-seaquest-seed0 has no evaluation yet .*--resume")


def test_a_damaged_record(runs, tmp_path):
    (runs[0] / "config.json").write_text("{ not json")
    _refused(runs, tmp_path, r"config.json is not valid JSON")


def test_the_same_run_twice(runs, tmp_path):
    _refused([*runs, runs[0]], tmp_path, r"dqn-pong-seed0 was given twice")
    copy = fake_run(tmp_path / "other", "dqn", "Pong", 0, [3.0])
    _refused([*runs, copy], tmp_path, r"both dqn on Pong with seed 0.*pass one of them")


def test_different_numbers_of_seeds_per_game(runs, tmp_path):
    extra = fake_run(tmp_path / "runs", "dqn", "Pong", 2, [3.0])
    _refused([*runs, extra], tmp_path, r"dqn has different numbers of runs per game \(Breakout 2, Pong 3\)")


def test_an_out_directory_that_is_a_run(runs, tmp_path):
    with pytest.raises(ValueError, match="holds a run"):
        report(runs, runs[0], reps=5, console=_quiet())
    assert not (runs[0] / "runs.csv").exists()


def test_the_command_line_arguments():
    args = parse(ReportArgs, ["runs/a", "runs/b", "--reps", "10", "--out", "r"], "imitax report")
    assert args == ReportArgs(run_dirs=("runs/a", "runs/b"), out="r", reps=10, seed=0)
    with pytest.raises(ValueError, match="--reps must be >= 1"):
        ReportArgs(run_dirs=("a",), reps=0)
    with pytest.raises(RunDirError):
        report_command(ReportArgs(run_dirs=()))
