"""What a run prints: the composed config first, a summary with the run folder last, and the
library messages it leaves out. (The progress bar is a callback: ``litlab.callbacks``.)"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from litlab.run_folder.results import to_floats
from litlab.tensorboard import config_dict


def print_config(cfg: DictConfig) -> None:
    print("Config (python train.py --cfg job prints it without running):")
    print(OmegaConf.to_yaml(config_dict(cfg)).rstrip())


def print_summary(metrics: Mapping[str, object], run_dir: Path) -> None:
    """Final metrics, then the run folder; that last line is what tools look for."""
    values = to_floats(metrics)
    width = max((len(name) for name in values), default=0)
    print("\nFinal metrics:")
    for name, value in values.items():
        print(f"  {name:<{width}}  {value:.6g}")
    print(f"Run folder: {run_dir.resolve()}")


# Library messages a run does not print, each matched by its text and where it comes from.
# Python warnings: (message regex, category, module regex of the code that triggers it).
IGNORED_WARNINGS = [
    # Lightning's batch flattening builds torch's deprecated LeafSpec, on every fit (torch 2.14)
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning,
     r"lightning\.pytorch\.utilities\._pytree"),
    # A resumed run (or a test of another run's checkpoint) writes into its own folder, and
    # ModelCheckpoint says that it drops the earlier folder's bookkeeping; continuing in the same
    # folder, it says that the folder holds checkpoints. TrainingGuard says in one line what
    # either means for the run (litlab/callbacks/safety.py: resume_note).
    (r"The dirpath has changed from ", UserWarning, r"lightning\.pytorch\.callbacks"),
    (r"Checkpoint directory .* exists and is not empty", UserWarning, r""),
    # Lightning, outside SLURM, wherever an `srun` is on PATH (lightning/fabric/plugins/
    # environments/slurm.py): litlab runs SLURM jobs through hydra/launcher=slurm (README SLURM)
    (r"The `srun` command is available on your system but is not used", UserWarning, r""),
]  # fmt: skip
# Log records: logger name -> how the messages to drop start.
IGNORED_LOG_MESSAGES = {
    # the Trainer advertises Lightning's cloud logger on every run
    "lightning.pytorch.utilities.rank_zero": ("💡 Tip: For seamless cloud logging",),
}


class DropMessages(logging.Filter):
    """Drops the records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


LOG_FILTERS = {name: DropMessages(prefixes) for name, prefixes in IGNORED_LOG_MESSAGES.items()}


def quiet_library_noise() -> None:
    """Installs the filters above; calling it again changes nothing."""
    for message, category, module in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message, category, module)
    for name, log_filter in LOG_FILTERS.items():
        logging.getLogger(name).addFilter(log_filter)  # a filter added twice is kept once
