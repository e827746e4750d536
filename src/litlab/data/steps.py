"""Deprecated: moved to ``litlab.multistep.batches``. Kept for one release; every access
warns."""

from __future__ import annotations

from litlab.deprecation import moved
from litlab.multistep import batches as _new

__getattr__ = moved(
    __name__,
    {name: getattr(_new, name) for name in dir(_new) if not name.startswith("__")},
)
