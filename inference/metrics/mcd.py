"""Mel-cepstral distance (Kubichek 1993) between a generated clip and its ground truth, in dB.

    MCD = (10 / ln 10) * sqrt(2 * sum_{d=1..D} (c_d - c'_d)^2), averaged over aligned frames.

**Our analysis** (the formula leaves it open; REFERENCE.md lists how others differ):

* Input: the 80-bin HiFi-GAN log-mel (natural log of magnitude, 0-8 kHz), the format the models
  generate and the vocoder reads; waveforms are analysed with ``inference.mel.HifiganMel``.
* Mel cepstrum: the DCT-II of each frame's 80 log-mel values, scaled as a true cepstrum,
  ``c_d = (1/N) sum_n x_n cos(pi d (n + 1/2) / N)`` (N = 80), i.e. the orthonormal DCT divided by
  sqrt(2N) for d >= 1. With this scale, Parseval gives ``mean_n (x_n - y_n)^2 = (c_0 - c'_0)^2 +
  2 sum_{d>=1} (c_d - c'_d)^2``: the ``2 sum`` of Kubichek's formula *is* the mean squared log-mel
  difference with the level (c_0) removed and the fine detail beyond order D smoothed away, and
  the figures land on the scale of WORLD/SPTK-based tools (a few dB for similar sounds; the paper
  reports 3.1-6.8). The unscaled orthonormal DCT would inflate every value by sqrt(160) ~ 12.6.
* Order D = 13 (c_1..c_13, as pymcd), c_0 excluded: a gain difference alone costs nothing.
* Alignment, both reported: **plain** compares frame t with frame t, truncated to the shorter
  clip (the clips are time-aligned by construction: same video, same length). **DTW** pairs
  frames along the path that minimises the summed frame distances (steps (1,1), (1,0), (0,1), no
  band, our own exact O(T^2) implementation vectorised over rows) and averages the frame MCDs
  along that path. For equal lengths the diagonal is one of the candidate paths, so DTW <= plain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.fft import dct
from scipy.spatial.distance import cdist

from inference.metrics._checks import check_wave

K_DB = 10.0 / math.log(10.0)
DEFAULT_ORDER = 13
N_MELS = 80

Alignment = Literal["plain", "dtw"]


@dataclass(frozen=True)
class MCDResult:
    plain: float  # dB, frame by frame
    dtw: float | None  # dB, along the DTW path (None when DTW was not asked for)
    frames_generated: int
    frames_reference: int
    path_length: int | None  # frame pairs averaged by the DTW figure


def check_log_mel(mel: object, *, name: str = "mel", n_mels: int = N_MELS) -> np.ndarray:
    """A finite (n_mels, T) HiFi-GAN log-mel as float64; refuses what looks like a VAS-format mel."""
    array = np.asarray(mel)
    if array.ndim != 2 or array.shape[0] != n_mels or array.shape[1] < 1:
        raise ValueError(f"{name} must be ({n_mels}, T) with T >= 1, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} must be a float array, got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"{name} contains {int(np.count_nonzero(~np.isfinite(array)))} NaN or infinite values"
        )
    if array.min() >= 0.0 and array.max() <= 1.0:
        # Every cell of a real HiFi-GAN log-mel between ln 1 and ln e is implausible; a VAS-format
        # mel (RegNet/SpecVQGAN, scaled to [0, 1]) always is. Never compare the formats silently.
        raise ValueError(
            f"{name} lies entirely in [0, 1]: it looks like a VAS-format mel; convert it with "
            "inference.mel.vas_to_hifigan_approx or recompute it from the audio"
        )
    return array.astype(np.float64)


def mel_cepstrum(log_mel: np.ndarray, order: int = DEFAULT_ORDER) -> np.ndarray:
    """(T, order + 1) cepstra c_0..c_order of a (n_mels, T) log-mel, true-cepstrum scale (see above)."""
    x = np.asarray(log_mel, dtype=np.float64)
    n = x.shape[0]
    if not 1 <= order < n:
        raise ValueError(f"order must be in [1, {n - 1}] for {n} mel bins, got {order}")
    # scipy's unnormalised DCT-II is 2 * sum_n x_n cos(...): halve and divide by N.
    return (dct(x, type=2, axis=0, norm=None)[: order + 1] / (2.0 * n)).T


def frame_distances(cep_a: np.ndarray, cep_b: np.ndarray) -> np.ndarray:
    """(Ta, Tb) per-frame MCD in dB between two cepstra (T, order + 1), c_0 excluded."""
    # cdist computes each difference directly: identical frames give exactly 0, not rounding noise.
    return K_DB * math.sqrt(2.0) * cdist(cep_a[:, 1:], cep_b[:, 1:])


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j) of the minimum-total-cost monotone path from (0, 0) to (Ta - 1, Tb - 1).

    Row by row: with ``t_j = c_ij + min(D_{i-1,j-1}, D_{i-1,j})``, the horizontal steps give
    ``D_ij = min_{k<=j} (t_k + c_{i,k+1} + ... + c_ij) = S_j + cummin_k (t_k - S_k)`` with S the
    running sum of the row's costs, so each row is a few numpy calls instead of a Python loop.
    """
    ta, tb = cost.shape
    acc = np.empty((ta, tb))
    running = np.cumsum(cost[0])
    acc[0] = running
    for i in range(1, ta):
        prev = acc[i - 1]
        entry = cost[i] + np.minimum(prev, np.concatenate(([np.inf], prev[:-1])))
        running = np.cumsum(cost[i])
        acc[i] = running + np.minimum.accumulate(entry - running)
    i, j = ta - 1, tb - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            # Prefer the diagonal on ties: it keeps the path as short as the optimum allows.
            steps = ((acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j), (acc[i, j - 1], i, j - 1))
            _, i, j = min(steps, key=lambda s: s[0])
        path.append((i, j))
    rows, cols = zip(*reversed(path), strict=True)
    return np.array(rows), np.array(cols)


