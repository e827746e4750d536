"""Networks (plain ``nn.Module``s) and the LightningModules that train them.

May import: ``litlab.multistep`` (the modules' base class), ``litlab.data``, top-level helpers.
"""

from litlab.deprecation import alias_moved_modules

# Moved to litlab.multistep (FusedStepsModule is MultiStepModule now): the old paths warn.
alias_moved_modules(
    __name__,
    {"fused_steps": "litlab.multistep.module", "epoch_mean": "litlab.multistep.epoch_mean"},
    {"fused_steps": {"FusedStepsModule": ("litlab.multistep.module", "MultiStepModule")}},
)
