"""Every Lightning callback litlab adds, by concern; a config entry names one as
``_target_: litlab.callbacks.<Name>``.

Lightning calls each callback at every ``training_step`` call, whatever hooks it uses (and at
every optimizer step if it has a step hook): so there are few of them, and each does one
concern's work.
"""

from litlab.callbacks.figures import TestPredictionFigures
from litlab.callbacks.job_lines import JobProgressBar
from litlab.callbacks.polynomial import LeastSquaresReference
from litlab.callbacks.reporting import LearningRateMonitor, ProgressBar, TrainingTime
from litlab.callbacks.reproducibility import RunRecord
from litlab.callbacks.safety import TrainingGuard

__all__ = [
    "JobProgressBar",
    "LeastSquaresReference",
    "LearningRateMonitor",
    "ProgressBar",
    "RunRecord",
    "TestPredictionFigures",
    "TrainingGuard",
    "TrainingTime",
]
