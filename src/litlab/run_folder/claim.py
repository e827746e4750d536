"""One process writes into a run or sweep folder at a time: an ``flock`` on ``<folder>/.claim``,
held for the process's life. The operating system drops it when the process ends, however it
ends (a kill, a power cut), so a claim never outlives its run and nothing is ever cleaned up."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

CLAIM_FILE = ".claim"
_held: dict[Path, int] = {}  # folder -> the open descriptor whose lock this process holds


def claim(folder: Path) -> bool:
    """Take ``folder`` for this process; False if another process holds it. An OSError if the
    claim file cannot be made (the folder is not writable). This process may take it again (one
    process runs its runs one after another, e.g. a test calling train.py's main twice)."""
    key = folder.resolve()
    if key in _held:
        return True
    fd = os.open(key / CLAIM_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held[key] = fd
    return True


def release(folder: Path) -> None:
    """Give ``folder`` up (a process that ends gives up its claims by itself)."""
    fd = _held.pop(folder.resolve(), None)
    if fd is not None:
        os.close(fd)
