"""Timbre similarity: Resemblyzer embeddings (batched, VAD-guarded) and the paper's cosine similarity."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from inference.metrics.timbre import (
    EMBEDDING_SIZE,
    TimbreEncoder,
    VadGuard,
    cosine_similarity,
    cosine_similarity_many,
)
from tests.inference.metrics.sounds import SR, render, timbre, tone

vectors = arrays(np.float64, 8, elements=st.floats(-10, 10, allow_nan=False)).filter(
    lambda v: np.linalg.norm(v) > 1e-3
)


def _resemblyzer_preprocess(wave: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import preprocess_wav

    return preprocess_wav(wave, source_sr=SR)


def test_cosine_similarity_is_equation_10() -> None:
    x, y = np.array([1.0, 2.0, 3.0]), np.array([4.0, -5.0, 6.0])
    by_hand = (1 * 4 + 2 * -5 + 3 * 6) / (np.sqrt(1 + 4 + 9) * np.sqrt(16 + 25 + 36))
    assert cosine_similarity(x, y) == pytest.approx(by_hand)
    assert cosine_similarity(x, x) == pytest.approx(1.0)
    assert cosine_similarity(x, -x) == pytest.approx(-1.0)


@given(a=vectors, b=vectors, scale=st.floats(0.01, 100))
def test_cosine_similarity_is_symmetric_bounded_and_scale_free(a, b, scale) -> None:
    value = cosine_similarity(a, b)
    assert -1 - 1e-9 <= value <= 1 + 1e-9
    assert value == pytest.approx(cosine_similarity(b, a))
    assert value == pytest.approx(cosine_similarity(scale * a, b))


def test_cosine_similarity_rejects_zero_vectors_nan_and_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="zero vector"):
        cosine_similarity(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        cosine_similarity(np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match="same length"):
        cosine_similarity(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="same shape"):
        cosine_similarity_many(np.ones((2, 3)), np.ones((3, 3)))


def test_embeddings_are_unit_norm_256_d(timbre_encoder: TimbreEncoder) -> None:
    waves = [render("dog", timbre("dog", 1), seed)[0] for seed in (1, 2, 3)]
    embeddings = timbre_encoder.embed_many(waves)
    assert embeddings.shape == (3, EMBEDDING_SIZE) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_batched_embedding_equals_resemblyzers_own_pipeline(timbre_encoder: TimbreEncoder) -> None:
    """Where the guard does not fire, we embed exactly what preprocess_wav + embed_utterance would."""
    waves = [render(c, timbre(c, 3), 4)[0] for c in ("dog", "drum", "hammer")]
    batched = timbre_encoder.embed_many(waves)
    for wave, embedding in zip(waves, batched, strict=True):
        assert timbre_encoder.prepare(wave).trimmed
        expected = timbre_encoder.encoder.embed_utterance(_resemblyzer_preprocess(wave))
        np.testing.assert_allclose(embedding, expected, atol=1e-5)
    one_by_one = np.stack([timbre_encoder.embed(w) for w in waves])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_small_batches_of_windows_give_the_same_embeddings(timbre_encoder: TimbreEncoder) -> None:
    waves = [render("baby", timbre("baby", 5), s)[0] for s in (1, 2)]
    small = TimbreEncoder("cpu", batch_windows=1)  # one window per forward pass
    np.testing.assert_allclose(small.embed_many(waves), timbre_encoder.embed_many(waves), atol=1e-5)


@pytest.mark.parametrize("category", ["dog", "drum", "hammer"])
def test_the_same_source_is_more_similar_than_a_different_source(
    timbre_encoder: TimbreEncoder, category: str
) -> None:
    same, different = [], []
    for pair in range(2):
        a, b = timbre(category, 100 + pair), timbre(category, 200 + pair)
        reference = render(category, a, 10 + pair)[0]
        same_source = render(category, a, 20 + pair)[0]  # same timbre, other event times
        other_source = render(category, b, 10 + pair)[0]  # other timbre, same event times
        sims = timbre_encoder.similarity_many([same_source, other_source], [reference, reference])
        same.append(sims[0])
        different.append(sims[1])
    assert np.mean(same) > np.mean(different) + 0.05, (same, different)


def test_a_clip_is_perfectly_similar_to_itself(timbre_encoder: TimbreEncoder) -> None:
    wave = render("sneeze", timbre("sneeze", 1), 1)[0]
    assert timbre_encoder.similarity_many([wave], [wave.copy()])[0] == pytest.approx(1.0, abs=1e-5)


def test_tones_are_closer_to_tones_than_to_noise(timbre_encoder: TimbreEncoder) -> None:
    noise = (0.1 * np.random.default_rng(0).normal(size=3 * SR)).astype(np.float32)
    a, b, n = timbre_encoder.embed_many([tone(440), tone(466), noise])
    assert cosine_similarity(a, b) > cosine_similarity(a, n)


def test_the_guard_embeds_the_whole_clip_when_vad_discards_almost_everything(
    timbre_encoder: TimbreEncoder,
) -> None:
    # webrtcvad hears no speech at all in a steady 6 kHz whistle: trimming would leave nothing.
    whistle = tone(6000, amplitude=0.003)  # -53 dBFS: Resemblyzer raises it to -30 dBFS
    prepared = timbre_encoder.prepare(whistle)
    assert not prepared.trimmed
    assert prepared.kept_fraction < 0.05
    assert len(prepared.samples) == 3 * 16000  # the whole clip, resampled to 16 kHz
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(prepared.samples.astype(np.float64) ** 2)))
    assert rms_dbfs == pytest.approx(-30, abs=0.1)  # volume-normalised as Resemblyzer does
    assert np.isfinite(timbre_encoder.embed(whistle)).all()


def test_the_guard_keeps_vad_trimming_of_sparse_events(timbre_encoder: TimbreEncoder) -> None:
    prepared = timbre_encoder.prepare(render("dog", timbre("dog", 7), 7, seconds=10.0)[0])
    assert prepared.trimmed and prepared.kept_fraction < 0.6  # the silences between barks go


def test_guard_thresholds_are_configurable() -> None:
    with pytest.raises(ValueError):
        VadGuard(min_kept_fraction=1.5)


def test_a_strict_guard_falls_back_on_a_trimmed_clip(timbre_encoder: TimbreEncoder) -> None:
    strict = TimbreEncoder("cpu", guard=VadGuard(min_kept_seconds=0.0, min_kept_fraction=0.99))
    wave = render("dog", timbre("dog", 7), 7)[0]
    assert timbre_encoder.prepare(wave).trimmed
    assert not strict.prepare(wave).trimmed


@pytest.mark.parametrize(
    ("wave", "message"),
    [
        (np.zeros(SR, dtype=np.float32), "silent"),
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.full(SR, np.nan, dtype=np.float32), "NaN"),
        (np.ones((2, SR), dtype=np.float32), "1-D"),
        (np.ones(SR, dtype=np.int16), "float"),
        (np.ones(100, dtype=np.float32), "long"),
    ],
)
def test_unusable_audio_is_rejected_with_a_clear_error(
    timbre_encoder: TimbreEncoder, wave: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        timbre_encoder.embed_many([tone(440), wave])


def test_the_sample_rate_is_validated_and_other_rates_are_resampled(timbre_encoder: TimbreEncoder) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        timbre_encoder.embed(tone(440), sample_rate=0)
    at_16k = timbre_encoder.prepare(tone(440)[: 16000 * 2], sample_rate=16000)
    assert len(at_16k.samples) == 32000  # already at the encoder's rate: no resampling


def test_similarity_many_needs_one_reference_per_clip(timbre_encoder: TimbreEncoder) -> None:
    with pytest.raises(ValueError, match="references"):
        timbre_encoder.similarity_many([tone(440)], [])
    assert timbre_encoder.similarity_many([], []).shape == (0,)


def test_the_shortest_accepted_clip_is_embedded_whole(timbre_encoder: TimbreEncoder) -> None:
    short = tone(440, seconds=0.1)
    prepared = timbre_encoder.prepare(short)
    assert not prepared.trimmed and len(prepared.samples) == 1600  # 0.1 s at 16 kHz, below 0.5 s
    assert np.linalg.norm(timbre_encoder.embed(short)) == pytest.approx(1.0, abs=1e-5)
