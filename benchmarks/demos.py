"""Demonstrations as they are really made: the built-in experts record datasets on this machine.

Records with `imitax record expert` (nature preset, seeds 0-9, whole games, true scores):
  - 10 games of Pong and 10 of Breakout, clean;
  - 10 games of Pong with 25% of the executed actions uniformly random (labels keep the intended action);
  - 1 game of Pong keeping the emulator state of every step (what `imitax data relabel` needs);
then times the batched oracle (`expert.label`) on 8 Pong emulators driven by random actions, the states a
learner visits at the start of DAgger.

Prints a table and, as its last line, one JSON object with `pong_expert_mean_return`,
`breakout_expert_mean_return`, `pong_expert_mean_return_noise_0.25`, `expert_steps_per_s`,
`disk_bytes_per_step`, `oracle_labels_per_s` and `restorable_state_bytes_per_step`.
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
from imitax.experts import default_expert, make_expert

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


def oracle_labels_per_s(game: str = "Pong") -> float:
    """Labels per second of the batched oracle over emulators acting at random from varied starts."""
    expert = make_expert(default_expert(game), game)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="imitax-demos-"))
    runs = {
        "pong": record(root / "pong", "Pong", args.episodes),
        "breakout": record(root / "breakout", "Breakout", args.episodes),
        "pong_noise_0.25": record(root / "pong-noise", "Pong", args.episodes, noise=0.25),
    }
    states_report, _ = record(root / "pong-states", "Pong", 1, keep_states=True, seed=100)
    labels_per_s = oracle_labels_per_s()

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
    print(f"oracle (Pong, {ORACLE_ENVS} emulators acting at random): {labels_per_s:.0f} labels/s")
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
                "oracle_labels_per_s": round(labels_per_s, 1),
                "restorable_state_bytes_per_step": round(state_bytes, 1),
                "returns": {name: r.scores for name, (r, _) in runs.items()},
                "episode_budget_hits": {name: r.truncated_by_budget for name, (r, _) in runs.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
