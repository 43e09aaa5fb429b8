"""Errors the CLI turns into one line and an exit code (2: usage/config, 1: data)."""


class MuseganError(Exception):
    """A problem the user can act on; the message names the file and the problem."""

    exit_code = 1


class UsageError(MuseganError):
    exit_code = 2


class ConfigError(UsageError):
    pass


class DataError(MuseganError):
    pass


class CheckpointError(MuseganError):
    pass


class TrainingError(MuseganError):
    """Training cannot go on (e.g. the loss became NaN)."""
