"""Training imitax agents, and reading their runs back.

`imitax.train(config)` (this package, called) trains a config and returns a `Result`; `load_run(dir)` and
`load_runs(dir)` read runs as numbers. Names load on first use, so importing a submodule stays light.
"""

from __future__ import annotations

import sys
import types
from typing import Any

_PUBLIC = {"train", "load_run", "load_runs", "Result", "Run", "Evaluation"}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        from imitax.train import results

        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    """`imitax.train` is both this package and the function that trains: `imitax.train(config)`."""

    def __call__(self, config: Any, **kwargs: Any) -> Any:
        from imitax.train.results import train

        return train(config, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