def mcd_cepstra(cep_gen: np.ndarray, cep_ref: np.ndarray, *, dtw: bool = True) -> MCDResult:
    """Plain (and DTW, unless ``dtw=False``) MCD between two mel-cepstrum sequences (T, order + 1)."""
    if cep_gen.ndim != 2 or cep_ref.ndim != 2 or cep_gen.shape[1] != cep_ref.shape[1]:
        raise ValueError(f"cepstra of different orders: {cep_gen.shape} and {cep_ref.shape}")
    shortest = min(len(cep_gen), len(cep_ref))
    # Plain alignment needs only the diagonal: skip the T x T matrix when DTW is not wanted.
    difference = cep_gen[:shortest, 1:] - cep_ref[:shortest, 1:]
    plain = K_DB * np.sqrt(2.0 * np.sum(difference**2, axis=1))
    dtw_value, path_length = None, None
    if dtw:
        cost = frame_distances(cep_gen, cep_ref)
        rows, cols = dtw_path(cost)
        dtw_value, path_length = float(cost[rows, cols].mean()), len(rows)
    return MCDResult(
        plain=float(plain.mean()),
        dtw=dtw_value,
        frames_generated=len(cep_gen),
        frames_reference=len(cep_ref),
        path_length=path_length,
    )


def mcd(
    generated_mel: np.ndarray, reference_mel: np.ndarray, *, order: int = DEFAULT_ORDER, dtw: bool = True
) -> MCDResult:
    """MCD between two HiFi-GAN log-mels (80, T): plain, and DTW unless ``dtw=False``."""
    gen = check_log_mel(generated_mel, name="generated mel")
    ref = check_log_mel(reference_mel, name="reference mel")
    return mcd_cepstra(mel_cepstrum(gen, order), mel_cepstrum(ref, order), dtw=dtw)


def log_mel_from_wave(wave: np.ndarray, *, sample_rate: int = 22050) -> np.ndarray:
    """The HiFi-GAN log-mel (80, T) of a mono waveform at 22050 Hz, trimmed as the dataset's mels."""
    import torch

    from inference.mel import HIFIGAN_MEL, HifiganMel, mel_frames_for

    if sample_rate != HIFIGAN_MEL.sample_rate:
        raise ValueError(f"the HiFi-GAN mel needs {HIFIGAN_MEL.sample_rate} Hz audio, got {sample_rate} Hz")
    samples = check_wave(wave, sample_rate, name="waveform")
    if mel_frames_for(len(samples)) < 1:
        raise ValueError(f"a waveform of {len(samples)} samples is shorter than one video frame of mel")
    with torch.inference_mode():
        return HifiganMel()(torch.from_numpy(samples)).numpy().astype(np.float64)


def mcd_waves(
    generated: np.ndarray,
    reference: np.ndarray,
    *,
    sample_rate: int = 22050,
    order: int = DEFAULT_ORDER,
    dtw: bool = True,
) -> MCDResult:
    """MCD between two waveforms, analysed with ``log_mel_from_wave``."""
    return mcd(
        log_mel_from_wave(generated, sample_rate=sample_rate),
        log_mel_from_wave(reference, sample_rate=sample_rate),
        order=order,
        dtw=dtw,
    )


def mcd_many(
    generated: Sequence[np.ndarray],
    references: Sequence[np.ndarray],
    *,
    order: int = DEFAULT_ORDER,
    dtw: bool = True,
) -> list[MCDResult]:
    """MCD of each generated log-mel against its reference log-mel (both (80, T))."""
    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} generated mels but {len(references)} references")
    results = []
    for i, (gen, ref) in enumerate(zip(generated, references, strict=True)):
        try:
            results.append(mcd(gen, ref, order=order, dtw=dtw))
        except ValueError as exc:
            raise ValueError(f"pair {i}: {exc}") from exc
    return results
