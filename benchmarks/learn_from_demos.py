"""Does imitax learn from demonstrations? BC, BC on DART-noisy data, DAgger (Pong and Breakout), and DQfD
against DQN, on a 2-core CPU. Not part of the tests (it runs for hours at its full budget).

Each training runs as an `imitax train ...` child process, stopped with Ctrl-C (it saves a checkpoint)
when its time is up, and its final checkpoint then plays `--eval-games` whole games. Figures:
  bc_vs_expert, bc_dart_vs_expert  BC on 50,000 clean expert steps / steps with DART noise (DART_NOISE:
                                   the random actions the Nature protocol's evaluation makes)
  dagger_vs_expert                 DAgger on Pong, acting + labelling + training within the budget
  dagger_breakout_vs_expert        the same on Breakout
  dqfd_return, dqn_return          after --dqfd-steps environment steps, DQfD with the clean
                                   demonstrations and DQN without them, same seed and settings otherwise
                                   (--dqfd-flags goes to both); dqfd_minus_dqn, their difference
  dqfd_dagger_return               DQfD again, its demonstrations the clean games and the Pong DAgger
                                   part's aggregate (the expert's labels on the states DAgger's learners
                                   visited); dqfd_dagger_minus_dqn against the same DQN
  dqfd_dart_return                 DQfD on the DART games instead (the expert's labels after its slips);
                                   dqfd_dart_minus_dqn
  dagger_eps_return                DAgger on Pong whose rounds slip as the evaluation does (--round-epsilon
                                   DART_NOISE, taught by DART_EXPERT, SLIP_ROUND_STEPS a round),
                                   evaluated at that epsilon
  dqfd_dagger_eps_return           DQfD on the DART games and dagger_eps's aggregate (the expert's labels
                                   after the learner's own slips); dqfd_dagger_eps_minus_dqn
  <dqfd part>_return_greedy, ..._minus_dqn_greedy   the same final policies played greedily (epsilon
                                   0, as the BC and DAgger parts are): at the Nature protocol's 0.05 a
                                   greedy +21 Pong clone falls to DQN's -18 (a random press throws the
                                   paddle ~22 units), so both protocols are reported
  update_ms_dqn, update_ms_dqfd    one jitted update of each objective on the same batch (Nature CNN)
  per_sample_ms                    a prioritized batch of 32 from 1,000,000 entries
  dagger_agent_teacher_vs_teacher  DAgger on Pong taught by a trained imitax agent (--agent-teacher, a
                                   run directory: one that wins greedily, such as this script's
                                   dqfd_dagger_eps part; learn_pong.py's CPU DQN scores about random
                                   greedily, which leaves the ratio no scale), against its own score;
                                   ..._eps: both at epsilon 0.05, the protocol a DQN teacher learnt under
  <part>_return_sticky             the same final policy under Machado et al. 2018's stochasticity (sticky
                                   actions 0.25, one no-op), --sticky-games games
  imitability_<expert>, agent_oracle_labels_per_s   read from imitability.json and oracles.json
`_vs_expert` is on the random-to-expert scale, (x - random) / (expert - random), random play and the
expert measured in this run (the expert: the games recorded as demonstrations). Final evaluations use
evaluation seeds the demonstrations did not (no-op starts of their own). Parts already done
are read back from --work (delete a part's directory to redo it); `--only` picks parts. Prints a table
and, as its last line, one JSON object, also written to benchmarks/results/learn_from_demos.json, with
learning curves as PNGs beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
PARTS = (
    "demos",
    "bc",
    "bc_dart",
    "dagger",
    "dagger_breakout",
    "dagger_agent_teacher",
    "dqfd",
    "dqfd_dagger",
    "dqfd_dart",
    "dagger_eps",
    "dqfd_dagger_eps",
    "dqn",
    "speed",
)


def run_child(args: list[str], minutes: float, log: Path) -> float:
    """Runs `imitax <args>` until it ends or `minutes` pass (then Ctrl-C); returns minutes taken."""
    command = [sys.executable, "-m", "imitax.cli", *args]
    print(" ".join(command), flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            child.wait(timeout=minutes * 60)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)
            child.wait(timeout=900)
    return (time.perf_counter() - start) / 60


NATURE_EPSILON = 0.05
"""The Nature protocol's evaluation epsilon (Mnih et al. 2015): one action in 20 is uniformly random."""
# DART's slips at the evaluation's rate show a clone the states after the random actions it meets when
# evaluated, labelled with how the expert recovers from them (pong-sight-recover takes a random press
# back; pong-sight loses most games at this epsilon). Clean games are the same with either expert.
DART_NOISE = NATURE_EPSILON
DART_EXPERT = "pong-sight-recover"
SLIP_ROUND_STEPS = 8000
"""Labelled steps per round of the dagger_eps part, twice DAgger's default: one step in 20 slips, and
DQfD reads its aggregate for the labels after those slips (12 rounds of 4,000 held ~2,400)."""
EVAL_SEED = 777  # every final figure's games (no-op starts the demonstrations did not use)


