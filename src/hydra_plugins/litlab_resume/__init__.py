"""litlab's resume sweeper for grids (``litlab resume <sweep folder>``) under the name Hydra
accepts: a sweeper must be defined in a module under ``hydra_plugins``. The code is in
``litlab.sweeps.resume``; the Optuna one is in ``hydra_plugins.litlab_optuna``."""

from litlab.sweeps import resume as sweep_resume


class ResumeBasicSweeper(sweep_resume.ResumeBasicSweeper):
    """See ``litlab.sweeps.resume.ResumeBasicSweeper``."""
