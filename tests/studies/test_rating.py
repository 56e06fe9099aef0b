"""Handing out work and taking ratings: balanced, idempotent, screened; results equal a direct count."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import numpy as np
import pytest
from django.db import IntegrityError, transaction
from scipy import stats as sps

from studies.models import Assignment, AssignmentItem, Rater, Rating, Stimulus, Study
from studies.services.rating import NoWork, RatingError, assignment_claim, assignment_next_item, rating_submit
from studies.services.results import study_results
from studies.services.studies import invites_create, study_create, study_open
from tests.studies.factories import finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(settings, django_capture_on_commit_callbacks) -> Study:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run()
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(
            run=run, kind="realism", ratings_per_stimulus=3, stimuli_per_assignment=6, gold_per_assignment=2
        )
    return study_open(study=Study.objects.get(pk=study.pk))


def honest_score(stimulus: Stimulus, rng: random.Random) -> int:
    """What a careful rater answers: the check's expected score, or a system-dependent opinion."""
    if stimulus.is_check:
        return (
            stimulus.expected_min
            if stimulus.role == "trap"
            else rng.randint(stimulus.expected_min, stimulus.expected_max)
        )
    base = {"ground_truth": 4.4, "baseline": 3.0, "proposed": 4.0}[stimulus.system]
    return int(min(5, max(1, round(base + rng.gauss(0, 0.7)))))


def rate_all(assignment: Assignment, answer, *, resubmit: bool = False) -> None:
    while (item := assignment_next_item(assignment)) is not None:
        score = answer(item.stimulus)
        for _ in range(2 if resubmit else 1):
            rating_submit(
                assignment=assignment, stimulus_uid=str(item.stimulus.uid), score=score,
                time_spent_ms=12000, play_count=1, played_to_end=True,
            )  # fmt: skip
        assignment.refresh_from_db()


def test_an_assignment_mixes_least_rated_clips_with_checks_and_never_repeats_a_clip(study):
    rater = invites_create(study=study, count=1)[0]
    first = assignment_claim(study=study, rater=rater)
    assert assignment_claim(study=study, rater=rater) == first  # resuming, not a second assignment
    roles = list(first.items.values_list("stimulus__role", flat=True))
    assert roles.count("test") == 6 and roles.count("trap") == 1 and len(roles) == 9
    rate_all(first, lambda s: honest_score(s, random.Random(0)))
    first.refresh_from_db()
    assert first.state == Assignment.State.SUBMITTED and first.passed_checks
    second = assignment_claim(study=study, rater=rater)
    seen_first = set(first.items.values_list("stimulus", flat=True))
    assert not seen_first & set(second.items.filter(stimulus__role="test").values_list("stimulus", flat=True))


def test_two_raters_arriving_together_get_different_least_rated_clips(study):
    a, b = invites_create(study=study, count=2)
    first = set(
        assignment_claim(study=study, rater=a)
        .items.filter(stimulus__role="test")
        .values_list("stimulus", flat=True)
    )
    second = set(
        assignment_claim(study=study, rater=b)
        .items.filter(stimulus__role="test")
        .values_list("stimulus", flat=True)
    )
    assert not first & second  # 18 clips, 6 each: in-flight places count as load


def test_it_rejects_a_second_rating_for_the_same_stimulus(study):
    rater = invites_create(study=study, count=1)[0]
    assignment = assignment_claim(study=study, rater=rater)
    item = assignment_next_item(assignment)
    kwargs = dict(
        assignment=assignment,
        stimulus_uid=str(item.stimulus.uid),
        time_spent_ms=5,
        play_count=1,
        played_to_end=True,
    )
    first = rating_submit(score=4, **kwargs)
    again = rating_submit(score=2, **kwargs)  # a resubmitted (or altered) form: the first answer stands
    assert first.created and not again.created and again.rating.pk == first.rating.pk
    assert Rating.objects.get(pk=first.rating.pk).score == 4
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(
            study=study, rater=rater, stimulus=item.stimulus, assignment=assignment, score=3
        )


@pytest.mark.parametrize(
    "field, value, message",
    [("score", "6", "between 1 and 5"), ("score", "abc", "whole number"), ("score", None, "whole number"),
     ("score", "3.5", "whole number"), ("play_count", "0", "play the clip"), ("time_spent_ms", "-1", "between"),
     ("stimulus_uid", "not-a-uuid", "not part of your task")],
)  # fmt: skip
def test_malformed_ratings_get_a_clear_error(study, field, value, message):
    rater = invites_create(study=study, count=1)[0]
    assignment = assignment_claim(study=study, rater=rater)
    item = assignment_next_item(assignment)
    kwargs = dict(
        assignment=assignment,
        stimulus_uid=str(item.stimulus.uid),
        score=3,
        time_spent_ms=5,
        play_count=1,
        played_to_end=True,
    )
    kwargs[field] = value
    with pytest.raises(RatingError, match=message):
        rating_submit(**kwargs)
    assert not Rating.objects.exists()