def evaluate(run_dir: Path, games: int, epsilon: float, sticky_actions: bool = False) -> dict:
    from imitax.train.evaluation import evaluate_run

    result, step = evaluate_run(
        str(run_dir), episodes=games, epsilon=epsilon, seed=EVAL_SEED, sticky_actions=sticky_actions
    )
    return {"mean": result.mean, "std": result.std, "returns": result.returns.tolist(), "checkpoint": step}


def final_evaluations(part: dict, games: int, sticky_games: int, epsilon: float) -> dict:
    """`part` with its final policy evaluated over `games` games and `sticky_games` sticky-action games
    (a part evaluated earlier over other numbers of games is evaluated again; its training is kept)."""
    run = Path(part["run_dir"])
    if len(part["eval"]["returns"]) != games:
        part["eval"] = evaluate(run, games, epsilon)
    if len(part.get("eval_sticky", {}).get("returns", [])) != sticky_games:
        part["eval_sticky"] = evaluate(run, sticky_games, epsilon, sticky_actions=True)
    return part


DQFD_PARTS = ("dqfd", "dqfd_dagger", "dqfd_dart", "dqfd_dagger_eps")
"""DQfD's parts, each against the `dqn` part: the same settings but the demonstrations."""
GREEDY_TOO = (*DQFD_PARTS, "dqn", "dagger_eps")
"""Parts evaluated at the Nature protocol's epsilon 0.05 that also play greedily, as the cloning parts do.
(Breakout's clones do not: greedy, one that never serves stalls its game to the step limit.)"""


def greedy_evaluation(part: dict, games: int) -> dict:
    """`part` with its final policy also evaluated greedily over `games` games (kept once done)."""
    if len(part.get("eval_greedy", {}).get("returns", [])) != games:
        part["eval_greedy"] = evaluate(Path(part["run_dir"]), games, 0.0)
    return part


def agent_return(run_dir: str, games: int, epsilon: float, results: dict) -> float:
    """A trained agent's own score, the teacher's level in dagger_agent_teacher_vs_teacher. A teacher
    trained by one of this script's Nature-protocol parts keeps that part's evaluation of the same games
    (its `eval` at epsilon 0.05, its `eval_greedy`) instead of playing them again."""
    key = {NATURE_EPSILON: "eval", 0.0: "eval_greedy"}.get(epsilon)
    for name in GREEDY_TOO:
        part = results.get(name, {})
        evaluation = part.get(key, {})
        if Path(part.get("run_dir", "")) == Path(run_dir) and len(evaluation.get("returns", [])) == games:
            return evaluation["mean"]
    return evaluate(Path(run_dir), games, epsilon)["mean"]


def teacher_evaluations(part: dict, teacher: str | None, games: int, results: dict) -> dict:
    """The agent teacher and its DAgger student, greedily and at the Nature protocol's epsilon 0.05, the
    protocol the teacher was trained and evaluated with: a DQN agent played greedily can repeat one
    losing rally (learn_pong.py's fast agent, -10.4 at 0.05 in its last evaluation, scores -19.1 greedily),
    so its skill shows at 0.05, and both protocols are reported (each evaluation kept once done)."""
    from imitax.train.loading import load_run_config

    if "teacher_return" not in part:
        part["teacher"] = teacher  # --agent-teacher, the run that trained this part
        part["teacher_algo"] = load_run_config(teacher)[0]
        part["teacher_return"] = agent_return(teacher, games, 0.0, results)
    if "teacher_return_eps" not in part:
        part["teacher_return_eps"] = agent_return(part["teacher"], games, NATURE_EPSILON, results)
    if len(part.get("eval_eps", {}).get("returns", [])) != games:
        part["eval_eps"] = evaluate(Path(part["run_dir"]), games, NATURE_EPSILON)
    return part


