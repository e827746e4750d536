"""Names moved in the re-layout stay importable from their old paths for one release: an old
config's ``_target_`` (or a saved run folder's) resolves to the new object, with a
DeprecationWarning that names the new path."""

import pytest
from hydra.utils import get_class, get_object

from litlab.multistep import EpochMean, MultiStepCallback, MultiStepModule
from litlab.multistep.batches import CallBatches

OLD_TARGETS = [  # one old _target_ per shim module: (old path, the object it stands for)
    ("litlab.models.fused_steps.FusedStepsModule", MultiStepModule),
    ("litlab.data.training_loader.TrainingLoop", MultiStepCallback),
    ("litlab.data.steps.CallBatches", CallBatches),
    ("litlab.models.epoch_mean.EpochMean", EpochMean),
]


@pytest.mark.parametrize(("old", "new"), OLD_TARGETS, ids=[old for old, _ in OLD_TARGETS])
def test_an_old_target_resolves_to_the_new_object_with_a_deprecation_warning(old, new):
    with pytest.warns(DeprecationWarning, match=r"has moved to litlab\."):
        found = get_object(old)
    assert found is new or (isinstance(found, type) and issubclass(found, new))


def test_the_old_module_base_class_still_builds_a_module_without_clipping_arguments():
    with pytest.warns(DeprecationWarning):
        old = get_class("litlab.models.fused_steps.FusedStepsModule")
    assert isinstance(old(gradient_clip_val=None), MultiStepModule)
