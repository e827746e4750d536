"""Errors that are the user's to fix: printed as one short message, without a stack trace."""

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
