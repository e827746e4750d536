"""``<run folder>/train.log``: the run's log, what a person reads later to know what happened.

Hydra's job logging writes Python's log records to it (a FileHandler on the root logger, see
``hydra.job_logging``). For the length of a job, this Hydra callback adds to it:

- Lightning's messages: ``lightning.pytorch`` and ``lightning.fabric`` log through their own
  stderr handler and do not propagate to the root logger, so the file handler is added to them;
- what the run prints on stdout and stderr (the config, the model summary, the final metrics,
  the run folder, warnings, a failed run's ``error:`` line), line by line as printed, less the
  progress bar: text that a terminal overwrites (after a carriage return) is not copied;
- the traceback of a run that raised (Hydra prints it on the console after the job).
"""

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
    """A console stream that also copies each line it prints into ``log``, except the text a
    terminal overwrites: a progress bar redraws itself after a carriage return."""

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

    def end(self) -> None:
        """Copies a last line that was printed without a newline."""
        if self.line:
            self.copy(self.line)
        self.line = ""

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno, ...: the console's
        return getattr(self.stream, name)


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