def same_steps(results: dict, name: str, baseline: str) -> bool:
    """Whether parts `name` and `baseline` both ran and trained for the same environment steps; says why
    not when a time limit (--dqfd-minutes on a slower machine) stopped one early, as then their returns
    are not comparable."""
    if name not in results or baseline not in results:
        return False
    steps, base_steps = results[name]["env_steps"], results[baseline]["env_steps"]
    if steps != base_steps:
        print(
            f"{name} ({steps:,} env steps) is not compared with {baseline} ({base_steps:,}): a time limit "
            "stopped one of them early; run it again with a larger --dqfd-minutes"
        )
    return steps == base_steps


def random_return(game: str, games: int) -> float:
    """Mean score of uniformly random play over `games` whole games."""
    import jax

    from imitax.envs import make_vec_env
    from imitax.train.evaluation import Evaluator

    env = make_vec_env(game, games, training=False, seed=99)

    def act(state, obs, key, epsilon):
        return jax.random.randint(key, (obs.shape[0],), 0, env.spec.num_actions)

    evaluator = Evaluator(env, act, 1.0, env.spec.preset.max_episode_steps + 2)
    return float(evaluator(None, jax.random.key(0)).mean)


def breakout_expert_return() -> float:
    """DAgger's Breakout teacher's score (the default expert, 30 Nature games) from benchmarks/experts.py."""
    from imitax.experts import default_expert

    name = default_expert("Breakout")
    measured = RESULTS / "experts.json"
    key = f"{name}_nature_mean"
    figures = json.loads(measured.read_text()) if measured.exists() else {}
    if key not in figures:
        raise SystemExit(f"No score of {name} yet: first run python benchmarks/experts.py --experts {name}")
    return figures[key]


def measured_elsewhere() -> dict:
    """Each expert's imitability (imitability.py) and the oracles' labelling rates (demos.py)."""
    figures = {}
    imitability = RESULTS / "imitability.json"
    if imitability.exists():
        for expert in json.loads(imitability.read_text())["experts"]:
            for key in ("accuracy", "decisive_accuracy", "clone_return"):
                figures[f"imitability_{expert['expert']}_{key}"] = round(expert[key], 3)
    oracles = RESULTS / "oracles.json"
    if oracles.exists():
        rates = json.loads(oracles.read_text())
        figures.update(
            {k: rates[k] for k in ("oracle_labels_per_s", "agent_oracle_labels_per_s") if k in rates}
        )
    return figures


def demos_dir(work: Path, name: str) -> Path:
    """Where the `clean` or `dart` demonstrations live; the DART noise is in the name, so a run of this
    script with another DART_NOISE records its own instead of reusing those of another noise."""
    return work / ("demos_clean" if name == "clean" else f"demos_dart{DART_NOISE}")


def record_demos(work: Path, steps: int) -> dict:
    from imitax.data.dataset import load_dataset
    from imitax.data.record import ExpertRecordConfig, record_expert

    out = {}
    for name, noise, seed in (("clean", 0.0, 0), ("dart", DART_NOISE, 1000)):
        path = demos_dir(work, name)
        if not path.exists():
            expert = DART_EXPERT if noise else None  # None: the game's default expert
            config = ExpertRecordConfig(
                env="Pong",
                out=str(path),
                episodes=1,
                min_steps=steps,
                noise=noise,
                seed=seed,
                quiet=True,
                expert=expert,
            )
            record_expert(config)
        scores = load_dataset(path).summary_arrays()["scores"]
        out[name] = {
            "path": str(path),
            "games": len(scores),
            "score_mean": float(np.mean(scores)),
            "noise": noise,
        }
    return out


