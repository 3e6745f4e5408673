"""Public names that a package loads on first use (PEP 562), so that importing it stays
cheap: one ``__getattr__`` for the packages that need it."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def lazy_names(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: name ``n`` of ``where`` is imported from
    module ``where[n]`` on first access, then kept in the package (the next access is a
    plain lookup). Call it while the package's ``__init__`` runs:
    ``__getattr__ = lazy_names(__name__, {...})``.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
