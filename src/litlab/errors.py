"""Errors that are the user's to fix: printed as one short message, without a stack trace."""


class UserError(Exception):
    """Bad input or a missing resource; ``train.py`` prints the message and exits with code 2."""


class ConfigValueError(UserError):
    """A config value out of its allowed range; the message names the key and the value."""

    def __init__(self, key: str, value: object, requirement: str) -> None:
        super().__init__(f"{key}={value!r} is invalid: {requirement}")
        self.key = key
        self.value = value