def train_part(work: Path, name: str, args: list[str], minutes: float, games: int, epsilon: float) -> dict:
    run = work / name
    done = work / f"{name}.json"
    if done.exists():
        return json.loads(done.read_text())
    from throughput import matmul_gflops  # benchmarks/ is on sys.path when a script runs

    rate = round(matmul_gflops(20, 1024), 1)  # the machine's speed, beside the part's time-budgeted figures
    command = shlex.join(["imitax", *args, "--run-dir", str(run)])  # the part's own, resumed or not
    if run.exists():
        args = [args[0], args[1], "--resume", str(run)]  # an interrupted benchmark continues the run
        minutes_taken = run_child(args, minutes, work / f"{name}.log")
    else:
        minutes_taken = run_child([*args, "--run-dir", str(run)], minutes, work / f"{name}.log")
    result = {"minutes": minutes_taken, "eval": evaluate(run, games, epsilon), "run_dir": str(run)}
    result["command"] = command
    result["matmul_gflops"] = rate
    from imitax.train.loading import load_run_config
    from imitax.train.run_dir import EVAL_FILE, METRICS_FILE, is_finished, read_rows
    from imitax.train.schedule import final_step

    result["finished"] = is_finished(run, final_step(load_run_config(run)[1]))  # or stopped by `minutes`
    rows = read_rows(run / METRICS_FILE)
    result["metrics_rows"] = len(rows)
    result["env_steps"] = int(rows[-1]["env_steps"]) if rows else 0
    result["updates"] = int(rows[-1]["updates"]) if rows else 0
    result["evals"] = [
        {k: r[k] for k in ("step", "env_steps", "updates", "return_mean")} for r in read_rows(run / EVAL_FILE)
    ]
    done.write_text(json.dumps(result, indent=2))
    return result


