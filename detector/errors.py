"""Error types. Each message says what was wrong and what to do about it."""

from __future__ import annotations


class DetectorError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(DetectorError, ValueError):
    """A model or pipeline configuration is invalid (unknown backbone, bad value)."""


class CheckpointError(DetectorError):
    """A checkpoint is missing, unsafe (pickle), tampered, truncated or does not match its config."""


class OfflineError(DetectorError):
    """Something needed the network (Hugging Face Hub) and none is available."""


class InputError(DetectorError, ValueError):
    """A user-supplied image or video cannot be analysed; the message says why."""


class WrongMediaError(InputError):
    """A video given where an image was expected, or the reverse; ``kind`` is what the file is."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind
