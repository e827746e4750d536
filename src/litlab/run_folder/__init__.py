"""What a run writes into its folder while it trains, and the one model of a run folder that
every reader uses (README "The run folder").

Owns: the folder model (``folder.Run``, ``history``), and the writers: ``status``, ``record``,
``log``, ``results``, ``checkpoints``, ``guard`` (the folder's claim and checks), ``claim``,
``ranks`` (which rank writes), ``sources`` and ``stored_config`` (the configs a run was made
from, read back as data), and ``sweep_job`` (a job's status and log inside a sweep: the run
writes it, so it lives with the writers). Only the run-folder contract is read, so a folder
copied from another machine works the same.

May import: ``litlab.multistep`` / ``models`` / ``data`` and top-level helpers (``errors``,
``value_rules``, ...). Never ``litlab.sweeps``, ``litlab.cli``, callbacks or the run itself.
"""
