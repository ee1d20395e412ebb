"""Names a package re-exports from its submodules, imported on first use (PEP 562).

A package whose submodules most commands never need (the store's gateways, the
privacy records, the vault) keeps its public names and imports each submodule
only when one of its names is first read::

    __getattr__ = lazy_exports(__name__, {"Vault": "vault", ...})
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` (a submodule)
    on first use, keeps the value in the package's namespace and returns it.

    :raises AttributeError: for a name that is not in ``names``.
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
