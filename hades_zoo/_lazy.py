"""Lazy package attributes (PEP 562): ``import hades_zoo`` stays cheap.

The public names of a package are imported from their modules on first use, so that
``import hades_zoo``, ``hades-zoo list`` and ``hades-zoo info`` never load jax, flax or a
simulator (tests/test_imports.py checks it). ``hades_zoo.<module>`` also works without an
explicit ``import hades_zoo.<module>``, as it did when the package imported everything.
"""

from __future__ import annotations

import importlib


def exports(package: str, names: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``package``: ``names`` maps each public name to its module."""

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
        else:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__():
        return sorted({*names, *vars(importlib.import_module(package))})

    return __getattr__, __dir__
