"""Names moved in the re-layout stay importable from their old paths for one release: an old
config's ``_target_`` (or a saved run folder's) resolves to the new object, with a
DeprecationWarning that names the new path."""

import pytest
from hydra.utils import get_object

from litlab.cli.diff import add_subcommand as diff_subcommand
from litlab.multistep import EpochMean, MultiStepCallback, MultiStepModule
from litlab.multistep.batches import CallBatches
from litlab.run_folder.guard import RunFolderGuard
from litlab.run_folder.log import RunLog
from litlab.sweeps.figure import build_figure
from litlab.sweeps.search.pruning import OptunaPruning
from litlab.sweeps.summary import SweepSummary

OLD_TARGETS = [  # one old _target_ per shim module: (old path, the object it stands for)
    ("litlab.models.fused_steps.FusedStepsModule", MultiStepModule),
    ("litlab.data.training_loader.TrainingLoop", MultiStepCallback),
    ("litlab.data.steps.CallBatches", CallBatches),
    ("litlab.models.epoch_mean.EpochMean", EpochMean),
    # the Hydra callbacks saved run and sweep folders name (.hydra/config.yaml, hydra.yaml)
    ("litlab.runs.guard.RunFolderGuard", RunFolderGuard),
    ("litlab.runs.log.RunLog", RunLog),
    ("litlab.runs.summary.SweepSummary", SweepSummary),
    ("litlab.search.pruning.OptunaPruning", OptunaPruning),
    ("litlab.runs.sweep_figure.build_figure", build_figure),
    ("litlab.runs.diff.add_subcommand", diff_subcommand),
]


@pytest.mark.parametrize(("old", "new"), OLD_TARGETS, ids=[old for old, _ in OLD_TARGETS])
def test_an_old_target_resolves_to_the_new_object_with_a_deprecation_warning(old, new):
    with pytest.warns(DeprecationWarning, match=r"has moved to litlab\."):
        found = get_object(old)
    assert found is new


def test_an_old_module_path_imports_and_lists_its_names():
    import importlib

    old = importlib.import_module("litlab.data.training_loader")
    assert "wrap_training_loader" in dir(old)
    with pytest.warns(DeprecationWarning, match="litlab.multistep.loader.TrainingLoader"):
        from litlab.data.training_loader import TrainingLoader  # noqa: F401
