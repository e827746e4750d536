"""litlab's resume sweeper for grids (``litlab resume <sweep folder>``) under the name Hydra
accepts: a sweeper must be defined in a module under ``hydra_plugins``. The code is in
``litlab.runs``; the Optuna one is in ``hydra_plugins.litlab_optuna``."""

from litlab.runs import sweep_resume


class ResumeBasicSweeper(sweep_resume.ResumeBasicSweeper):
    """See ``litlab.runs.sweep_resume.ResumeBasicSweeper``."""
