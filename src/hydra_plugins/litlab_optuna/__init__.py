"""litlab's Optuna sweeper (``hydra/sweeper=litlab_optuna``) under the names Hydra accepts: a
sweeper must be defined in a module under ``hydra_plugins``. The code is in ``litlab.sweeps.search``
(the search) and ``litlab.sweeps.resume`` (``litlab resume`` of a search)."""

from litlab.sweeps import resume as sweep_resume

if sweep_resume.OptunaSweeper is not None:  # with the sweeps extra (optuna) installed

    class OptunaSweeper(sweep_resume.OptunaSweeper):
        """See ``litlab.sweeps.search.sweeper.OptunaSweeper``."""

    class ResumeOptunaSweeper(sweep_resume.ResumeOptunaSweeper):  # type: ignore[misc,valid-type]
        """See ``litlab.sweeps.resume.ResumeOptunaSweeper``."""
