"""Errors that are the user's to fix: printed as one short message, without a stack trace."""

import errno
import os
import sys


class UserError(Exception):
    """Bad input or a missing resource; ``train.py`` prints the message and exits with code 2."""


class ConfigValueError(UserError):
    """A config value out of its allowed range; the message names the key and the value."""

    def __init__(self, key: str, value: object, requirement: str) -> None:
        super().__init__(f"{key}={value!r} is invalid: {requirement}")
        self.key = key
        self.value = value


class TrainingDiverged(UserError):
    """The loss stopped being a finite number; the message says where and what to try."""


def exit_for_user_error(error: UserError) -> None:
    """Print ``error: <message>`` and exit 2, without a stack trace.

    With ``HYDRA_FULL_ERROR=1`` the error is raised again instead, trace and all.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


# What a full disk, or a place that cannot be written, raises: the user's to fix, not a bug.
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
NOT_A_FOLDER = {errno.EEXIST, errno.ENOTDIR, errno.EISDIR}
READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


def storage_fault(error: BaseException) -> OSError | None:
    """The OSError of a full disk or an unwritable place that ``error`` is or was caused by."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and (
            current.errno in FULL  # a write() names no file
            or (current.errno in NOT_A_FOLDER | READ_ONLY and current.filename is not None)
        ):  # (an EPERM without a file is no place that cannot be written)
            return current
        current = current.__cause__ or current.__context__
    return None


def exit_for_storage_fault(error: OSError) -> None:
    """Print ``error: cannot write <path>: <why>`` and exit 1 (the run started: not bad input).

    With ``HYDRA_FULL_ERROR=1`` the error is raised again instead, trace and all.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    place = f" {error.filename!r}" if error.filename else ""
    if error.errno in FULL:
        hint = "the disk (or this process's file size limit) is full: free space, or choose "
    elif error.errno in NOT_A_FOLDER:
        hint = "a file stands where a folder must go (or the other way round): move it, or choose "
    else:
        hint = "it is not writable: choose "
    print(f"error: cannot write{place}: {error.strerror or error}; {hint}another place with "
          "paths.log_dir=<folder> (paths.data_dir=<folder> for the data). What the run wrote "
          "before is kept.", file=sys.stderr)  # fmt: skip
    sys.exit(1)
