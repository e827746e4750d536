"""Several optimizer steps per ``training_step`` call, in one place.

Owns: the module base class (``MultiStepModule``: the steps written out under manual
optimization), the call batches (``batches``: a call's batches and how the steps split them),
the training-loader wrapper (``loader``: grouped calls, exact mid-epoch resume) and the
callback that installs both in a run (``MultiStepCallback``), plus ``EpochMean``, the epoch
metric whose sums a mid-epoch checkpoint keeps.

May import: ``litlab.data`` (preloaded ``TensorBatches``), top-level helpers, Lightning and
torch. Never ``litlab.models`` (models subclass ``MultiStepModule``), the run folder, sweeps
or the CLI.
"""

from litlab.multistep.batches import CallBatches, StepBatches, StepSampler, batches_by_step
from litlab.multistep.callback import MultiStepCallback
from litlab.multistep.epoch_mean import EpochMean
from litlab.multistep.loader import TrainingLoader, wrap_training_loader
from litlab.multistep.module import MultiStepModule, accumulation, refuse_module_clipping

__all__ = [
    "CallBatches",
    "EpochMean",
    "MultiStepCallback",
    "MultiStepModule",
    "StepBatches",
    "StepSampler",
    "TrainingLoader",
    "accumulation",
    "batches_by_step",
    "refuse_module_clipping",
    "wrap_training_loader",
]
