"""Old import paths kept for one release: a moved module's old file holds only a module
``__getattr__`` made here, which hands out the new object with a ``DeprecationWarning`` at
every access (so that old configs' ``_target_``s and old imports still work, and say where
the name lives now)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any


def new_path(obj: Any, fallback: str) -> str:
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{name}" if module and name else fallback


def moved(old_module: str, names: Mapping[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``old_module``: each old name -> its object (or an
    ``(object, "where it lives now")`` pair, for a stand-in kept in the old module), warned."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        obj, where = names[name] if isinstance(names[name], tuple) else (names[name], None)
        warnings.warn(
            f"{old_module}.{name} has moved to {where or new_path(obj, name)}; the old path is "
            "kept for one release",
            DeprecationWarning,
            stacklevel=2,
        )
        return obj

    return __getattr__
