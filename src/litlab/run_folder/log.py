"""``<run folder>/train.log``, what a person reads later to know what happened: Hydra's job
logging writes Python's log records to it, and for the length of a job this Hydra callback adds
Lightning's messages (its loggers do not propagate to the root logger), what the run prints
(less the progress bar: text a terminal overwrites after a carriage return), and the traceback
of a run that raised (Hydra prints it on the console only)."""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any, TextIO

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours, cursor moves


class LoggedStream:
    """A console stream that also copies each line it prints into ``log``."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        self.stream, self.log, self.line = stream, log, ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        *lines, self.line = (self.line + text).split("\n")
        for line in lines:
            self.copy(line)
        return len(text)

    def copy(self, line: str) -> None:
        kept = TERMINAL_CODES.sub("", line.split("\r", 1)[0]).rstrip()
        if kept or "\r" not in line:
            self.log.write(kept + "\n")

    def end(self) -> None:  # a last line printed without a newline
        if self.line:
            self.copy(self.line)
        self.line = ""

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno, ...: the console's
        return getattr(self.stream, name)


def import_lightning_as_a_fresh_process() -> None:
    """Import Lightning, if no job of this process has, as train.py does: before any logging
    setup, on the real console.

    Lightning's import makes its console handlers on ``sys.stderr`` as it is at that moment,
    and lets its loggers propagate when the root logger already has handlers. A process that
    runs several jobs (a joblib worker, reused from batch to batch) first imports Lightning
    inside its first job, after Hydra set up that job's logging and while that job's
    ``LoggedStream`` stands in for ``sys.stderr``: Lightning's handler then wrote every later
    job's messages to the first job's closed train.log (``ValueError: I/O operation on closed
    file``), and printed each message twice. Imported here, with Hydra's root handlers set
    aside for the moment, Lightning sets up its logging as in a single run."""
    if "lightning.pytorch" in sys.modules:
        return
    root = logging.getLogger()
    handlers = root.handlers[:]
    for handler in handlers:
        root.removeHandler(handler)
    try:
        import lightning.pytorch  # noqa: F401
    finally:
        for handler in handlers:
            root.addHandler(handler)


def job_log_handler() -> logging.FileHandler | None:
    """Hydra's handler writing ``train.log``; None with ``hydra/job_logging=disabled``."""
    handlers = logging.getLogger().handlers
    return next((h for h in handlers if isinstance(h, logging.FileHandler)), None)


class RunLog(Callback):
    """Makes ``train.log`` hold Lightning's messages, the run's printed output and its error."""

    def __init__(self) -> None:
        self.handler: logging.FileHandler | None = None
        self.log: TextIO | None = None
        self.streams: tuple[TextIO, TextIO] = sys.stdout, sys.stderr

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        import_lightning_as_a_fresh_process()  # before sys.stdout and sys.stderr are wrapped
        self.handler = job_log_handler()
        if self.handler is None:
            return
        for name in LIGHTNING_LOGGERS:
            logger = logging.getLogger(name)
            for old in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
                logger.removeHandler(old)  # an earlier job's, left by a sys.exit in this process
            if not logger.propagate:  # else its records reach the file through the root logger
                logger.addHandler(self.handler)
        # its own append-mode, line-buffered handle: lines land in order with the log records
        self.log = open(self.handler.baseFilename, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        self.streams = sys.stdout, sys.stderr
        sys.stdout = LoggedStream(sys.stdout, self.log)  # type: ignore[assignment]
        sys.stderr = LoggedStream(sys.stderr, self.log)  # type: ignore[assignment]

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if self.handler is None or self.log is None:
            return
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, LoggedStream):
                stream.end()
        sys.stdout, sys.stderr = self.streams
        # job_return.return_value would raise the error; Hydra keeps it in _return_value
        error = getattr(job_return, "_return_value", None)
        if job_return.status == JobStatus.FAILED and isinstance(error, BaseException):
            self.log.write("The run failed:\n" + "".join(traceback.format_exception(error)))
        self.log.close()
        for name in LIGHTNING_LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)
        self.handler = self.log = None
