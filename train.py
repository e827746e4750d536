"""Entry point: `python train.py experiment=fashion trainer=gpu` (see README.md, or --help)."""

from __future__ import annotations

import sys

import litlab  # noqa: F401 - first, before torch: it sets CUBLAS_WORKSPACE_CONFIG (see its __init__)

# isort: split
import hydra
from omegaconf import DictConfig

from litlab.errors import UserError, exit_for_storage_fault, exit_for_user_error, storage_fault
from litlab.run_folder.status import recording_status
from litlab.run_folder.sweep_job import is_multirun, run_recorded

EXIT_SIGTERM = 128 + 15  # what a shell reports for a process ended by SIGTERM
# Hydra's flags that only print (help, the config, ...): they need neither torch nor Lightning.
PRINT_ONLY = {"-h", "--help", "--hydra-help", "--version", "-c", "--cfg", "-i", "--info", "-sc",
              "--shell-completion"}  # fmt: skip

if PRINT_ONLY.isdisjoint(arg.split("=", 1)[0] for arg in sys.argv[1:]):
    # A run imports Lightning here, before Hydra sets up logging: Lightning then prints its
    # messages through its own handler, once, as it does when imported before any logging setup
    # (lightning/pytorch/__init__.py); train.log gets them through litlab.run_folder.log.
    import lightning.pytorch  # noqa: F401


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    # Here, not above: torch and Lightning take seconds to import, and --help needs neither.
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from litlab.run import run

    try:
        if is_multirun():  # a failed job is recorded in its folder and the sweep goes on
            return run_recorded(cfg, run)
        with recording_status(cfg.paths.output_dir):  # status.json: running, then how it ended
            return run(cfg)
    except UserError as error:
        exit_for_user_error(error)
    except Exception as error:  # a full disk, a folder that cannot be written: one line
        fault = storage_fault(error)
        if fault is None:
            raise
        exit_for_storage_fault(fault)
    except SIGTERMException:  # Lightning stopped training; TrainingGuard saved a checkpoint
        sys.exit(EXIT_SIGTERM)


if __name__ == "__main__":
    main()
