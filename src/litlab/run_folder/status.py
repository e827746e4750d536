"""``status.json``: every run says whether it is running, completed, failed or interrupted.

Written by ``recording_status`` around the run (train.py's main, and each job of a multirun):
``running`` with the process id and host when the run starts, then ``completed``, ``failed``
(with the error) or ``interrupted`` (Ctrl-C or SIGTERM) when it ends; a search may write
``pruned`` for a trial it stopped early. A run killed hard (SIGKILL, a power cut) cannot write
its end, so it stays ``running``; readers see that its process is gone and report it
``incomplete``. A status.json that is not one of these is ``unreadable``, with the reason.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litlab.run_folder.ranks import writes_run_folder
from litlab.run_folder.results import METRICS_FILE, write_json

STATUS_FILE = "status.json"
RUNNING, COMPLETED, FAILED = "running", "completed", "failed"
PRUNED = "pruned"  # a trial Optuna's pruner stopped early (litlab.sweeps.search.pruning)
INTERRUPTED, INCOMPLETE, UNREADABLE = "interrupted", "incomplete", "unreadable"
STATUSES = (COMPLETED, PRUNED, FAILED, INTERRUPTED, RUNNING, INCOMPLETE, UNREADABLE)
INTERRUPTED_CHECKPOINT = Path("checkpoints") / "interrupted.ckpt"


def write_status(run_dir: str | Path, record: dict[str, Any]) -> Path:
    return write_json(Path(run_dir) / STATUS_FILE, record)


def divergence(run_dir: Path) -> str | None:
    """A message naming the non-finite values in metrics.json, or None if all are finite."""
    try:
        metrics = json.loads((run_dir / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return None
    numbers = metrics.items() if isinstance(metrics, dict) else ()
    bad = {name: v for name, v in numbers if isinstance(v, float) and not math.isfinite(v)}
    if not bad:
        return None
    return "diverged: " + ", ".join(f"{name}={v}" for name, v in sorted(bad.items()))


def ending(exc: BaseException) -> tuple[str, str]:
    """The status and error a run ends with when ``exc`` stops it."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if isinstance(exc, SIGTERMException):  # raised by Lightning at a batch boundary
        return INTERRUPTED, "SIGTERM"
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C outside Lightning's loops
        return INTERRUPTED, "Ctrl-C"
    if isinstance(exc, SystemExit) and exc.code == 1:  # Lightning exits 1 on Ctrl-C in its loops
        return INTERRUPTED, "Ctrl-C"
    if type(exc).__name__ == "TrialPruned" and type(exc).__module__.startswith("optuna"):
        return PRUNED, str(exc)  # optuna.TrialPruned, without importing optuna in every run
    if isinstance(exc, SystemExit):
        return FAILED, f"exit code {exc.code}"
    return FAILED, f"{type(exc).__name__}: {exc}".strip()


@dataclass
class Outcome:
    """How a recorded run ended; filled in when the ``recording_status`` block exits."""

    status: str = RUNNING
    error: str | None = None


@contextmanager
def recording_status(run_dir: str | Path) -> Iterator[Outcome]:
    """Write ``running`` now and the run's end when the block exits; exceptions pass through.

    A run that returns but left a nan/inf in metrics.json is recorded as failed (diverged).
    Only global rank 0 writes (``litlab.run_folder.ranks``: the other processes of a run on several
    nodes, or of a SLURM job's tasks, have no run folder of their own). Lightning's
    ``rank_zero_only.rank`` is no guide here: until its strategy is set up it is 0 in a process
    started with ``NODE_RANK=1``.
    """
    run_dir = Path(run_dir)
    writes = writes_run_folder()
    record: dict[str, Any] = {"status": RUNNING, "error": None, "started": time.time(),
                              "finished": None, "pid": os.getpid(),
                              "host": socket.gethostname()}  # fmt: skip
    if writes:
        write_status(run_dir, record)
    outcome = Outcome()
    try:
        yield outcome
    except BaseException as exc:
        outcome.status, outcome.error = ending(exc)
        if writes:
            with suppress(OSError):  # a full disk: the run's own error is the one to report
                write_status(run_dir, record | vars(outcome) | {"finished": time.time()})
        raise
    outcome.error = divergence(run_dir)
    outcome.status = FAILED if outcome.error else COMPLETED
    if writes:
        write_status(run_dir, record | vars(outcome) | {"finished": time.time()})


