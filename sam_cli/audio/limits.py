"""The input limits: seconds per input, bytes per non-regular input, sample rates and sample values
(README, "Limits and failure behaviour"). Two are configurable through the environment."""

from __future__ import annotations

import math
import os

# Limits on what one input may ask of us (README, "Limits and failure behaviour"). The first two can be raised
# through the environment; the others protect the resampler and the features and are fixed.
MAX_AUDIO_SECONDS_ENV = "SAM_MAX_AUDIO_SECONDS"


DEFAULT_MAX_AUDIO_SECONDS = 24 * 3600.0  # per input, from the header before decoding, and counted while decoding


MAX_STREAM_BYTES_ENV = "SAM_MAX_STREAM_BYTES"


DEFAULT_MAX_STREAM_BYTES = 4 << 30  # per non-regular input (stdin, a FIFO, a device), copied to a temporary file


MIN_SAMPLE_RATE = 1000  # Hz; lower rates are refused before anything is resampled


MAX_SAMPLE_RATE = 768000


MAX_RESAMPLE_KERNEL = 1 << 26  # elements of torchaudio's filter bank (new x (orig + 2 width)) for a rate pair


# |sample| of float files beyond which the file is refused: float files are read unscaled (as EAT did), and some
# tools write them at integer scale (+-32768), which must still read; far beyond that (3e29 overflowed the
# fbank into NaN scores) the file is broken or in no known scale.
MAX_FLOAT_SAMPLE = 65536.0


def max_audio_seconds() -> float:
    """The most seconds of audio one input may hold: $SAM_MAX_AUDIO_SECONDS, else 24 hours."""
    return _env_limit(MAX_AUDIO_SECONDS_ENV, DEFAULT_MAX_AUDIO_SECONDS, float)


def max_stream_bytes() -> int:
    """The most bytes read from stdin, a FIFO or a device: $SAM_MAX_STREAM_BYTES, else 4 GiB."""
    return _env_limit(MAX_STREAM_BYTES_ENV, DEFAULT_MAX_STREAM_BYTES, int)


def _env_limit(var: str, default, kind):
    text = os.environ.get(var, "").strip()
    if not text:
        return default
    try:
        value = kind(float(text)) if kind is int else kind(text)
    except ValueError:
        value = None
    if value is None or not value > 0 or not math.isfinite(value):
        from sam_cli.errors import UsageError

        raise UsageError(f"${var}={text!r}: give a positive number")
    return value
