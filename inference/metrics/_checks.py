"""Input checks shared by the metrics: every metric fails loudly on bad audio instead of returning NaN."""

from __future__ import annotations

import numpy as np

# Below one 16-bit LSB everywhere, a signal is digital silence: no timbre, no onsets, no level.
SILENCE_PEAK = 1.0 / 32768


def check_sample_rate(sample_rate: object) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    return int(sample_rate)


def check_wave(
    wave: object,
    sample_rate: int,
    *,
    name: str = "waveform",
    min_seconds: float = 0.0,
    allow_silence: bool = True,
) -> np.ndarray:
    """A finite 1-D float signal, at least ``min_seconds`` long, as float32."""
    sample_rate = check_sample_rate(sample_rate)
    array = np.asarray(wave)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (mono samples), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must hold float samples in [-1, 1], got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"{name} contains {int(np.count_nonzero(~np.isfinite(array)))} NaN or infinite samples"
        )
    if array.size < min_seconds * sample_rate:
        raise ValueError(
            f"{name} is {array.size / sample_rate:.3f} s long; at least {min_seconds:g} s is needed"
        )
    if not allow_silence and float(np.max(np.abs(array))) < SILENCE_PEAK:
        raise ValueError(f"{name} is silent (peak below one 16-bit step)")
    return array.astype(np.float32, copy=False)