def speed() -> dict:
    """update_ms of DQN and DQfD objectives on the same batch, and PER sampling at 1M entries."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from imitax.agents.agent import make_agent
    from imitax.agents.algorithms import DQFD_FAST
    from imitax.envs import atari_spec
    from imitax.replay import make_replay

    spec = atari_spec("Pong", "nature", training=True)
    dqfd = dataclasses.replace(DQFD_FAST, augment_shift=0)
    dqn = dataclasses.replace(dqfd, loss="td=1")  # the same network, batch and optimizer
    replay = make_replay(dataclasses.replace(dqfd.replay_config(1000), capacity=8000), spec, 8)
    rng = np.random.default_rng(0)
    shapes = jax.eval_shape(replay.sample, replay.init(), jax.random.key(0))
    batch = jax.tree.map(lambda s: jnp.asarray(rng.integers(0, 2, s.shape).astype(s.dtype)), shapes)
    out = {}
    for name, config in (("dqn", dqn), ("dqfd", dqfd)):
        agent = make_agent(config)
        update = jax.jit(agent.update, donate_argnums=0)
        state, _ = update(agent.init(jax.random.key(0), spec), batch)
        times = []
        for _ in range(30):
            start = time.perf_counter()
            state, metrics = update(state, batch)
            jax.block_until_ready(metrics)
            times.append(time.perf_counter() - start)
        out[f"update_ms_{name}"] = round(float(np.median(times)) * 1e3, 2)
    out["dqfd_vs_dqn_update"] = round(out["update_ms_dqfd"] / out["update_ms_dqn"], 3)
    return out


def plot(results: dict, path: Path) -> None:
    """Evaluations during training (lines) and each run's final evaluation over --eval-games (stars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    cloning, with_rewards = ("bc", "bc_dart", "dagger", "dagger_eps"), (*DQFD_PARTS, "dqn")
    panels = (
        (axes[0], cloning, "updates", "gradient updates", "Imitation on Pong"),
        (axes[1], with_rewards, "env_steps", "environment steps", "DQfD and DQN on Pong"),
    )
    for ax, names, x, label, title in panels:
        for color, name in enumerate(names):
            if name not in results:
                continue
            part = results[name]
            evals = part["evals"]
            style = {"color": f"C{color}"}
            ax.plot([int(e[x]) for e in evals], [float(e["return_mean"]) for e in evals], "o-", **style)
            ax.plot(part[x], part["eval"]["mean"], "*", markersize=14, label=f"{name} (final)", **style)
        ax.axhline(results.get("random_pong", -20.7), color="0.6", ls=":", label="random play")
        ax.axhline(results["demos"]["clean"]["score_mean"], color="0.6", ls="--", label="expert")
        ax.set(xlabel=label, ylabel="evaluation return", title=title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--work", default="runs/learn_from_demos", help="where runs and demos go")
    parser.add_argument("--demo-steps", type=int, default=50_000)
    parser.add_argument("--bc-minutes", type=float, default=20)
    parser.add_argument(
        "--dagger-minutes",
        type=float,
        default=30,
        help="time limit of each DAgger part; one stopped before its last round is listed in "
        "parts_stopped_early (12 rounds take ~23 minutes at ~200 GFLOP/s, ~80 at ~60)",
    )
    parser.add_argument("--dagger-rounds", type=int, default=12)
    parser.add_argument(
        "--breakout-rounds",
        type=int,
        default=18,
        help="rounds of Breakout's DAgger: its rounds are shorter than Pong's (12 took 17.1 of its 30 "
        "minutes, its curve still rising), so more fit the same budget",
    )
    parser.add_argument("--dqfd-steps", type=int, default=100_000)
    parser.add_argument(
        "--dqfd-minutes",
        type=float,
        default=60,
        help="time limit of each of DQfD and DQN, a guard: their figures are set by --dqfd-steps, and a part "
        "stopped before them is not compared (raise it on a CPU slower than ~200 GFLOP/s)",
    )
    parser.add_argument("--eval-games", type=int, default=30, help="final games, Nature protocol's count")
    parser.add_argument("--sticky-games", type=int, default=10, help="final games with sticky actions")
    parser.add_argument(
        "--agent-teacher",
        help="a trained Pong agent's run directory, DAgger's teacher (e.g. WORK/dqfd_dagger_eps, once run)",
    )
    parser.add_argument(
        "--dagger-flags",
        default="",
        help="more flags for every DAgger part, e.g. '--learning-rate-end 1e-4 --sticky-rounds True'",
    )
    parser.add_argument(
        "--dqfd-flags",
        default="",
        help="more flags for both the dqfd and dqn parts (they differ only in the demonstrations), "
        "e.g. '--augment-shift 0'",
    )
    parser.add_argument(
        "--only", nargs="*", choices=PARTS, default=list(PARTS), help="parts to run (none: report only)"
    )
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    saved = RESULTS / "learn_from_demos.json"
    if saved.exists():  # parts run earlier keep their figures
        results = json.loads(saved.read_text()).get("parts", {})
    games = args.eval_games
    if "demos" in args.only or not all(demos_dir(work, name).exists() for name in ("clean", "dart")):
        results["demos"] = record_demos(work, args.demo_steps)
        results["random_pong"] = random_return("Pong", games)
        results["random_breakout"] = random_return("Breakout", games)
    clean, dart = str(demos_dir(work, "clean")), str(demos_dir(work, "dart"))
    bc = ["--offline-log-every", "1000", "--offline-eval-every", "0", "--pretrain-updates", "1000000"]
    breakout = ["--eval-episodes", "4", "--eval-epsilon", str(NATURE_EPSILON)]
    dqfd = ["train", "dqfd", "--preset", "fast", "--total-steps", str(args.dqfd_steps)]
    dqfd += shlex.split(args.dqfd_flags)
    dqn = ["--loss", "td=1,nstep=1", "--pretrain-updates", "0", "--learning-starts", "5000"]
    dqn += ["--epsilon-start", "1.0", "--epsilon-decay-steps", "50000"]

    def dagger_rounds(rounds: int) -> list[str]:
        return ["train", "dagger", "--rounds", str(rounds), *shlex.split(args.dagger_flags)]

    dagger = dagger_rounds(args.dagger_rounds)
    aggregate = str(work / "dagger" / "aggregate")  # deleted with the part that writes it
    aggregate_eps = str(work / "dagger_eps" / "aggregate")
    slips = [
        *("--expert", DART_EXPERT, "--round-epsilon", str(DART_NOISE), "--eval-epsilon", str(DART_NOISE)),
        *("--round-steps", str(SLIP_ROUND_STEPS)),
    ]
    parts = {
        "bc": (["train", "bc", "--demos", clean, *bc], args.bc_minutes, 0.0),
        "bc_dart": (["train", "bc", "--demos", dart, *bc], args.bc_minutes, 0.0),
        "dagger": ([*dagger, "--env", "Pong", "--save-aggregate", aggregate], args.dagger_minutes, 0.0),
        # Breakout: a greedy clone that never serves stalls its game until the 27,000-step cap, so its
        # evaluations play with the Nature protocol's epsilon 0.05 (FIRE comes up by chance).
        "dagger_breakout": (
            [*dagger_rounds(args.breakout_rounds), "--env", "Breakout", *breakout],
            args.dagger_minutes,
            NATURE_EPSILON,
        ),
        "dqfd": ([*dqfd, "--demos", clean], args.dqfd_minutes, NATURE_EPSILON),
        # The expert's clean games show only the expert's states; DAgger's aggregate adds the expert's
        # labels on the states of learners that play badly, the states a DQfD agent's own play reaches.
        "dqfd_dagger": ([*dqfd, "--demos", clean, aggregate], args.dqfd_minutes, NATURE_EPSILON),
        # DART's games: the expert's labels on the states after random actions, the ones epsilon 0.05 makes.
        "dqfd_dart": ([*dqfd, "--demos", dart], args.dqfd_minutes, NATURE_EPSILON),
        # DART shows the states after the expert's own slips; these rounds show those after the learner's.
        "dagger_eps": (
            [*dagger, "--env", "Pong", *slips, "--save-aggregate", aggregate_eps],
            args.dagger_minutes,
            DART_NOISE,
        ),
        "dqfd_dagger_eps": ([*dqfd, "--demos", dart, aggregate_eps], args.dqfd_minutes, NATURE_EPSILON),
        # DQN: DQfD's fast settings without demonstrations (nor the terms and pre-training they feed),
        # exploring from scratch as an agent without them must.
        "dqn": ([*dqfd, *dqn], args.dqfd_minutes, NATURE_EPSILON),
    }
    if args.agent_teacher:
        teacher = ["--env", "Pong", "--expert", args.agent_teacher]
        parts["dagger_agent_teacher"] = ([*dagger, *teacher], args.dagger_minutes, 0.0)
    elif "dagger_agent_teacher" in args.only:
        print("dagger_agent_teacher: skipped, it needs --agent-teacher RUN_DIR (a trained Pong agent)")
    for name, (train_args, minutes, epsilon) in parts.items():
        # Checked here, not before the loop: `--only dagger dqfd_dagger` writes the aggregate first.
        for reader, writer, path in (
            ("dqfd_dagger", "dagger", aggregate),
            ("dqfd_dagger_eps", "dagger_eps", aggregate_eps),
        ):
            if name == reader and name in args.only and not Path(path).exists():
                raise SystemExit(f"{reader} reads {path}: run the {writer} part first (--only {writer})")
        if name in args.only:
            results[name] = train_part(work, name, train_args, minutes, games, epsilon)
        if name in results:  # earlier parts too: every final figure over the same games
            results[name] = final_evaluations(results[name], games, args.sticky_games, epsilon)
        if name in results and name in GREEDY_TOO:
            results[name] = greedy_evaluation(results[name], games)
    if "dagger_agent_teacher" in results:
        results["dagger_agent_teacher"] = teacher_evaluations(
            results["dagger_agent_teacher"], args.agent_teacher, games, results
        )
    if "speed" in args.only:
        results["speed"] = speed()
    per = RESULTS / "replay.json"
    if per.exists():
        results["per_sample_ms"] = json.loads(per.read_text()).get("per_sample_ms")

    def vs_expert(value: float, random: float, expert: float) -> float:
        return round((value - random) / (expert - random), 3)

    expert_pong = results["demos"]["clean"]["score_mean"]
    figures: dict = {"machine": "2-core CPU", "eval_games": games, "expert_pong": expert_pong}
    figures["random_pong"] = results.get("random_pong")
    for name in ("bc", "bc_dart", "dagger"):
        if name in results:
            mean = results[name]["eval"]["mean"]
            figures[f"{name}_return"] = mean
            figures[f"{name}_vs_expert"] = vs_expert(mean, results["random_pong"], expert_pong)
            figures[f"{name}_minutes"] = round(results[name]["minutes"], 1)
    if "dagger_eps" in results:
        figures["dagger_eps_return"] = results["dagger_eps"]["eval"]["mean"]
        figures["dagger_eps_minutes"] = round(results["dagger_eps"]["minutes"], 1)
    if "dagger_breakout" in results:
        mean = results["dagger_breakout"]["eval"]["mean"]
        expert_breakout = breakout_expert_return()
        figures["dagger_breakout_return"] = mean
        figures["dagger_breakout_minutes"] = round(results["dagger_breakout"]["minutes"], 1)
        figures["dagger_breakout_vs_expert"] = vs_expert(mean, results["random_breakout"], expert_breakout)
    if "dagger_agent_teacher" in results:
        part = results["dagger_agent_teacher"]
        figures["dagger_agent_teacher_return"] = part["eval"]["mean"]
        figures["dagger_agent_teacher_minutes"] = round(part["minutes"], 1)
        figures["agent_teacher_algo"] = part.get("teacher_algo")
        figures["agent_teacher_return"] = part["teacher_return"]
        figures["dagger_agent_teacher_vs_teacher"] = vs_expert(
            part["eval"]["mean"], results["random_pong"], part["teacher_return"]
        )
        figures["dagger_agent_teacher_return_eps"] = part["eval_eps"]["mean"]
        figures["agent_teacher_return_eps"] = part["teacher_return_eps"]
        figures["dagger_agent_teacher_vs_teacher_eps"] = vs_expert(
            part["eval_eps"]["mean"], results["random_pong"], part["teacher_return_eps"]
        )
    for name in (*DQFD_PARTS, "dqn"):
        if name in results:
            figures[f"{name}_return"] = results[name]["eval"]["mean"]
            figures[f"{name}_env_steps"] = results[name]["env_steps"]
            figures[f"{name}_minutes"] = round(results[name]["minutes"], 1)
    comparable = [name for name in DQFD_PARTS if same_steps(results, name, "dqn")]
    for name in comparable:  # the goal: dqfd_minus_dqn >= 10 at 100k steps
        figures[f"{name}_minus_dqn"] = round(figures[f"{name}_return"] - figures["dqn_return"], 2)
    for name in GREEDY_TOO:
        if "eval_greedy" in results.get(name, {}):
            figures[f"{name}_return_greedy"] = results[name]["eval_greedy"]["mean"]
    for name in comparable:
        if f"{name}_return_greedy" in figures and "dqn_return_greedy" in figures:
            difference = figures[f"{name}_return_greedy"] - figures["dqn_return_greedy"]
            figures[f"{name}_minus_dqn_greedy"] = round(difference, 2)
    parts = {name: part for name, part in results.items() if isinstance(part, dict)}
    timed = ("bc", "bc_dart")  # they train until their minutes are up; the others' budgets are rounds, steps
    stopped = [name for name in parts if parts[name].get("finished") is False and name not in timed]
    for name in stopped:
        print(f"{name}: its time limit stopped it before its last round or step; raise its --*-minutes")
    figures["parts_stopped_early"] = stopped
    for name, part in parts.items():
        if "eval_sticky" in part:
            figures[f"{name}_return_sticky"] = part["eval_sticky"]["mean"]
        if "matmul_gflops" in part:
            figures[f"{name}_matmul_gflops"] = part["matmul_gflops"]
    figures.update(measured_elsewhere())
    figures.update(results.get("speed", {}))
    figures["per_sample_ms"] = results.get("per_sample_ms")
    RESULTS.mkdir(exist_ok=True)
    plot(results, RESULTS / "learn_from_demos.png")
    for name, value in figures.items():
        print(f"{name:>28}  {value}")
    saved.write_text(json.dumps({**figures, "parts": results}, indent=2))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
