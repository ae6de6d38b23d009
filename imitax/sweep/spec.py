"""A sweep's SPEC: the algorithm and preset, fields every trial shares, the fields swept (a grid, a
random search, or both), the seeds and the games. A YAML file, or a Python file that defines `SPEC` as
a dict with the same keys:

    algo: dqn                     # a key of imitax.agents.algorithms.ALGORITHMS
    preset: fast                  # one of its presets (default: its default preset)
    base: {num_envs: 8}           # config fields every trial sets
    grid:                         # the cartesian product of these values
      learning_rate: [1.0e-4, 3.0e-4]
    random:                       # `samples` draws, each with every grid point
      target_update_period: {choice: [1000, 4000]}   # or a plain list
      adam_eps: {loguniform: [1.0e-8, 1.0e-4]}       # also uniform [low, high], randint [low, high]
    samples: 8
    search_seed: 0
    seeds: [0, 1, 2]
    games: [Pong, Breakout]

Field names are those of the algorithm's config (`imitax train <algo> --help`), with `_` or `-`. Every
check runs before anything is written; `spec_from_dict` raises a ValueError naming what is wrong.
Floats drawn by a random search keep 4 significant digits, so trial names stay short and exact.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import random
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imitax.agents.algorithms import ALGORITHMS

KEYS = ("name", "algo", "preset", "base", "grid", "random", "samples", "search_seed", "seeds", "games")
KEYS += ("resources",)
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
RESERVED = {
    "env": "name the games with `games: [...]`",
    "seed": "name the seeds with `seeds: [...]`",
    "run_dir": "the sweep names each trial's run directory",
}


@dataclass(frozen=True)
class SweepSpec:
    """A checked SPEC (see the module's docstring)."""

    name: str
    algo: str
    preset: str
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    random: dict[str, Any] = field(default_factory=dict)
    """Field -> distribution: `{"choice": [...]}` (or a plain list), or `{kind: [low, high]}` for uniform,
    loguniform and randint (both ends included)."""
    samples: int = 0
    search_seed: int = 0
    seeds: tuple[int, ...] = (0,)
    games: tuple[str, ...] = ()
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1})
    """What a trial asks of a Ray cluster (`cpu`, `gpu`, or any custom resource)."""

    @property
    def swept(self) -> list[str]:
        """The fields that vary between trials, in the order trial names list them."""
        return sorted([*self.grid, *self.random])

    def points(self) -> list[dict[str, Any]]:
        """Every setting of the swept fields: each grid point with each random sample (same spec, same
        points: the samples come from `search_seed`)."""
        grid = [
            dict(zip(self.grid, values, strict=True)) for values in itertools.product(*self.grid.values())
        ]
        rng = random.Random(self.search_seed)
        draws = [{f: _draw(rng, d) for f, d in self.random.items()} for _ in range(self.samples)]
        return [{**g, **r} for g in grid for r in draws or [{}]]


