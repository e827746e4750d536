"""Old import paths kept for one release. A package whose modules moved registers each old
module path as a ``MovedModule`` (``alias_moved_modules`` in its ``__init__``): ``import`` of the
old path, ``from old import name`` and an old config's or saved run folder's ``_target_`` all
work, and every name taken from it warns (``DeprecationWarning``) with its new path. The new
module is imported at the first such access, not before: the old package's import stays cheap
and its layer's imports stay one-way."""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Mapping
from importlib import import_module
from typing import Any


class MovedModule(types.ModuleType):
    """Stands for a module that moved: its names are the new module's (``renamed``: an old
    name -> ``(module, name)`` where it lives now)."""

    def __init__(self, old: str, new: str, renamed: Mapping[str, tuple[str, str]]) -> None:
        super().__init__(old, f"Deprecated: moved to ``{new}``; kept for one release.")
        self._new, self._renamed = new, dict(renamed)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module, new_name = self._renamed.get(name, (self._new, name))
        obj = getattr(import_module(module), new_name)
        warnings.warn(
            f"{self.__name__}.{name} has moved to {module}.{new_name}; the old path is kept "
            "for one release",
            DeprecationWarning,
            stacklevel=2,
        )
        return obj

    def __dir__(self) -> list[str]:
        return sorted({*dir(import_module(self._new)), *self._renamed})


def alias_moved_modules(
    package: str, moves: Mapping[str, str], renamed: Mapping[str, Mapping[str, tuple[str, str]]]
) -> None:
    """Registers ``package.<old>`` for each ``old -> new module`` of ``moves``."""
    parent = sys.modules[package]
    for old, new in moves.items():
        name = f"{package}.{old}"
        module = sys.modules.setdefault(name, MovedModule(name, new, renamed.get(old, {})))
        setattr(parent, old, module)
