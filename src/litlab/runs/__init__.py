"""Deprecated: ``litlab.runs`` was split by layer into ``litlab.run_folder`` (what a run writes,
and the one model of a run folder), ``litlab.sweeps`` (sweeps and search) and ``litlab.cli``
(the ``litlab`` verbs). The old module paths are kept for one release and warn.
"""

from litlab.deprecation import alias_moved_modules

alias_moved_modules(
    __name__,
    {
        "checkpoints": "litlab.run_folder.checkpoints",
        "claim": "litlab.run_folder.claim",
        "diff": "litlab.cli.diff",
        "folder": "litlab.run_folder.folder",
        "guard": "litlab.run_folder.guard",
        "history": "litlab.run_folder.history",
        "listing": "litlab.cli.listing",
        "log": "litlab.run_folder.log",
        "ranks": "litlab.run_folder.ranks",
        "record": "litlab.run_folder.record",
        "results": "litlab.run_folder.results",
        "revisit": "litlab.cli.revisit",
        "slurm": "litlab.sweeps.slurm",
        "sources": "litlab.run_folder.sources",
        "status": "litlab.run_folder.status",
        "stored_config": "litlab.run_folder.stored_config",
        "summary": "litlab.sweeps.summary",
        "sweep": "litlab.sweeps.sweep",
        "sweep_figure": "litlab.sweeps.figure",
        "sweep_job": "litlab.run_folder.sweep_job",
        "sweep_resume": "litlab.sweeps.resume",
        "terminal": "litlab.cli.terminal",
    },
    {},
)
