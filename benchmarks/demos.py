"""Demonstrations as they are really made: the built-in experts record datasets on this machine.

Records with `imitax record expert` (nature preset, seeds 0-9, whole games, true scores):
  - 10 games of Pong and 10 of Breakout, clean;
  - 10 games of Pong with 25% of the executed actions uniformly random (labels keep the intended action);
  - 1 game of Pong keeping the emulator state of every step (what `imitax data relabel` needs);
then times the batched oracle (`expert.label`) on 8 Pong emulators driven by random actions, the states a
learner visits at the start of DAgger: the search expert's and a trained agent's (`--teacher RUN_DIR`, by
default a DQN trained here for 32 steps: the speed is its network's, whatever it learned).

Prints a table and, as its last line, one JSON object with `pong_expert_mean_return`,
`breakout_expert_mean_return`, `pong_expert_mean_return_noise_0.25`, `expert_steps_per_s`,
`disk_bytes_per_step`, `oracle_labels_per_s`, `agent_oracle_labels_per_s` and
`restorable_state_bytes_per_step`. `--only-oracles` times the two oracles alone and writes
benchmarks/results/oracles.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from imitax.data.dataset import DATA_DIR, HDF5_FILE, load_dataset
from imitax.data.inspect import dataset_info
from imitax.data.record import ExpertRecordConfig, RecordReport, record_expert
from imitax.envs import AtariEnv
from imitax.experts import Expert, make_expert, search_expert

RESULTS = Path(__file__).parent / "results"

ORACLE_ENVS, ORACLE_ROUNDS = 8, 250


def record(out: Path, game: str, episodes: int, **kw) -> tuple[RecordReport, dict]:
    report = record_expert(ExpertRecordConfig(env=game, out=str(out), episodes=episodes, quiet=True, **kw))
    return report, dataset_info(load_dataset(out))


def state_bytes_per_step(path: Path) -> float:
    """Bytes the stored emulator states take on disk, per step (compressed, as stored)."""
    with h5py.File(path / DATA_DIR / HDF5_FILE, "r") as file:
        stored = sum(file[e]["infos"]["state"].id.get_storage_size() for e in file)
        stored += sum(file[e]["infos"]["state_length"].id.get_storage_size() for e in file)
    return stored / load_dataset(path).total_steps


def oracle_labels_per_s(game: str = "Pong", expert: Expert | None = None) -> float:
    """Labels per second of the batched oracle over emulators acting at random from varied starts."""
    expert = expert or make_expert(search_expert(game), game)
    expert.label([AtariEnv(game, training=False)] * ORACLE_ENVS)  # compiles an agent's network
    envs = [AtariEnv(game, training=False, seed=100 + i) for i in range(ORACLE_ENVS)]
    rng = np.random.default_rng(0)
    for i, env in enumerate(envs):
        env.reset(seed=100 + i)
        for _ in range(int(rng.integers(100))):
            env.step(int(rng.integers(env.action_space.n)))
    labelling = 0.0
    for _ in range(ORACLE_ROUNDS):
        start = time.perf_counter()
        expert.label(envs)
        labelling += time.perf_counter() - start
        for env in envs:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            if terminated or truncated:
                env.reset()
    return ORACLE_ENVS * ORACLE_ROUNDS / labelling


def agent_teacher(run_dir: str | None, root: Path) -> Expert:
    """The agent of `run_dir` as an oracle; without one, a Nature-CNN DQN trained here for 32 steps."""
    import dataclasses

    from imitax.agents.algorithms import DQNConfig
    from imitax.train.runner import train
    from imitax.train.teacher import make_teacher

    if run_dir is None:
        run_dir = str(root / "agent")
        tiny = dict(total_steps=32, learning_starts=16, replay_capacity=200, batch_size=4, num_envs=2)
        tiny.update(eval_every=0, eval_episodes=1, checkpoint_every=32, log_every=32, run_dir=run_dir)
        train(dataclasses.replace(DQNConfig(), env="Pong", **tiny), quiet=True)
    return make_teacher(run_dir, "Pong")


def oracle_speeds(teacher: str | None, root: Path) -> dict[str, float]:
    search = oracle_labels_per_s()
    agent = oracle_labels_per_s(expert=agent_teacher(teacher, root))
    print(
        f"oracles (Pong, {ORACLE_ENVS} emulators acting at random): search {search:.0f} labels/s, agent "
        f"{agent:.0f} labels/s"
    )
    return {"oracle_labels_per_s": round(search, 1), "agent_oracle_labels_per_s": round(agent, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--teacher", help="run directory of a Pong agent to time as an oracle")
    parser.add_argument("--only-oracles", action="store_true", help="time the two oracles only")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="imitax-demos-"))
    if args.only_oracles:
        figures = {"oracle_envs": ORACLE_ENVS, **oracle_speeds(args.teacher, root)}
        (RESULTS / "oracles.json").write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures))
        return
    runs = {
        "pong": record(root / "pong", "Pong", args.episodes),
        "breakout": record(root / "breakout", "Breakout", args.episodes),
        "pong_noise_0.25": record(root / "pong-noise", "Pong", args.episodes, noise=0.25),
    }
    states_report, _ = record(root / "pong-states", "Pong", 1, keep_states=True, seed=100)
    oracles = oracle_speeds(args.teacher, root)

    print(
        f"{'recording':<18}{'mean':>8}{'std':>7}{'min':>6}{'max':>6}{'steps':>8}{'steps/s':>9}{'B/step':>8}"
        f"{'cut':>5}"
    )
    for name, (report, info) in runs.items():
        s = np.array(report.scores)
        print(
            f"{name:<18}{s.mean():>8.1f}{s.std():>7.1f}{s.min():>6.0f}{s.max():>6.0f}{report.steps:>8}"
            f"{report.steps_per_s:>9.0f}{info['disk_bytes_per_step']:>8.0f}{report.truncated_by_budget:>5}"
        )
    state_bytes = state_bytes_per_step(root / "pong-states")
    print(f"emulator states: {state_bytes:.0f} bytes/step on disk ({states_report.steps} steps)")
    print(f"datasets left in {root}")
    print(
        json.dumps(
            {
                "pong_expert_mean_return": float(np.mean(runs["pong"][0].scores)),
                "breakout_expert_mean_return": float(np.mean(runs["breakout"][0].scores)),
                "pong_expert_mean_return_noise_0.25": float(np.mean(runs["pong_noise_0.25"][0].scores)),
                "expert_steps_per_s": {name: round(r.steps_per_s, 1) for name, (r, _) in runs.items()},
                "disk_bytes_per_step": {
                    name: round(i["disk_bytes_per_step"], 1) for name, (_, i) in runs.items()
                },
                **oracles,
                "restorable_state_bytes_per_step": round(state_bytes, 1),
                "returns": {name: r.scores for name, (r, _) in runs.items()},
                "episode_budget_hits": {name: r.truncated_by_budget for name, (r, _) in runs.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
