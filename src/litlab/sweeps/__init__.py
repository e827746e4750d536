"""Sweeps over runs: the sweep folder's model (``sweep``), its ``summary`` (the ``litlab
summary`` verb and the multirun-end Hydra callback), its ``figure``, ``resume`` of an
interrupted sweep (Hydra sweepers), ``slurm`` (the launcher behind ``hydra/launcher=slurm``)
and the Optuna ``search`` (sweeper, space, storage, pruning).

May import: ``litlab.run_folder`` and everything below it. Never ``litlab.cli``. The Hydra
plugins in ``hydra_plugins/`` re-export these classes under the names Hydra looks for.
"""
