"""One job of a multirun: a failure is recorded in the job folder instead of ending the sweep.

Hydra's BasicSweeper re-raises the first failed job after its batch, and a ``sys.exit`` in a job
(how train.py reports a UserError) ends the whole process; either way the remaining jobs and the
summary are lost. Here every job ends by writing ``status.json``; the summary callback
(``litlab.sweep_summary``) reads it and makes the sweep's exit code say whether any job failed.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from litlab.runs.checkpoints import newest_checkpoint

STATUS_FILE = "status.json"
COMPLETED, FAILED = "completed", "failed"

log = logging.getLogger(__name__)


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def write_status(run_dir: Path, status: str, error: str | None, started: float) -> Path:
    """status.json: completed or failed, the error, and when the job ran (Unix seconds)."""
    path = run_dir / STATUS_FILE
    record = {"status": status, "error": error, "started": started, "finished": time.time()}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def divergence(run_dir: Path, value: float | None) -> str | None:
    """A message naming the non-finite metrics of a finished run, or None if all are finite."""
    metrics_file = run_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    bad = {name: v for name, v in metrics.items() if not math.isfinite(v)}
    if not bad and value is not None and not math.isfinite(value):
        bad["returned value"] = value
    if not bad:
        return None
    return "diverged: " + ", ".join(f"{name}={v}" for name, v in sorted(bad.items()))


def run_recorded(cfg: DictConfig, task: Callable[[DictConfig], float | None]) -> float | None:
    """Run ``task(cfg)``; record completed/failed (exception or non-finite metric) and never raise.

    A failed job returns None: the Optuna sweeper then records a failed trial and goes on
    (NaN would not do: optuna 2.10 refuses to be told NaN, and the sweeper stops on that).
    """
    run_dir = Path(cfg.paths.output_dir)
    started = time.time()
    if cfg.train and cfg.get("ckpt_path") is None:  # a resumed sweep, or a requeued job
        own = newest_checkpoint(run_dir)
        if own is not None:
            log.info("continuing from this job's own checkpoint %s", own)
            cfg.ckpt_path = str(own)
    try:
        value = task(cfg)
        error = divergence(run_dir, value)
    except Exception as exc:  # the job's own failure; KeyboardInterrupt still stops the sweep
        log.exception("job failed")
        value, error = None, f"{type(exc).__name__}: {exc}".strip()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_status(run_dir, FAILED if error else COMPLETED, error, started)
    if error:
        log.error("job failed, recorded in %s: %s", run_dir / STATUS_FILE, error)
        return None
    return value
