"""Whether a run's replays fit the machine's memory, asked before they are allocated."""

from __future__ import annotations

import os
from pathlib import Path

import jax

from imitax.agents.config import AgentConfig
from imitax.replay import Replay


def check_memory(replay: Replay, config: AgentConfig) -> None:
    """Refuses, before allocating, replays that would not fit the device's memory (K of them with
    --num-seeds K), naming the largest number of seeds and the largest capacity that would."""
    shapes = jax.eval_shape(replay.init)
    per_replay = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    need, room = per_replay * config.num_seeds, 0.8 * available_memory()
    if need <= room:
        return
    gib = 2**30
    most_seeds = int(room // per_replay)
    per_row = per_replay / max(config.replay_capacity, 1)
    capacity = int(room / config.num_seeds / per_row) // config.num_envs * config.num_envs
    raise ValueError(
        f"{config.num_seeds} replay(s) of {config.replay_capacity:,} transitions take {need / gib:.1f} GiB; "
        f"this machine has about {room / gib:.1f} GiB to spare. Use --num-seeds {max(most_seeds, 1)} or "
        f"less, or --replay-capacity {max(capacity, 0):,} or less."
    )


def available_memory() -> float:
    """Bytes free for arrays on the default device: the accelerator's, or the machine's available RAM."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return host_memory_available()


def host_memory_available() -> float:
    """Bytes of RAM the machine can still give (Linux's MemAvailable; elsewhere its free pages)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
