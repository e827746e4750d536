"""litlab's resume sweepers (``litlab resume <sweep folder>``) under the names Hydra accepts: a
sweeper must be defined in a module under ``hydra_plugins``. The code is in ``litlab.runs``."""

from litlab.runs import sweep_resume


class ResumeBasicSweeper(sweep_resume.ResumeBasicSweeper):
    """See ``litlab.runs.sweep_resume.ResumeBasicSweeper``."""


if sweep_resume.ResumeOptunaSweeper is not None:  # with the Optuna sweeper installed

    class ResumeOptunaSweeper(sweep_resume.ResumeOptunaSweeper):
        """See ``litlab.runs.sweep_resume.ResumeOptunaSweeper``."""
