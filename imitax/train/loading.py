"""Bringing a trained agent back from its run directory: its config, its spec and its learned state."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax

from imitax.agents.agent import make_agent
from imitax.agents.algorithms import ALGORITHMS
from imitax.agents.base import Agent
from imitax.agents.objective import register_sources
from imitax.envs import atari_spec, is_atari, make_vec_env
from imitax.train.checkpoints import Checkpointer, CheckpointError
from imitax.train.run_dir import CONFIG_FILE, RunDirError, load_run_record, seed_dirs, with_added_settings
from imitax.types import EnvSpec


@dataclass
class LoadedAgent:
    agent: Agent
    state: Any
    config: Any
    spec: EnvSpec
    step: int


def config_from_record(
    cls: type, saved: dict[str, Any], source: Path | None = None, terms: dict[str, str] | None = None
) -> Any:
    """A config of class `cls` from the settings a run record saved (JSON lists back to tuples), with the
    loss terms it recorded from outside imitax (the record's "terms") registered first.

    Raises:
      RunDirError: the record lacks settings `cls` has. Today's defaults are not filled in (the run would
        not be the one recorded), only `run_dir.ADDED_SETTINGS`' values that reproduce runs recorded
        before them.
    """
    register_sources(terms or {})  # terms added from outside imitax, where the run found them
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    saved = with_added_settings(saved, names)
    missing = [name for name in names if name not in saved]
    if missing:
        where = source / CONFIG_FILE if source is not None else "the run's record"
        raise RunDirError(
            f"{where} is damaged: its config lacks {', '.join(missing)}, which every {cls.__name__} run "
            "records. Restore the file from a copy; imitax does not fill in today's defaults, since the run "
            "would then not be the one recorded."
        )
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names})


def load_run_config(run_dir: str | Path) -> tuple[str, Any]:
    """The algorithm and the config of the run in `run_dir`, from its record.

    Raises:
      RunDirError: no run there, a damaged record, or an algorithm imitax does not know.
    """
    run_dir = Path(run_dir)
    record = load_run_record(run_dir)
    algo = record["algo"]
    if algo not in ALGORITHMS:
        raise RunDirError(
            f"{run_dir} was trained with {algo!r}, which imitax cannot load ({', '.join(ALGORITHMS)})."
        )
    return algo, config_from_record(ALGORITHMS[algo].config, record["config"], run_dir, record.get("terms"))


def load_agent(run_dir: str | Path, step: int | None = None) -> LoadedAgent:
    """The agent of a run at a checkpoint (the newest intact one by default), with the spec it was
    trained on. A damaged newer checkpoint is named on stderr and passed over.

    Raises:
      RunDirError: no run, a damaged record, or an algorithm imitax does not know.
      CheckpointError: no such checkpoint, or none intact.
    """
    run_dir = Path(run_dir)
    _, config = load_run_config(run_dir)
    if is_atari(config.env):
        spec = atari_spec(config.env, config.env_preset, training=True)
    else:
        spec = make_vec_env(config.env, 1).spec
    agent = make_agent(config)
    template = agent.init(jax.random.key(0), spec)
    checkpointer = Checkpointer(run_dir / "checkpoints", create=False)
    step = _usable_step(run_dir, checkpointer, step)
    state = checkpointer.restore({"agent": template}, step)["agent"]
    return LoadedAgent(agent=agent, state=state, config=config, spec=spec, step=step)


def _usable_step(run_dir: Path, checkpointer: Checkpointer, step: int | None) -> int:
    available = checkpointer.all_steps()
    if not available:
        raise CheckpointError(f"{run_dir} has no checkpoint yet.")
    if step is not None:
        if step not in available:
            raise CheckpointError(f"{run_dir} has no checkpoint at step {step}; it has {available}.")
        problem = checkpointer.problem(step)
        if problem:
            raise CheckpointError(f"{run_dir}: the checkpoint at step {step:,} is damaged: {problem}.")
        return step
    intact, damaged = checkpointer.newest_intact()
    for line in damaged:
        print(f"{run_dir}: {line}; passed over.", file=sys.stderr)
    if intact is None:
        raise CheckpointError(
            f"{run_dir}: no intact checkpoint ({'; '.join(damaged)}). Restore the checkpoints from a copy, "
            "or train the run again in a new directory."
        )
    if damaged:
        print(f"{run_dir}: using the checkpoint at step {intact:,}.", file=sys.stderr)
    return intact


def load_one_run(path: str | Path, flag: str) -> LoadedAgent:
    """The newest agent of the single run a flag names (`--expert`, `--init-from`); errors name the flag.

    Raises:
      RunDirError: no run there, or a root of several seeds (the message names one to give instead).
      CheckpointError: no intact checkpoint.
    """
    path = Path(path)
    seeds = seed_dirs(path)
    if seeds:
        raise RunDirError(
            f"{flag} {path} holds a run of {len(seeds)} seeds: name one of them, e.g. {flag} {seeds[0]}."
        )
    try:
        return load_agent(path)
    except (RunDirError, CheckpointError) as err:
        raise type(err)(f"{flag}: {err}") from None


def initial_params(init_from: str | Path, agent: Agent, spec: EnvSpec) -> Any:
    """The network weights of the run `init_from`, checked to be those of `agent`'s network on `spec`.

    Raises:
      RunDirError, CheckpointError: as `load_one_run`.
      ValueError: the run's agent sees other observations, chooses among other actions, or has another
        network; the message says which settings to match.
    """
    source = load_one_run(init_from, "--init-from")
    theirs = source.spec
    if theirs.obs_shape != spec.obs_shape or theirs.action_ids != spec.action_ids:
        raise ValueError(
            f"--init-from {init_from}: that agent plays {theirs.name} with observations {theirs.obs_shape} "
            f"and {theirs.num_actions} actions, but this run plays {spec.name} with {spec.obs_shape} and "
            f"{spec.num_actions}: start from a run of the same game and preset."
        )
    mine = jax.eval_shape(lambda key: agent.init(key, spec), jax.random.key(0)).params
    shapes = lambda tree: jax.tree.map(lambda x: (x.shape, x.dtype), tree)
    if jax.tree.structure(mine) != jax.tree.structure(source.state.params) or shapes(mine) != shapes(
        source.state.params
    ):
        c = source.config
        raise ValueError(
            f"--init-from {init_from}: that run's network (torso {c.torso}, dueling {c.dueling}, policy_head "
            f"{c.policy_head}, mlp_sizes {c.mlp_sizes}) is not this run's: give the same --torso, --dueling, "
            "--policy-head and --mlp-sizes."
        )
    return source.state.params
