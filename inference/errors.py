"""Errors raised by the media layer.

Every error names the offending file, so an importer can report it and move on to the next clip.
``MediaError`` subclasses ``ValueError`` because bad media is bad *input*, not a bug.
"""

from __future__ import annotations

from pathlib import Path


class MediaError(ValueError):
    """A media file is unreadable, corrupt, empty, too large or otherwise unusable."""

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = str(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class CorruptMediaError(MediaError):
    """ffmpeg or soundfile could not decode the file."""


class EmptyMediaError(MediaError):
    """The file exists but holds no samples or frames."""


class MissingAudioError(MediaError):
    """An audio stream was required but the file has none."""


class MediaTooLargeError(MediaError):
    """The file exceeds a configured limit (size, duration or resolution)."""


class InvalidSamplesError(MediaError):
    """Decoded samples contain NaN or infinity."""


class FFmpegTimeoutError(MediaError):
    """An ffmpeg call ran past its time limit and was killed."""


class FeatureError(MediaError):
    """A feature array has the wrong type, shape or values."""
