"""The kinds of phase a run is made of, by the names algorithms declare in their registry entry
(`imitax.agents.algorithms.Algorithm.phases`): a new kind is registered here, and the runner needs no
change to run it."""

from __future__ import annotations

from imitax.agents.algorithms import ALGORITHMS
from imitax.agents.config import AgentConfig
from imitax.train.phases.dagger import DaggerPhase
from imitax.train.phases.offline import OfflinePhase
from imitax.train.phases.online import OnlinePhase
from imitax.train.session import PhaseKind

_KINDS: dict[str, PhaseKind] = {"offline": OfflinePhase, "dagger": DaggerPhase, "online": OnlinePhase}


def register_phase(name: str, kind: PhaseKind) -> None:
    """Makes a kind of phase available to algorithms under `name`.

    Raises:
      ValueError: `name` is taken.
    """
    if name in _KINDS:
        raise ValueError(f"a phase named {name!r} exists already; phases: {', '.join(_KINDS)}")
    _KINDS[name] = kind


def phase_kinds(config: AgentConfig) -> list[PhaseKind]:
    """The phases of `config`'s algorithm, in the order they run.

    Raises:
      ValueError: the algorithm names a phase no one registered.
    """
    names = ALGORITHMS[config.algo].phases
    unknown = [name for name in names if name not in _KINDS]
    if unknown:
        raise ValueError(f"{config.algo} runs phases {', '.join(unknown)}, which no one registered")
    return [_KINDS[name] for name in names]
