"""imitax: learning from demonstrations and deep Q-learning on Atari, in JAX.

The Python API (names load on first use):
- `imitax.train(config) -> Result`: train any algorithm's config (`imitax.agents.algorithms`);
- `imitax.load_run(dir)`, `imitax.load_runs(dir)`: a run's config, metrics and evaluations as numbers;
- `imitax.load_agent(dir)`: its trained agent, to act with;
- `imitax.register_term(name, factory)`: a loss term of your own, nameable in `--loss` and configs.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "train": ("imitax.train", None),  # the package itself, which trains when called
    "load_run": ("imitax.train.results", "load_run"),
    "load_runs": ("imitax.train.results", "load_runs"),
    "Result": ("imitax.train.results", "Result"),
    "Run": ("imitax.train.results", "Run"),
    "load_agent": ("imitax.train.loading", "load_agent"),
    "register_term": ("imitax.agents.objective", "register_term"),
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'imitax' has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    loaded = importlib.import_module(module)
    return loaded if attribute is None else getattr(loaded, attribute)