def test_a_rater_cannot_rate_a_clip_of_another_assignment(study):
    a, b = invites_create(study=study, count=2)
    assignment_a = assignment_claim(study=study, rater=a)
    assignment_b = assignment_claim(study=study, rater=b)
    foreign = assignment_b.items.exclude(stimulus__in=assignment_a.items.values("stimulus")).first().stimulus
    with pytest.raises(RatingError, match="not part of your task"):
        rating_submit(
            assignment=assignment_a, stimulus_uid=str(foreign.uid), score=3, play_count=1, played_to_end=True
        )


def test_many_raters_reach_the_target_excluding_exactly_the_cheaters(study):
    """30 raters: honest ones (some resubmitting every form), constant-score clickers, random clickers
    and one who skips to the end of clips. Work stops when every clip has 3 valid ratings; the
    cheaters are excluded with their reason; the table equals a direct computation from the rows."""
    rng = random.Random(7)
    kinds = ["honest"] * 14 + ["resubmitter"] * 6 + ["constant"] * 4 + ["random"] * 4 + ["skipper"] * 2
    rng.shuffle(kinds)
    raters = invites_create(study=study, count=len(kinds))
    cheaters = set()
    for rater, kind in zip(raters, kinds, strict=True):
        for _ in range(3):  # each rater may take up to three assignments
            try:
                assignment = assignment_claim(study=study, rater=rater)
            except NoWork:
                break
            if kind in ("constant", "random", "skipper"):
                cheaters.add(rater.pk)
            if kind == "constant":
                rate_all(assignment, lambda s: 3)
            elif kind == "random":
                # Clicks at random; not listening, it misses the spoken trap's number.
                rate_all(
                    assignment, lambda s: s.expected_min % 5 + 1 if s.role == "trap" else rng.randint(1, 5)
                )
            elif kind == "skipper":
                while (item := assignment_next_item(assignment)) is not None:
                    rating_submit(assignment=assignment, stimulus_uid=str(item.stimulus.uid), score=honest_score(item.stimulus, rng),
                                  play_count=1, played_to_end=False)  # fmt: skip
                    assignment.refresh_from_db()
            else:
                rate_all(assignment, lambda s: honest_score(s, rng), resubmit=kind == "resubmitter")
    tests = Stimulus.objects.filter(study=study, role="test")
    assert all(v >= 3 for v in tests.values_list("valid_ratings", flat=True)), "target not reached"
    late = invites_create(study=study, count=1)[0]
    with pytest.raises(NoWork):
        assignment_claim(study=study, rater=late)
    excluded = set(Rater.objects.filter(study=study, excluded=True).values_list("pk", flat=True))
    assert excluded == cheaters & set(Rating.objects.values_list("rater", flat=True))
    assert all(r.exclusion_reason for r in Rater.objects.filter(excluded=True))
    # No rating counted twice: one row per (rater, stimulus), resubmitters included.
    assert Rating.objects.count() == AssignmentItem.objects.filter(assignment__state="submitted").count()

    result = study_results(study=study, n_boot=200)
    direct = defaultdict(list)
    for rating in Rating.objects.filter(
        stimulus__role="test", rater__excluded=False, assignment__passed_checks=True
    ).select_related("stimulus"):
        direct[(rating.stimulus.category, rating.stimulus.system)].append(rating.score)
        direct[("Average", rating.stimulus.system)].append(rating.score)
    assert result.n_ratings == sum(len(v) for k, v in direct.items() if k[0] != "Average")
    for key, scores in direct.items():
        cell = result.cells[key]
        x = np.asarray(scores, dtype=float)
        assert cell.n == x.size
        assert cell.mean == pytest.approx(x.mean())
        if x.size > 1:
            half = sps.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
            assert cell.t_half == pytest.approx(half)
        assert cell.boot_low <= cell.mean <= cell.boot_high or math.isclose(cell.boot_low, cell.boot_high)
    gt_vs_base = [
        c
        for c in result.comparisons
        if c["category"] == "Average" and {c["a"], c["b"]} == {"GT (vocoded)", "Baseline"}
    ]
    a = direct[("Average", "ground_truth")]
    b = direct[("Average", "baseline")]
    assert gt_vs_base and gt_vs_base[0]["p"] == pytest.approx(
        sps.mannwhitneyu(a, b, alternative="two-sided").pvalue
    )


def test_an_abandoned_assignment_gives_its_clips_back_after_the_assignment_duration(study):
    from datetime import timedelta

    from django.utils import timezone

    Study.objects.filter(pk=study.pk).update(stimuli_per_assignment=18, ratings_per_stimulus=1)
    study.refresh_from_db()
    a, b = invites_create(study=study, count=2)
    assignment_claim(study=study, rater=a)  # takes every clip, then walks away
    with pytest.raises(NoWork):
        assignment_claim(study=study, rater=b)
    Assignment.objects.filter(rater=a).update(
        created_at=timezone.now() - timedelta(seconds=study.assignment_duration_s + 1)
    )
    assert assignment_claim(study=study, rater=b).items.filter(stimulus__role="test").count() == 18


def test_an_assignment_mixes_every_system_and_category_when_all_clips_are_equally_rated(study):
    # 2 categories x 3 systems, 6 clips per assignment: one of each condition, every time.
    for rater in invites_create(study=study, count=3):
        items = assignment_claim(study=study, rater=rater).items.filter(stimulus__role="test")
        conditions = set(items.values_list("stimulus__category", "stimulus__system"))
        assert len(conditions) == 6
