"""SynthVAS timbre: clips with different timbre parameters sound different, the same parameters with
different event times sound the same, measured with Resemblyzer (as the paper's cosine similarity)
and with a mel-statistics distance."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from inference.data.synth_events import CATEGORIES, sample_events
from inference.data.synth_sounds import Timbre, sample_timbre, synthesize
from inference.mel import HifiganMel

SR = 22050


def _render(category: str, timbre: Timbre, event_seed: int, seconds: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(event_seed)
    events = sample_events(category, duration_s=seconds, fps=21.5, event_s=tuple(timbre["event_s"]), rng=rng)
    # The same quiet background for every rendering: only the source's timbre may differ.
    return synthesize(
        category,
        timbre,
        events,
        duration_s=seconds,
        sample_rate=SR,
        background_dbfs=-50.0,
        background_exponent=-1.0,
        rng=rng,
    )


def _spectral_shape(samples: np.ndarray, mel: HifiganMel) -> np.ndarray:
    """Mean log-mel shape of the frames where the source sounds (level removed frame by frame)."""
    log_mel = mel(torch.from_numpy(samples)).numpy()
    level = log_mel.max(axis=0)
    active = log_mel[:, level > np.percentile(level, 5) + 3.0]
    return (active - active.mean(axis=0, keepdims=True)).mean(axis=1)


def _distance(a: np.ndarray, b: np.ndarray, mel: HifiganMel) -> float:
    return float(np.abs(_spectral_shape(a, mel) - _spectral_shape(b, mel)).mean())


@pytest.fixture(scope="module")
def encoder():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder

        return VoiceEncoder("cpu", verbose=False)  # weights ship inside the wheel: no download


def _embedding(encoder, samples: np.ndarray) -> np.ndarray:
    import librosa
    from resemblyzer import preprocess_wav
    from resemblyzer.audio import normalize_volume
    from resemblyzer.hparams import audio_norm_target_dBFS, sampling_rate

    wav = preprocess_wav(samples, source_sr=SR)
    # Resemblyzer's voice-activity trimming is tuned for speech and can cut most of a sound effect:
    # then embed the whole clip, only resampled and level-normalised.
    if len(wav) < 0.5 * len(samples) * sampling_rate / SR:
        wav = normalize_volume(
            librosa.resample(samples, orig_sr=SR, target_sr=sampling_rate),
            audio_norm_target_dBFS,
            increase_only=True,
        )
    return encoder.embed_utterance(wav)


@pytest.mark.parametrize("category", CATEGORIES)
def test_mel_statistics_separate_different_timbres_from_the_same_timbre(category: str) -> None:
    mel = HifiganMel()
    same, different = [], []
    for pair in range(4):
        a = sample_timbre(category, np.random.default_rng(100 + pair))
        b = sample_timbre(category, np.random.default_rng(200 + pair))
        a_first, a_second, b_first = (
            _render(category, a, 10 + pair),
            _render(category, a, 20 + pair),
            _render(category, b, 10 + pair),
        )
        same.append(_distance(a_first, a_second, mel))  # same source, other events
        different.append(_distance(a_first, b_first, mel))  # other source, same event times
    assert np.mean(different) > 2 * np.mean(same), (
        f"same {np.round(same, 3)}, different {np.round(different, 3)}"
    )


def test_changing_one_timbre_parameter_is_measurable() -> None:
    mel = HifiganMel()
    dog = sample_timbre("dog", np.random.default_rng(1))
    bigger_dog = {**dog, "f0": dog["f0"] * 0.55, "formants": [f * 0.7 for f in dog["formants"]]}
    reference = _render("dog", dog, 1)
    assert _distance(reference, _render("dog", bigger_dog, 1), mel) > 3 * _distance(
        reference, _render("dog", dog, 2), mel
    )


@pytest.mark.parametrize("category", ["baby", "dog", "drum", "sneeze"])
def test_resemblyzer_finds_the_same_timbre_closer_than_a_different_one(encoder, category: str) -> None:
    same, different = [], []
    for pair in range(3):
        a = sample_timbre(category, np.random.default_rng(100 + pair))
        b = sample_timbre(category, np.random.default_rng(200 + pair))
        reference = _embedding(encoder, _render(category, a, 10 + pair))
        same.append(float(reference @ _embedding(encoder, _render(category, a, 20 + pair))))
        different.append(float(reference @ _embedding(encoder, _render(category, b, 10 + pair))))
    message = f"cosine same {np.round(same, 3)}, different {np.round(different, 3)}"
    assert np.mean(same) > np.mean(different) + 0.02, message
    assert min(same) > 0.85, message
