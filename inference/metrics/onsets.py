"""Onset alignment: an objective stand-in for the temporal-alignment MOS.

**Detection.** librosa's onset strength (spectral flux of a log-power mel spectrogram, positive
differences summed over bands) on the platform's STFT grid (n_fft 1024, hop 256: 11.6 ms frames),
then librosa's peak picking (a peak must be the maximum within 30 ms before it, exceed the mean of
the 100 ms around it by ``delta`` of the normalised envelope, and come 30 ms after the previous
one). Each onset's *confidence* is the raw onset strength at its peak.

**Accuracy** = hits / reference onsets: a reference onset is hit when a generated onset lies within
``tolerance`` (0.1 s, inclusive); each generated onset can hit one reference onset only. Matching
is greedy in time order (each reference takes the earliest free generated onset in its window),
which for points on a line with equal windows finds a maximum matching (a test checks it against
scipy's bipartite matching).

**AP** (average precision over confidences): generated onsets are sorted by confidence (highest
first, earlier first on ties); each one is a true positive if an unmatched reference onset lies
within the tolerance (it takes the nearest), as in detection benchmarks (PASCAL VOC). With
precision P_k and recall R_k after the k-th detection, AP = sum_k (R_k - R_{k-1}) P_k (no
interpolation, as scikit-learn's ``average_precision_score``). Unreached recall counts as zero
precision, so missing onsets lower AP as well as accuracy.

**Precision and F1** complete accuracy (a recall): precision = hits / generated onsets, and
F1 = 2 · hits / (generated + reference onsets). Accuracy alone rewards a clip that is full of onsets
(every reference onset finds a neighbour); precision and F1 penalise the extra ones.

With no reference onsets both scores are undefined: NaN (the summaries exclude and count NaN). With
reference onsets but no detections both are 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference.metrics._checks import check_wave
from inference.numba_lock import numba_first_use

DEFAULT_TOLERANCE_S = 0.1
# Inclusive windows in floating point: 1.1 - 1.0 is 0.10000000000000009, which must still count.
_EPS = 1e-9


@dataclass(frozen=True)
class OnsetConfig:
    n_fft: int = 1024
    hop_length: int = 256
    pre_max_s: float = 0.03
    post_max_s: float = 0.0
    pre_avg_s: float = 0.10
    post_avg_s: float = 0.10
    wait_s: float = 0.03
    delta: float = 0.07  # on the envelope scaled to [0, 1], librosa's default


@dataclass(frozen=True)
class Onsets:
    times: np.ndarray  # seconds, increasing
    confidences: np.ndarray  # onset strength at each peak


@dataclass(frozen=True)
class OnsetScore:
    accuracy: float  # hits / reference onsets (NaN without reference onsets)
    average_precision: float
    hits: int
    n_generated: int
    n_reference: int

    @property
    def precision(self) -> float:
        """hits / generated onsets (NaN without generated onsets)."""
        return self.hits / self.n_generated if self.n_generated else float("nan")

    @property
    def f1(self) -> float:
        """2 · hits / (generated + reference onsets): the harmonic mean of precision and accuracy."""
        total = self.n_generated + self.n_reference
        return 2 * self.hits / total if total else float("nan")


def _frames(seconds: float, sample_rate: int, hop: int) -> int:
    return max(int(round(seconds * sample_rate / hop)), 0)


def detect_onsets(wave: np.ndarray, sample_rate: int = 22050, config: OnsetConfig | None = None) -> Onsets:
    """Onset times and confidences of a mono waveform (silence -> no onsets)."""
    import librosa

    config = config or OnsetConfig()
    samples = check_wave(wave, sample_rate, min_seconds=config.n_fft / sample_rate)
    with numba_first_use("onsets"):
        envelope, frames = _envelope_and_peaks(samples, sample_rate, config)
    if frames is None:  # flat (e.g. silent): nothing rises
        return Onsets(np.zeros(0), np.zeros(0))
    hop = config.hop_length
    times = librosa.frames_to_time(frames, sr=sample_rate, hop_length=hop)
    return Onsets(np.asarray(times, dtype=np.float64), envelope[frames].astype(np.float64))


def _envelope_and_peaks(samples: np.ndarray, sample_rate: int, config: OnsetConfig):
    import librosa

    envelope = librosa.onset.onset_strength(
        y=samples, sr=sample_rate, n_fft=config.n_fft, hop_length=config.hop_length
    )
    if float(envelope.max() - envelope.min()) <= 0.0:
        return envelope, None
    hop = config.hop_length
    frames = librosa.util.peak_pick(
        (envelope - envelope.min()) / (envelope.max() - envelope.min()),
        pre_max=max(_frames(config.pre_max_s, sample_rate, hop), 1),
        post_max=_frames(config.post_max_s, sample_rate, hop) + 1,
        pre_avg=max(_frames(config.pre_avg_s, sample_rate, hop), 1),
        post_avg=_frames(config.post_avg_s, sample_rate, hop) + 1,
        wait=_frames(config.wait_s, sample_rate, hop),
        delta=config.delta,
    )
    return envelope, frames


def _times(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1) if len(values) else np.zeros(0)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite times")
    return array


def _check_tolerance(tolerance: float) -> None:
    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive (seconds), got {tolerance!r}")


def match_count(generated: np.ndarray, reference: np.ndarray, tolerance: float) -> int:
    """Size of a maximum one-to-one matching with |g - r| <= tolerance (greedy in time order)."""
    gen, ref = np.sort(generated), np.sort(reference)
    hits, g = 0, 0
    for r in ref:
        while g < len(gen) and gen[g] < r - tolerance - _EPS:
            g += 1  # too early for this reference, so for every later one too
        if g < len(gen) and gen[g] <= r + tolerance + _EPS:
            hits += 1
            g += 1
    return hits


def onset_accuracy(
    generated_onsets: Sequence[float] | np.ndarray,
    reference_onsets: Sequence[float] | np.ndarray,
    tolerance: float = DEFAULT_TOLERANCE_S,
) -> float:
    """Share of reference onsets with a generated onset within ``tolerance`` s (NaN if none)."""
    _check_tolerance(tolerance)
    gen, ref = _times(generated_onsets, "generated onsets"), _times(reference_onsets, "reference onsets")
    if len(ref) == 0:
        return float("nan")
    return match_count(gen, ref, tolerance) / len(ref)


def onset_average_precision(
    generated_onsets: Sequence[float] | np.ndarray,
    confidences: Sequence[float] | np.ndarray,
    reference_onsets: Sequence[float] | np.ndarray,
    tolerance: float = DEFAULT_TOLERANCE_S,
) -> float:
    """AP of generated onsets ranked by confidence against reference onsets (see the module docstring)."""
    _check_tolerance(tolerance)
    gen, ref = _times(generated_onsets, "generated onsets"), _times(reference_onsets, "reference onsets")
    conf = _times(confidences, "confidences")
    if len(conf) != len(gen):
        raise ValueError(f"{len(gen)} onsets but {len(conf)} confidences")
    if len(ref) == 0:
        return float("nan")
    order = np.lexsort((gen, -conf))  # by confidence, descending; earlier first on ties
    free = np.ones(len(ref), dtype=bool)
    true_positive = np.zeros(len(gen), dtype=bool)
    for rank, k in enumerate(order):
        distance = np.where(free, np.abs(ref - gen[k]), np.inf)
        nearest = int(np.argmin(distance))
        if distance[nearest] <= tolerance + _EPS:
            free[nearest] = False
            true_positive[rank] = True
    if not len(gen):
        return 0.0
    cumulative = np.cumsum(true_positive)
    precision = cumulative / np.arange(1, len(gen) + 1)
    recall = cumulative / len(ref)
    return float(np.sum(np.diff(np.concatenate(([0.0], recall))) * precision))


def score_against_times(
    generated: Onsets, reference_times: Sequence[float] | np.ndarray, tolerance: float = DEFAULT_TOLERANCE_S
) -> OnsetScore:
    """Detected onsets of a generated clip against known event times (SynthVAS ground truth)."""
    ref = _times(reference_times, "reference onsets")
    accuracy = onset_accuracy(generated.times, ref, tolerance)
    return OnsetScore(
        accuracy=accuracy,
        average_precision=onset_average_precision(generated.times, generated.confidences, ref, tolerance),
        hits=match_count(generated.times, ref, tolerance),
        n_generated=len(generated.times),
        n_reference=len(ref),
    )


def score_onsets(
    generated_wave: np.ndarray,
    reference: np.ndarray | Onsets,
    *,
    sample_rate: int = 22050,
    tolerance: float = DEFAULT_TOLERANCE_S,
    config: OnsetConfig | None = None,
) -> OnsetScore:
    """Onsets of a generated clip against those detected in a reference clip (or given ``Onsets``)."""
    generated = detect_onsets(generated_wave, sample_rate, config)
    ref = reference if isinstance(reference, Onsets) else detect_onsets(reference, sample_rate, config)
    return score_against_times(generated, ref.times, tolerance)


def score_against_events(
    generated_wave: np.ndarray,
    event_times: Sequence[float] | np.ndarray,
    *,
    sample_rate: int = 22050,
    tolerance: float = DEFAULT_TOLERANCE_S,
    config: OnsetConfig | None = None,
) -> OnsetScore:
    """Onsets detected in a generated clip against the true event onsets of its video (SynthVAS)."""
    return score_against_times(detect_onsets(generated_wave, sample_rate, config), event_times, tolerance)


def score_onsets_many(
    generated: Sequence[np.ndarray],
    references: Sequence[np.ndarray | Onsets],
    *,
    sample_rate: int = 22050,
    tolerance: float = DEFAULT_TOLERANCE_S,
    config: OnsetConfig | None = None,
) -> list[OnsetScore]:
    """Each generated clip against its reference clip (a waveform, or its already detected ``Onsets``)."""
    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} generated clips but {len(references)} references")
    return [
        score_onsets(wave, ref, sample_rate=sample_rate, tolerance=tolerance, config=config)
        for wave, ref in zip(generated, references, strict=True)
    ]


def score_against_events_many(
    generated: Sequence[np.ndarray],
    event_times: Sequence[Sequence[float] | np.ndarray],
    *,
    sample_rate: int = 22050,
    tolerance: float = DEFAULT_TOLERANCE_S,
    config: OnsetConfig | None = None,
) -> list[OnsetScore]:
    """Each generated clip against the true event onsets of its video."""
    if len(generated) != len(event_times):
        raise ValueError(f"{len(generated)} generated clips but {len(event_times)} event lists")
    return [
        score_against_events(wave, times, sample_rate=sample_rate, tolerance=tolerance, config=config)
        for wave, times in zip(generated, event_times, strict=True)
    ]
