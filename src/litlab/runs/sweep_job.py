"""One job of a multirun: a failure is recorded in the job folder instead of ending the sweep.

Hydra's BasicSweeper re-raises the first failed job after its batch, and a ``sys.exit`` in a job
(how train.py reports a UserError) ends the whole process; either way the remaining jobs and the
summary are lost. Here every job records its status in ``status.json`` (``litlab.runs.status``,
as single runs do) and returns instead of raising; the summary callback
(``litlab.runs.summary``) reads it and makes the sweep's exit code say whether any job failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from litlab.runs.checkpoints import newest_checkpoint
from litlab.runs.status import FAILED, PRUNED, STATUS_FILE, recording_status

log = logging.getLogger(__name__)


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_recorded(cfg: DictConfig, task: Callable[[DictConfig], float | None]) -> float | None:
    """Run ``task(cfg)``; record its status (a non-finite metric is a failure) and never raise
    for the job's own failure (Ctrl-C and SIGTERM are recorded and still stop the sweep). A job
    whose folder holds its own checkpoint (a resumed sweep, a requeued cluster job) continues
    from it.

    A failed job returns None: the Optuna sweeper then records a failed trial and goes on
    (NaN would not do: optuna 2.10 refuses to be told NaN, and the sweeper stops on that).
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
    except Exception:  # the job's own failure (or its pruning), recorded by recording_status
        if outcome.status != PRUNED:
            log.exception("job failed")
    if outcome.status == FAILED:
        log.error("job failed, recorded in %s: %s", run_dir / STATUS_FILE, outcome.error)
        return None
    if outcome.status == PRUNED:
        log.info("job pruned: %s", outcome.error)
        return None
    return value
