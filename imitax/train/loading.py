"""Bringing a trained agent back from its run directory: its config, its spec and its learned state."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from imitax.agents.agent import make_agent
from imitax.agents.algorithms import ALGORITHMS
from imitax.agents.base import Agent
from imitax.envs import atari_spec, is_atari, make_vec_env
from imitax.train.run_dir import CONFIG_FILE, Checkpointer, RunDirError
from imitax.types import EnvSpec


@dataclass
class LoadedAgent:
    agent: Agent
    state: Any
    config: Any
    spec: EnvSpec
    step: int


def config_from_record(cls: type, saved: dict[str, Any]) -> Any:
    """A config of class `cls` from the settings a run record saved (JSON lists back to tuples)."""
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names})


def load_agent(run_dir: str | Path, step: int | None = None) -> LoadedAgent:
    """The agent of a run at a checkpoint (the latest by default), with the spec it was trained on.

    Raises:
      RunDirError: no run, an algorithm imitax does not know, or no such checkpoint.
    """
    run_dir = Path(run_dir)
    config_file = run_dir / CONFIG_FILE
    if not config_file.exists():
        raise RunDirError(f"{run_dir} is not a run directory ({CONFIG_FILE} is missing).")
    record = json.loads(config_file.read_text())
    algo = record.get("algo")
    if algo not in ALGORITHMS:
        raise RunDirError(
            f"{run_dir} was trained with {algo!r}, which imitax cannot load ({', '.join(ALGORITHMS)})."
        )
    config = config_from_record(ALGORITHMS[algo].config, record["config"])
    if is_atari(config.env):
        spec = atari_spec(config.env, config.env_preset, training=True)
    else:
        spec = make_vec_env(config.env, 1).spec
    agent = make_agent(config)
    template = agent.init(jax.random.key(0), spec)
    checkpointer = Checkpointer(run_dir / "checkpoints", create=False)
    available = checkpointer.all_steps()
    if not available:
        raise RunDirError(f"{run_dir} has no checkpoint yet.")
    if step is None:
        step = max(available)
    elif step not in available:
        raise RunDirError(f"{run_dir} has no checkpoint at step {step}; it has {sorted(available)}.")
    state = checkpointer.restore_part({"agent": template}, step)["agent"]
    return LoadedAgent(agent=agent, state=state, config=config, spec=spec, step=step)
