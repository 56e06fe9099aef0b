"""Waveform I/O: every sound in the platform becomes float32 mono at 22050 Hz here.

``load_audio`` reads with soundfile (wav, flac, ogg) and falls back to decoding with ffmpeg for what
libsndfile cannot read (mp3, m4a/aac, the audio track of a video); ffmpeg resamples in that case,
librosa (soxr) otherwise. Decoded samples are validated: an empty signal, NaN or infinity raise a
``MediaError`` naming the file rather than poisoning a mel spectrogram downstream.

Durations follow RegNet's preprocessing: a clip is padded (with silence, or by looping it) or trimmed
to exactly ``round(duration_s * sample_rate)`` samples, 220500 for the 10-s clips of VAS.

The two mel formats live in ``inference.mel`` (``HifiganMel``, ``VasMel``), not here: this module
and ``inference.video`` stay free of torch, so the web process can validate uploads with them.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from inference.errors import (
    CorruptMediaError,
    EmptyMediaError,
    InvalidSamplesError,
    MediaError,
    MissingAudioError,
)
from inference.ffmpeg_run import DEFAULT_TIMEOUT_S, ffmpeg_binary, run_ffmpeg

SAMPLE_RATE = 22050
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768000  # what real recordings use, with room either side
FitMode = Literal["pad", "loop"]


def validate_samples(samples: np.ndarray, *, path: str | Path | None = None) -> np.ndarray:
    """Reject empty signals and NaN/inf samples; return the samples as float32."""
    if samples.size == 0:
        raise EmptyMediaError(path, "the audio holds no samples")
    samples = np.asarray(samples, dtype=np.float32)
    if not np.all(np.isfinite(samples)):
        bad = int(np.count_nonzero(~np.isfinite(samples)))
        raise InvalidSamplesError(path, f"the audio contains {bad} NaN or infinite samples")
    return samples


def _read_with_soundfile(path: Path, max_seconds: float | None = None) -> tuple[np.ndarray, int] | None:
    """Samples and rate, or None for a format libsndfile does not know. With ``max_seconds`` only that
    much is read: a header may claim hours of audio, or a rate of 1 Hz that resampling would blow up."""
    try:
        with sf.SoundFile(str(path)) as handle:
            sr = int(handle.samplerate)
            if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
                raise CorruptMediaError(
                    path, f"a sample rate of {sr} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
                )
            frames = -1 if max_seconds is None else math.ceil(max_seconds * sr) + 1
            data = handle.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None  # not a format libsndfile knows: let ffmpeg try
    return data.mean(axis=1), sr


def decode_with_ffmpeg(
    path: Path, sample_rate: int, timeout_s: float = DEFAULT_TIMEOUT_S, max_seconds: float | None = None
) -> np.ndarray:
    """The first audio stream of any file ffmpeg reads, as float32 mono (not yet validated); with
    ``max_seconds``, only that much of it."""
    import ffmpeg

    limit = {} if max_seconds is None else {"t": f"{max_seconds:.6f}"}
    args = (
        ffmpeg.input(str(path))
        .output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=sample_rate, map="0:a:0", **limit)
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
        .compile(cmd=ffmpeg_binary())
    )
    try:
        result = run_ffmpeg(args, path=path, timeout_s=timeout_s)
    except CorruptMediaError as exc:
        if "matches no streams" in exc.reason:
            raise MissingAudioError(path, "the file has no audio stream") from exc
        raise CorruptMediaError(path, f"not a readable audio file ({exc.reason})") from exc
    return np.frombuffer(result.stdout, dtype=np.float32).copy()


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return samples.astype(np.float32, copy=False)
    import librosa  # slow to import: only when resampling is needed

    from inference.numba_lock import numba_first_use

    with numba_first_use("resample"):
        return librosa.resample(samples, orig_sr=orig_sr, target_sr=target_sr).astype(np.float32)


def fit_length(samples: np.ndarray, n_samples: int, *, mode: FitMode = "pad") -> np.ndarray:
    """Trim to ``n_samples``, or extend with trailing silence (``pad``) or by repeating (``loop``)."""
    if n_samples <= 0:
        raise ValueError("n_samples must be positive")
    if len(samples) >= n_samples:
        return samples[:n_samples]
    if mode == "loop" and len(samples) > 0:
        repeats = -(-n_samples // len(samples))
        return np.tile(samples, repeats)[:n_samples]
    return np.pad(samples, (0, n_samples - len(samples)))


def peak_normalise(samples: np.ndarray, *, peak: float = 0.95) -> np.ndarray:
    """Scale so that the largest absolute sample is ``peak``; silence is left as it is."""
    top = float(np.max(np.abs(samples))) if samples.size else 0.0
    if top < 1e-8:
        return samples
    return (samples * (peak / top)).astype(np.float32)


def loudness_normalise(samples: np.ndarray, *, target_dbfs: float = -23.0, peak: float = 0.99) -> np.ndarray:
    """Scale to an RMS level of ``target_dbfs``, then limit the peak so that nothing clips.

    RMS rather than LUFS: the sounds here are short impulsive events, not programme material, and
    the aim is only comparable levels between clips.
    """
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    if rms < 1e-8:
        return samples
    scaled = samples * (10 ** (target_dbfs / 20) / rms)
    top = float(np.max(np.abs(scaled)))
    if top > peak:
        scaled = scaled * (peak / top)
    return scaled.astype(np.float32)


def load_audio(
    path: str | Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    duration_s: float | None = None,
    fit: FitMode = "pad",
    normalise: Literal["peak", "loudness"] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> np.ndarray:
    """Any audio (or video with sound) file -> float32 mono at ``sample_rate``, validated."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "no such file")
    if path.stat().st_size == 0:
        raise EmptyMediaError(path, "the file is empty")
    # A little more than the duration, so resampling has context at the end; fit_length trims it.
    max_seconds = None if duration_s is None else duration_s + 1.0
    read = _read_with_soundfile(path, max_seconds)
    if read is None:
        samples = decode_with_ffmpeg(path, sample_rate, timeout_s, max_seconds)
    else:
        samples, file_sr = read
        samples = resample(validate_samples(samples, path=path), file_sr, sample_rate)
    samples = validate_samples(samples, path=path)
    if duration_s is not None:
        samples = fit_length(samples, round(duration_s * sample_rate), mode=fit)
    if normalise == "peak":
        samples = peak_normalise(samples)
    elif normalise == "loudness":
        samples = loudness_normalise(samples)
    return samples


def save_wav(path: str | Path, samples: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit PCM mono atomically (a reader never sees half a file); samples are clipped to ±1."""
    path = Path(path)
    samples = validate_samples(np.asarray(samples).reshape(-1), path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".wav")
    os.close(fd)
    try:
        sf.write(tmp, np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
