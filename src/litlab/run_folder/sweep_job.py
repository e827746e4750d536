"""One job of a multirun: a failure is recorded in the job folder instead of ending the sweep.

Hydra's BasicSweeper re-raises the first failed job after its batch, and a ``sys.exit`` in a job
(how train.py reports a UserError) ends the whole process; either way the remaining jobs and the
summary are lost. Here every job records its status in ``status.json``
(``litlab.run_folder.status``, as single runs do) and returns instead of raising; the summary
callback (``litlab.sweeps.summary``) reads it and makes the sweep's exit code say whether any job
failed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from litlab.errors import UserError
from litlab.run_folder.checkpoints import newest_checkpoint
from litlab.run_folder.log import job_log_handler
from litlab.run_folder.status import FAILED, PRUNED, recording_status

log = logging.getLogger(__name__)


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_recorded(cfg: DictConfig, task: Callable[[DictConfig], float | None]) -> float | None:
    """Run ``task(cfg)``; record its status (a non-finite metric is a failure) and never raise
    for the job's own failure (Ctrl-C and SIGTERM are recorded and still stop the sweep). A job
    whose folder holds its own checkpoint (a resumed sweep, a requeued cluster job) continues
    from it.

    A failed or pruned job returns None: the Optuna sweeper reads how it ended from its
    status.json (``litlab.sweeps.search.sweeper``) and goes on.
    """
    run_dir = Path(cfg.paths.output_dir)
    if cfg.train and cfg.get("ckpt_path") is None:  # a resumed sweep, or a requeued job
        own = newest_checkpoint(run_dir)
        if own is not None:
            log.info("continuing from this job's own checkpoint %s", own)
            cfg.ckpt_path = str(own)
    try:
        with recording_status(run_dir) as outcome:
            value = task(cfg)
    except UserError as error:  # its message says it all, as for a single run
        message = str(error)
    except Exception:  # the job's own failure (or its pruning), recorded by recording_status
        message = outcome.error if outcome.status == PRUNED else f"{outcome.error}{to_job_log()}"  # type: ignore[assignment]
    else:
        message = outcome.error  # type: ignore[assignment]  # diverged, by metrics.json
    if outcome.status == FAILED:  # one line, as a single run prints
        print(f"error: {message}", file=sys.stderr)
        return None
    if outcome.status == PRUNED:
        log.info("job pruned: %s", message)
        return None
    return value


def to_job_log() -> str:
    """Write the exception being handled, with its traceback, to the job's train.log only;
    where it went, for the console's line."""
    handler = job_log_handler()
    if handler is None:  # hydra/job_logging=disabled: the console is all there is
        log.exception("job failed")
        return ""
    handler.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, "job failed", None,  # type: ignore[arg-type]
                                  sys.exc_info()))  # fmt: skip
    return f" (traceback in {handler.baseFilename})"
