"""Deprecated: ``litlab.search`` moved to ``litlab.sweeps.search``. The old module paths are kept
for one release and warn.
"""

from litlab.deprecation import alias_moved_modules

alias_moved_modules(
    __name__,
    {
        "pruning": "litlab.sweeps.search.pruning",
        "space": "litlab.sweeps.search.space",
        "storage": "litlab.sweeps.search.storage",
        "sweeper": "litlab.sweeps.search.sweeper",
        "workers": "litlab.sweeps.search.workers",
    },
    {},
)