def load_spec(path: str | Path) -> SweepSpec:
    """Reads and checks a SPEC file (.yaml, .yml or .py)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no sweep SPEC at {path}")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ValueError(f"{path} is not valid YAML: {err}") from None
    elif path.suffix == ".py":
        data = runpy.run_path(str(path)).get("SPEC")
        if data is None:
            raise ValueError(f"{path} defines no SPEC (a dict of the sweep's settings)")
    else:
        raise ValueError(f"{path}: a SPEC is a .yaml, .yml or .py file")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a SPEC is a mapping of settings, got {type(data).__name__}")
    return spec_from_dict({"name": path.stem, **data})


def spec_from_dict(data: dict[str, Any]) -> SweepSpec:

    for key in data:
        if key not in KEYS:
            raise ValueError(f"unknown SPEC key {key!r}{_close(key, KEYS)}; a SPEC has {', '.join(KEYS)}")
    algo_name = data.get("algo")
    if algo_name not in ALGORITHMS:
        raise ValueError(
            f"algo: {algo_name!r} is not an algorithm imitax trains; one of {', '.join(ALGORITHMS)}"
        )
    algo = ALGORITHMS[algo_name]
    preset = data.get("preset", algo.default_preset)
    if preset not in algo.presets:
        raise ValueError(f"preset: {algo_name} has no preset {preset!r}; one of {', '.join(algo.presets)}")
    names = [f.name for f in dataclasses.fields(algo.config) if f.init]
    sections = {
        key: _fields(data.get(key) or {}, key, names, algo_name) for key in ("base", "grid", "random")
    }
    seen: dict[str, str] = {}
    for key, values in sections.items():
        for name in values:
            if name in seen:
                raise ValueError(f"{name} is set in both {seen[name]} and {key}; set it in one")
            seen[name] = key
    for name, values in sections["grid"].items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid: {name} needs a non-empty list of values, got {values!r}")
        if len(set(map(repr, values))) < len(values):
            raise ValueError(f"grid: {name} lists a value twice: {values!r}")
    random_ = {name: _distribution(name, d) for name, d in sections["random"].items()}
    samples = _int(data.get("samples", 0), "samples")
    if random_ and samples < 1:
        raise ValueError("random: a random search needs `samples: N` (N >= 1 draws)")
    if samples and not random_:
        raise ValueError("samples: there is no `random:` section to draw from")
    seeds = _list(data.get("seeds", [0]), "seeds")
    for seed in seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seeds: {seed!r} is not a seed (an integer >= 0)")
    games = _list(data.get("games", [algo.presets[preset].env]), "games")
    resources = data.get("resources", {"cpu": 1})
    if not isinstance(resources, dict) or not all(
        isinstance(v, (int, float)) and v >= 0 for v in resources.values()
    ):
        raise ValueError(
            f"resources: a mapping of resource -> amount, e.g. {{cpu: 1, gpu: 1}}; got {resources!r}"
        )
    return SweepSpec(
        name=str(data.get("name", "sweep")),
        algo=algo_name,
        preset=preset,
        base=sections["base"],
        grid=sections["grid"],
        random=random_,
        samples=samples,
        search_seed=_int(data.get("search_seed", 0), "search_seed"),
        seeds=tuple(seeds),
        games=tuple(str(g) for g in games),
        resources=dict(resources),
    )


def _fields(values: Any, key: str, names: list[str], algo: str) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise ValueError(f"{key}: a mapping of config field -> value, got {values!r}")
    out = {}
    for raw, value in values.items():
        name = str(raw).lstrip("-").replace("-", "_")
        if name in RESERVED:
            raise ValueError(f"{key}: {raw}: {RESERVED[name]}")
        if name not in names:
            raise ValueError(
                f"{key}: {raw!r} is not a field of imitax train {algo}{_close(name, names)} "
                f"(imitax train {algo} --help lists them)"
            )
        out[name] = value
    return out


def _distribution(name: str, spec: Any) -> dict[str, list]:
    if isinstance(spec, list):
        spec = {"choice": spec}
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ValueError(
            f"random: {name} needs a list of values, or a distribution ({', '.join(DISTRIBUTIONS)}) as "
            f"{{kind: [...]}}; got {spec!r}"
        )
    kind, args = next(iter(spec.items()))
    if not isinstance(args, list) or not args:
        raise ValueError(f"random: {name}: {kind} needs a non-empty list, got {args!r}")
    if kind == "choice":
        return {kind: args}
    if len(args) != 2:
        raise ValueError(f"random: {name}: {kind} needs [low, high], got {args!r}")
    try:
        low, high = (int(a) for a in args) if kind == "randint" else (float(a) for a in args)
    except (TypeError, ValueError):
        raise ValueError(f"random: {name}: {kind} bounds must be numbers, got {args!r}") from None
    if not low < high:
        raise ValueError(f"random: {name}: {kind} needs low < high, got {args!r}")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"random: {name}: loguniform needs low > 0, got {args!r}")
    return {kind: [low, high]}


def _draw(rng: random.Random, distribution: dict[str, list]) -> Any:
    kind, args = next(iter(distribution.items()))
    if kind == "choice":
        return args[rng.randrange(len(args))]
    if kind == "randint":
        return rng.randint(args[0], args[1])  # both ends included
    if kind == "uniform":
        return _round(rng.uniform(args[0], args[1]))
    return _round(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def _int(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key}: needs an integer >= 0, got {value!r}")
    return value


def _list(value: Any, key: str) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{key}: needs a non-empty list, got {value!r}")
    if len(set(map(repr, value))) < len(value):
        raise ValueError(f"{key}: lists a value twice: {value!r}")
    return value


def _close(word: str, choices: Any) -> str:
    matches = difflib.get_close_matches(word, list(choices), n=3)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""
