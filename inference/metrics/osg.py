"""OSG, the objective similarity grade of the V2RA paper (seeds/004, section 4.3.2, eq. 12).

    OSG = 0.57 * MMS + 0.52 * MSF + 0.45 * RMS

**Our reading.** The paper names three acoustic features from Gygi, Kidd & Watson (2007) whose
correlations with perceived similarity give the weights, and says the OSG of two identical clips is
0 and smaller means more similar. Its Table 6 lists MMS, MSF and RMS as non-negative numbers that
are 0 for the ground truth and whose weighted sum reproduces the OSG column
(0.57 * 2.9515 + 0.52 * 11.5635 + 0.45 * 0.4626 = 7.904). So each term is the *absolute difference*
between one scalar feature of the generated clip and the same feature of the reference. The paper
defines the features only by name; we take:

* **MMS, maximum of the modulation spectrum**: the amplitude envelope is the frame RMS (n_fft
  1024, hop 256: 86 Hz), divided by its mean so that the level does not count (RMS has its own
  term); its modulation spectrum is the one-sided amplitude spectrum of the mean-removed envelope
  (Hann window, scaled so that a sinusoidal modulation of depth m reads m); MMS is its maximum over
  modulation frequencies from 0.5 to 20 Hz (the range of event rhythms and roughness below pitch).
* **MSF, mean spectral flux**: the mean over frames of the Euclidean distance between consecutive
  magnitude spectra, each scaled to unit norm (so again level-free); silent frames count as zero
  vectors.
* **RMS**: the root mean square of the whole waveform (linear amplitude).

Because every term is a difference of clip-level statistics, OSG is 0 for identical clips but also
for any two clips that happen to share the three statistics: it is a coarse similarity of texture
and level, not of content. The paper's absolute numbers depend on its unpublished feature code and
are not comparable with ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference.metrics._checks import check_wave

WEIGHTS = (0.57, 0.52, 0.45)  # MMS, MSF, RMS: the correlations from Gygi et al. (2007)
N_FFT = 1024
HOP = 256
MODULATION_BAND_HZ = (0.5, 20.0)


@dataclass(frozen=True)
class OsgFeatures:
    max_modulation: float
    mean_flux: float
    rms: float


@dataclass(frozen=True)
class OsgResult:
    mms: float  # |difference| of max modulation spectrum
    msf: float  # |difference| of mean spectral flux
    rms: float  # |difference| of RMS
    osg: float


def _frames(samples: np.ndarray) -> np.ndarray:
    padded = np.pad(samples.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    count = 1 + (len(padded) - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    return padded[index]  # (frames, N_FFT)


def osg_features(wave: np.ndarray, sample_rate: int = 22050) -> OsgFeatures:
    """The three clip-level features (see the module docstring); needs at least 2 s of audio."""
    # 2 s: the 0.5 Hz lower edge of the modulation band needs at least one period.
    samples = check_wave(wave, sample_rate, min_seconds=2.0)
    frames = _frames(samples)
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))

    envelope = np.sqrt(np.mean(frames**2, axis=1))
    if envelope.mean() > 0:
        envelope = envelope / envelope.mean()
        window = np.hanning(len(envelope))
        spectrum = np.abs(np.fft.rfft((envelope - envelope.mean()) * window)) * 2.0 / window.sum()
        freqs = np.fft.rfftfreq(len(envelope), d=HOP / sample_rate)
        band = (freqs >= MODULATION_BAND_HZ[0]) & (freqs <= MODULATION_BAND_HZ[1])
        max_modulation = float(spectrum[band].max()) if band.any() else 0.0
    else:  # digital silence: nothing is modulated
        max_modulation = 0.0

    magnitude = np.abs(np.fft.rfft(frames * np.hanning(N_FFT)[None, :], axis=1))
    norms = np.linalg.norm(magnitude, axis=1, keepdims=True)
    unit = np.divide(magnitude, norms, out=np.zeros_like(magnitude), where=norms > 1e-12)
    mean_flux = float(np.linalg.norm(np.diff(unit, axis=0), axis=1).mean()) if len(unit) > 1 else 0.0
    return OsgFeatures(max_modulation=max_modulation, mean_flux=mean_flux, rms=rms)


def osg_from_features(generated: OsgFeatures, reference: OsgFeatures) -> OsgResult:
    mms = abs(generated.max_modulation - reference.max_modulation)
    msf = abs(generated.mean_flux - reference.mean_flux)
    rms = abs(generated.rms - reference.rms)
    w_mms, w_msf, w_rms = WEIGHTS
    return OsgResult(mms=mms, msf=msf, rms=rms, osg=w_mms * mms + w_msf * msf + w_rms * rms)


def osg(generated: np.ndarray, reference: np.ndarray, sample_rate: int = 22050) -> OsgResult:
    return osg_from_features(osg_features(generated, sample_rate), osg_features(reference, sample_rate))


def osg_many(
    generated: Sequence[np.ndarray], references: Sequence[np.ndarray], sample_rate: int = 22050
) -> list[OsgResult]:
    """OSG of each generated clip against its reference; a reference object passed twice is analysed once."""
    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} generated clips but {len(references)} references")
    cache: dict[int, OsgFeatures] = {}  # local to this call: keyed by object identity of the arrays

    def features(wave: np.ndarray) -> OsgFeatures:
        if id(wave) not in cache:
            cache[id(wave)] = osg_features(wave, sample_rate)
        return cache[id(wave)]

    return [osg_from_features(features(g), features(r)) for g, r in zip(generated, references, strict=True)]
