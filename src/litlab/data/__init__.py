"""LightningDataModules and the Datasets behind them; they know nothing of the training loop's
types (``litlab.multistep`` wraps their loaders).

May import: top-level helpers only.
"""

from litlab.deprecation import alias_moved_modules

# Moved to litlab.multistep (TrainingLoop is MultiStepCallback now): the old paths warn.
alias_moved_modules(
    __name__,
    {"steps": "litlab.multistep.batches", "training_loader": "litlab.multistep.loader"},
    {
        "training_loader": {
            "TrainingLoop": ("litlab.multistep.callback", "MultiStepCallback"),
            "accumulation": ("litlab.multistep.module", "accumulation"),
        }
    },
)
