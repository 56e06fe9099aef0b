"""OSG (V2RA paper, eq. 12): 0.57 MMS + 0.52 MSF + 0.45 RMS differences; 0 for identical clips."""

from __future__ import annotations

import numpy as np
import pytest

from inference.metrics.osg import OsgFeatures, osg, osg_features, osg_from_features, osg_many
from tests.inference.metrics.sounds import SR, render, timbre, tone


def _am_tone(depth: float, rate_hz: float = 4.0, seconds: float = 4.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (0.3 * (1 + depth * np.sin(2 * np.pi * rate_hz * t)) * np.sin(2 * np.pi * 1000 * t)).astype(
        np.float32
    )


def test_identical_clips_have_osg_0() -> None:
    wave = render("dog", timbre("dog", 1), 1)[0]
    result = osg(wave, wave.copy())
    assert (result.mms, result.msf, result.rms, result.osg) == (0.0, 0.0, 0.0, 0.0)


def test_the_weights_reproduce_table_6_of_the_paper() -> None:
    """Table 6, row [14]: MMS 2.9515, MSF 11.5635, RMS 0.4626 -> OSG 7.9039."""
    result = osg_from_features(OsgFeatures(2.9515, 11.5635, 0.4626), OsgFeatures(0.0, 0.0, 0.0))
    assert result.osg == pytest.approx(7.9039, abs=5e-4)


def test_osg_is_the_weighted_sum_of_absolute_feature_differences_and_symmetric() -> None:
    a, b = render("drum", timbre("drum", 1), 1)[0], render("drum", timbre("drum", 2), 2)[0]
    ab, ba = osg(a, b), osg(b, a)
    assert ab == ba
    assert ab.osg == pytest.approx(0.57 * ab.mms + 0.52 * ab.msf + 0.45 * ab.rms)
    assert min(ab.mms, ab.msf, ab.rms) >= 0 and ab.osg > 0


def test_max_modulation_reads_the_depth_of_a_sinusoidal_amplitude_modulation() -> None:
    for depth in (0.2, 0.5, 0.8):
        assert osg_features(_am_tone(depth)).max_modulation == pytest.approx(depth, rel=0.1)
    assert osg_features(tone(1000, seconds=4.0)).max_modulation < 0.01


def test_the_level_only_changes_the_rms_term() -> None:
    wave = render("hammer", timbre("hammer", 1), 1)[0]
    result = osg(0.5 * wave, wave)
    assert result.mms == pytest.approx(0.0, abs=1e-6)
    assert result.msf == pytest.approx(0.0, abs=1e-6)
    assert result.rms == pytest.approx(0.5 * osg_features(wave).rms)


def test_spectral_flux_separates_steady_tones_from_noise() -> None:
    noise = (0.1 * np.random.default_rng(0).normal(size=3 * SR)).astype(np.float32)
    assert osg_features(noise).mean_flux > 10 * osg_features(tone(440)).mean_flux


def test_osg_many_pairs_clips_and_analyses_a_shared_reference_once() -> None:
    reference = render("gun", timbre("gun", 1), 1)[0]
    others = [render("gun", timbre("gun", s), s)[0] for s in (2, 3)]
    results = osg_many([reference, *others], [reference] * 3)
    assert results[0].osg == 0.0
    assert results[1:] == [osg(o, reference) for o in others]
    with pytest.raises(ValueError, match="references"):
        osg_many([reference], [])


def test_bad_audio_is_rejected() -> None:
    with pytest.raises(ValueError, match="2 s"):
        osg_features(tone(440, seconds=1.0))
    with pytest.raises(ValueError, match="NaN"):
        osg_features(np.full(3 * SR, np.nan, dtype=np.float32))
    silence = osg_features(np.zeros(3 * SR, dtype=np.float32))
    assert silence == OsgFeatures(0.0, 0.0, 0.0)  # silence is a valid (empty) clip here
