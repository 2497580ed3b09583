"""User-facing errors.

Anything raised as a SamError is a problem with the user's input (a file, a checkpoint, an option), not a
bug: the CLI prints its message on one line and exits non-zero, without a traceback.
"""


class SamError(Exception):
    """Base class of every error whose message is meant for the user."""

    exit_code = 1


class AudioError(SamError):
    """Audio that cannot be read or decoded."""


class CheckpointError(SamError):
    """A checkpoint folder or file that is missing, malformed or incompatible."""


class UsageError(SamError):
    """Options or arguments that do not make sense together."""

    exit_code = 2