def process_alive(pid: int, started: float | None) -> bool:
    """Whether process ``pid`` on this host still exists and began before ``started`` (a newer
    process with a reused id is not the run)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    begun = process_start_time(pid)
    return begun is None or started is None or begun <= started + 1.0


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (Unix seconds), from /proc; None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    ticks = float(stat.rsplit(")", 1)[1].split()[19])  # field 22 of proc(5), after the name
    return boot + ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class RunStatus:
    status: str
    error: str | None
    started: float | None = None  # Unix seconds
    finished: float | None = None
    pid: int | None = None
    host: str | None = None

    @property
    def here(self) -> bool:
        """Whether the run's process is (or was) on this machine."""
        return self.host == socket.gethostname()


FIELDS: dict[str, Any] = {"status": str, "error": (str, type(None)),
                          "started": (int, float, type(None)),
                          "finished": (int, float, type(None)), "pid": (int, type(None)),
                          "host": (str, type(None))}  # fmt: skip


# The range of each number: a time in Unix seconds (up to the year 5138), a process id.
RANGES = {"started": (0.0, 1e11), "finished": (0.0, 1e11), "pid": (1, 2**31 - 1)}


def out_of_range(record: dict[str, Any]) -> str | None:
    """The first number of ``record`` outside its range (nan and inf included), or None."""
    for key, (low, high) in RANGES.items():
        value = record.get(key)
        if value is not None and not low <= value <= high:  # nan compares False
            return key
    return None


def parse_status(text: str | bytes) -> RunStatus:
    """status.json's text as a RunStatus; ``unreadable`` (with why) when it is not one."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as error:  # not UTF-8 is a ValueError too
        return RunStatus(UNREADABLE, f"{STATUS_FILE} is not JSON: {str(error)[:200]}")
    if not isinstance(record, dict):
        return RunStatus(UNREADABLE, f"{STATUS_FILE} is not a JSON object")
    wrong = [
        key
        for key, kind in FIELDS.items()
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool)
    ]
    wrong += [key] if not wrong and (key := out_of_range(record)) else []  # fmt: skip
    if wrong or record["status"] not in STATUSES or record["status"] == UNREADABLE:
        key = wrong[0] if wrong else "status"
        value = repr(record.get(key))
        value = value if len(value) <= 40 else value[:37] + "..."
        return RunStatus(UNREADABLE, f"{STATUS_FILE} has {key}={value}")
    return RunStatus(**{key: record.get(key) for key in FIELDS})  # type: ignore[arg-type]  # checked


def read_status(run_dir: str | Path) -> RunStatus:
    """The run's status as it stands now, from its folder alone.

    ``running`` whose process is gone (on this host) -> ``incomplete``. Folders from before
    every run wrote status.json: ``completed`` when metrics.json is there (the last thing a run
    writes), ``interrupted`` when ``checkpoints/interrupted.ckpt`` is, else ``incomplete``.
    """
    run_dir = Path(run_dir)
    try:
        status = parse_status((run_dir / STATUS_FILE).read_bytes())
    except OSError:  # none: an older folder, or one that never started
        if (run_dir / METRICS_FILE).is_file():
            error = divergence(run_dir)
            return RunStatus(FAILED if error else COMPLETED, error)
        if (run_dir / INTERRUPTED_CHECKPOINT).is_file():
            return RunStatus(INTERRUPTED, f"no {STATUS_FILE}; {INTERRUPTED_CHECKPOINT}")
        return RunStatus(INCOMPLETE, f"no {STATUS_FILE}: interrupted, or still running")
    pid = status.pid
    if status.status == RUNNING and status.here and pid and not process_alive(pid, status.started):
        status.status = INCOMPLETE
        status.error = f"its process {pid} is gone: killed hard, or the machine stopped"
    return status
