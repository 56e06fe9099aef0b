"""Onset alignment: detection, accuracy (hits within 0.1 s) and AP, against audio or known event times."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from inference.metrics.onsets import (
    Onsets,
    detect_onsets,
    match_count,
    onset_accuracy,
    onset_average_precision,
    score_against_events,
    score_against_events_many,
    score_onsets,
    score_onsets_many,
)
from tests.inference.metrics.sounds import SR, clicks, render, timbre

TIMES = [0.5, 1.5, 2.5, 3.5, 4.2]
onset_lists = st.lists(st.floats(0, 10, allow_nan=False), max_size=12)


def test_clicks_are_detected_where_they_are() -> None:
    detected = detect_onsets(clicks(TIMES))
    assert len(detected.times) == len(TIMES)
    assert np.max(np.abs(detected.times - TIMES)) < 0.03
    assert np.all(detected.confidences > 0)


def test_identical_audio_scores_accuracy_1_and_ap_1() -> None:
    score = score_onsets(clicks(TIMES), clicks(TIMES))
    assert (score.accuracy, score.average_precision) == (1.0, 1.0)
    assert score.hits == score.n_reference == score.n_generated == 5


def test_audio_shifted_by_300_ms_scores_0() -> None:
    score = score_onsets(clicks([t + 0.3 for t in TIMES]), clicks(TIMES))
    assert (score.accuracy, score.average_precision) == (0.0, 0.0)


def test_clicks_score_1_against_their_true_times_even_with_background_noise() -> None:
    score = score_against_events(clicks(TIMES, noise=0.002), TIMES)
    assert score.accuracy == 1.0 and score.average_precision == 1.0


def test_half_the_events_give_accuracy_one_half() -> None:
    score = score_onsets(clicks(TIMES[:2] + [TIMES[3]]), clicks(TIMES[:4]))
    assert score.accuracy == 0.75
    assert 0.5 < score.average_precision <= 0.75


@pytest.mark.parametrize("category", ["dog", "drum", "gun", "hammer"])
def test_synthvas_clips_are_scored_against_their_true_event_times(category: str) -> None:
    wave, events = render(category, timbre(category, 3), 3, seconds=5.0)
    score = score_against_events(wave, [e.onset_s for e in events])
    assert score.accuracy == 1.0 and score.average_precision > 0.5


def test_accuracy_is_hits_over_reference_onsets_with_one_to_one_matching() -> None:
    assert onset_accuracy([1.0], [0.95, 1.05]) == 0.5  # one generated onset hits one reference only
    assert onset_accuracy([0.95, 1.05], [1.0]) == 1.0
    assert onset_accuracy([1.1], [1.0]) == 1.0  # the 0.1 s window is inclusive
    assert onset_accuracy([1.11], [1.0]) == 0.0
    assert onset_accuracy([1.0, 2.0, 3.0], [2.05]) == 1.0
    assert onset_accuracy([], [1.0]) == 0.0
    assert math.isnan(onset_accuracy([1.0], []))  # undefined without reference onsets
    assert onset_accuracy([1.25], [1.0], tolerance=0.3) == 1.0


@settings(max_examples=200, deadline=None)
@given(generated=onset_lists, reference=onset_lists, tolerance=st.sampled_from([0.05, 0.1, 0.5]))
def test_greedy_matching_is_a_maximum_matching(generated, reference, tolerance) -> None:
    gen, ref = np.array(generated), np.array(reference)
    if len(gen) == 0 or len(ref) == 0:
        assert match_count(gen, ref, tolerance) == 0
        return
    close = np.abs(ref[:, None] - gen[None, :]) <= tolerance + 1e-9
    matching = maximum_bipartite_matching(csr_matrix(close.astype(np.int8)), perm_type="column")
    assert match_count(gen, ref, tolerance) == int(np.sum(matching >= 0))


def test_ap_ranks_detections_by_confidence() -> None:
    reference = [1.0, 2.0]
    # A confident false alarm first: precision 0, 1/2, 2/3 at recall 0, 1/2, 1.
    ap = onset_average_precision([5.0, 1.0, 2.0], [0.9, 0.8, 0.7], reference)
    assert ap == pytest.approx(0.5 * 1 / 2 + 0.5 * 2 / 3)
    # The same detections with the false alarm least confident: both hits come first.
    assert onset_average_precision([5.0, 1.0, 2.0], [0.1, 0.8, 0.7], reference) == 1.0
    # A missed reference onset caps AP at the recall reached.
    assert onset_average_precision([1.0], [0.5], reference) == 0.5
    assert onset_average_precision([], [], reference) == 0.0
    assert math.isnan(onset_average_precision([1.0], [0.5], []))


def test_ap_counts_a_second_detection_of_one_event_as_a_false_alarm() -> None:
    # Ranked: hit, duplicate of the same event (false alarm), hit -> precision 1, 1/2, 2/3.
    ap = onset_average_precision([1.0, 1.02, 3.0], [0.9, 0.8, 0.7], [1.0, 3.0])
    assert ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


@settings(max_examples=100, deadline=None)
@given(generated=onset_lists, reference=onset_lists, seed=st.integers(0, 1000))
def test_ap_lies_in_0_1_and_never_exceeds_recall(generated, reference, seed) -> None:
    confidences = np.random.default_rng(seed).random(len(generated))
    ap = onset_average_precision(generated, confidences, reference)
    if not reference:
        assert math.isnan(ap)
        return
    assert 0.0 <= ap <= 1.0
    assert ap <= match_count(np.array(generated), np.array(reference), 0.1) / len(reference) + 1e-9


def test_silence_has_no_onsets() -> None:
    detected = detect_onsets(np.zeros(SR, dtype=np.float32))
    assert len(detected.times) == 0
    assert math.isnan(score_onsets(clicks(TIMES), np.zeros(5 * SR, dtype=np.float32)).accuracy)


def test_batch_scoring_against_audio_detected_onsets_and_event_times() -> None:
    reference = clicks(TIMES)
    precomputed = detect_onsets(reference)
    scores = score_onsets_many([clicks(TIMES), clicks(TIMES)], [reference, precomputed])
    assert [s.accuracy for s in scores] == [1.0, 1.0]
    by_events = score_against_events_many([clicks(TIMES), clicks(TIMES[:1])], [TIMES, TIMES])
    assert [s.accuracy for s in by_events] == [1.0, 0.2]
    with pytest.raises(ValueError, match="references"):
        score_onsets_many([reference], [])


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        detect_onsets(np.full(SR, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="sample_rate"):
        detect_onsets(clicks(TIMES), sample_rate=-1)
    with pytest.raises(ValueError, match="long"):
        detect_onsets(np.ones(100, dtype=np.float32))
    with pytest.raises(ValueError, match="confidences"):
        onset_average_precision([1.0, 2.0], [0.5], [1.0])
    with pytest.raises(ValueError, match="tolerance"):
        onset_accuracy([1.0], [1.0], tolerance=0.0)
    with pytest.raises(ValueError, match="NaN"):
        onset_accuracy([float("nan")], [1.0])
    assert isinstance(detect_onsets(clicks(TIMES)), Onsets)


def test_f1_penalises_extra_onsets_that_accuracy_ignores():
    from inference.metrics.onsets import Onsets, score_against_times

    reference = [1.0, 3.0, 5.0]
    exact = score_against_times(Onsets(np.array(reference), np.ones(3)), reference)
    dense_times = np.arange(0.0, 10.0, 0.1)  # an onset every 100 ms: every reference is "hit"
    dense = score_against_times(Onsets(dense_times, np.ones(dense_times.size)), reference)
    assert exact.accuracy == dense.accuracy == 1.0
    assert exact.precision == exact.f1 == 1.0
    assert dense.precision == pytest.approx(3 / dense_times.size)
    assert dense.f1 == pytest.approx(2 * 3 / (dense_times.size + 3))
    silent = score_against_times(Onsets(np.zeros(0), np.zeros(0)), reference)
    assert np.isnan(silent.precision) and silent.f1 == 0.0
