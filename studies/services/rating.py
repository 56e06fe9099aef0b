"""Handing out work and taking ratings: balanced assignment, idempotent ratings, screening.

Balanced assignment: a new assignment gets the test stimuli furthest from the target, counting valid
ratings plus the places already handed out in active assignments (so two raters arriving together
do not both get the same least-rated clips), never one the rater has seen, in random order, mixed
with the attention checks. Assignment creation is serialised per study by locking the study row.

A rating is kept once: the (rater, stimulus) pair is unique in the database; a resubmitted form
returns the stored rating unchanged (the first answer wins, it is never overwritten).
"""

from __future__ import annotations

import random
import secrets
import statistics
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from studies.models import Assignment, AssignmentItem, Rater, Rating, Stimulus, Study

# A rater whose test ratings (at least this many) never vary did not listen (P.808 drops such votes).
LOW_VARIANCE_MIN_RATINGS = 8
MAX_TIME_SPENT_MS = 6 * 3600 * 1000
MAX_PLAYS = 1000


class RatingError(ValueError):
    """A submission that cannot be accepted; the message is safe to show the rater."""


class NoWork(Exception):
    """Every stimulus has (or is about to have) its target of valid ratings, or the rater saw them all."""


def valid_ratings_filter(prefix: str = "") -> Q:
    """Which ratings count: from raters not excluded, in assignments that passed their checks and were
    not rejected on MTurk."""
    return Q(
        **{
            f"{prefix}rater__excluded": False,
            f"{prefix}assignment__passed_checks": True,
        }
    ) & ~Q(**{f"{prefix}assignment__state": Assignment.State.REJECTED})


def study_recount(*, study: Study, stimulus_ids: Iterable[int] | None = None) -> None:
    """Recompute the test stimuli's counts of valid ratings from the ratings themselves (all of them,
    or those of `stimulus_ids`): one grouped count, then an update of the stimuli whose count changed.

    Recounts of one study run one at a time, under the study's row lock: two raters finishing at the
    same moment would otherwise update overlapping sets of stimuli in different orders, and
    PostgreSQL would abort one of them as a deadlock (seen in bench/bench_rating_load.py)."""
    with transaction.atomic():
        list(Study.objects.select_for_update().filter(pk=study.pk).values_list("pk", flat=True))
        _recount_locked(study, None if stimulus_ids is None else sorted(set(stimulus_ids)))


def _recount_locked(study: Study, stimulus_ids: list[int] | None) -> None:
    ratings = Rating.objects.filter(valid_ratings_filter(), study=study, stimulus__role=Stimulus.Role.TEST)
    stimuli = Stimulus.objects.filter(study=study, role=Stimulus.Role.TEST)
    if stimulus_ids is not None:
        ratings = ratings.filter(stimulus_id__in=stimulus_ids)
        stimuli = stimuli.filter(pk__in=stimulus_ids)
    counts = dict(ratings.values_list("stimulus").annotate(n=Count("pk")).order_by())
    changed = []
    for stimulus in stimuli.only("pk", "valid_ratings"):
        valid = counts.get(stimulus.pk, 0)
        if stimulus.valid_ratings != valid:
            stimulus.valid_ratings = valid
            changed.append(stimulus)
    Stimulus.objects.bulk_update(changed, ["valid_ratings"], batch_size=1000)


def _in_flight(study: Study) -> dict[int, int]:
    """Places handed out in active assignments and not yet answered, per stimulus. An assignment older
    than the study's assignment duration no longer holds its places (its rater may still finish it;
    the clip then simply gets one rating more than the target).

    Three index lookups by assignment and a count in Python: one joined query with an anti-join on
    ratings took 66 ms with 100 active assignments when the planner's statistics were stale, and it
    runs under the study's lock, so every arriving rater waited for it."""
    since = timezone.now() - timedelta(seconds=study.assignment_duration_s)
    active = list(
        Assignment.objects.filter(study=study, state=Assignment.State.ACTIVE, created_at__gte=since)
        .values_list("pk", flat=True)
        .order_by()
    )
    if not active:
        return {}
    answered = set(
        Rating.objects.filter(assignment_id__in=active).values_list("assignment_id", "stimulus_id").order_by()
    )
    held: Counter[int] = Counter()
    items = AssignmentItem.objects.filter(assignment_id__in=active).values_list(
        "assignment_id", "stimulus_id"
    )
    for pair in items.order_by():
        if pair not in answered:
            held[pair[1]] += 1
    return held


def assignment_claim(
    *, study: Study, rater: Rater, mturk_assignment_id: str | None = None, hit=None, turk_submit_to: str = ""
) -> Assignment:
    """The rater's active assignment, or a new balanced one. Raises NoWork when nothing is left."""
    if rater.study_id != study.pk:
        raise RatingError("this rater belongs to another study")
    if rater.blocked:
        raise RatingError("this rater can no longer take part in the study")
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if mturk_assignment_id:
            existing = Assignment.objects.filter(mturk_assignment_id=mturk_assignment_id).first()
            if existing is not None:
                if existing.rater_id != rater.pk or existing.study_id != study.pk:
                    raise RatingError("this MTurk assignment belongs to another worker")
                return existing
        else:
            existing = Assignment.objects.filter(
                study=study, rater=rater, state=Assignment.State.ACTIVE, mturk_assignment_id=None
            ).first()
            if existing is not None:
                return existing
        if not study.is_open:
            raise NoWork("the study is not open")
        seen = set(
            AssignmentItem.objects.filter(assignment__rater=rater).values_list("stimulus_id", flat=True)
        )
        in_flight = _in_flight(study)
        rng = random.Random(secrets.randbits(64))
        candidates = []
        tests = Stimulus.objects.filter(study=study, role="test").values_list(
            "pk", "valid_ratings", "category", "system"
        )
        for pk, valid, category, system in tests:
            load = valid + in_flight.get(pk, 0)
            if pk not in seen and load < study.ratings_per_stimulus:
                candidates.append((load, (category, system), pk))
        if not candidates:
            raise NoWork("every clip has the ratings it needs")
        chosen = _least_loaded_mixed(candidates, study.stimuli_per_assignment, rng)
        chosen += _checks(study, seen, rng)
        rng.shuffle(chosen)
        assignment = Assignment.objects.create(
            study=study,
            rater=rater,
            mturk_assignment_id=mturk_assignment_id or None,
            hit=hit,
            turk_submit_to=turk_submit_to,
        )
        AssignmentItem.objects.bulk_create(
            [AssignmentItem(assignment=assignment, stimulus_id=pk, position=i) for i, pk in enumerate(chosen)]
        )
    return assignment


def _least_loaded_mixed(
    candidates: list[tuple[int, tuple[str, str], int]], k: int, rng: random.Random
) -> list[int]:
    """k clips, least loaded first; within a load level, round-robin over category × system in random
    order, so an assignment mixes systems and categories instead of drawing them by chance."""
    by_load: dict[int, dict[tuple[str, str], list[int]]] = {}
    for load, condition, pk in candidates:
        by_load.setdefault(load, {}).setdefault(condition, []).append(pk)
    chosen: list[int] = []
    for load in sorted(by_load):
        buckets = list(by_load[load].values())
        for bucket in buckets:
            rng.shuffle(bucket)
        rng.shuffle(buckets)
        while buckets and len(chosen) < k:
            for bucket in list(buckets):
                if len(chosen) == k:
                    break
                chosen.append(bucket.pop())
                if not bucket:
                    buckets.remove(bucket)
        if len(chosen) == k:
            break
    return chosen


def _checks(study: Study, seen: set[int], rng: random.Random) -> list[int]:
    pool: dict[str, list[int]] = {"gold_high": [], "gold_low": [], "trap": []}
    checks = Stimulus.objects.filter(study=study, role__in=list(pool)).values_list("pk", "role")
    for pk, role in checks:
        if pk not in seen:
            pool[role].append(pk)
    for ids in pool.values():
        rng.shuffle(ids)
    golds = []
    for i in range(study.gold_per_assignment):  # alternate high and low, starting at random
        role = ("gold_high", "gold_low")[(i + rng.randint(0, 1)) % 2]
        if pool[role]:
            golds.append(pool[role].pop())
    return golds + pool["trap"][: study.traps_per_assignment]


@dataclass(frozen=True)
class Submitted:
    rating: Rating
    created: bool  # False: the same rating had been stored before (a resubmission)
    assignment_done: bool


def _int_field(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise RatingError(f"{name} must be a whole number")
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise RatingError(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise RatingError(f"{name} must be between {low} and {high}")
    return number


def rating_submit(
    *,
    assignment: Assignment,
    stimulus_uid: str,
    score,
    time_spent_ms=0,
    play_count=0,
    played_to_end=False,
) -> Submitted:
    """Store one rating of one stimulus of the rater's assignment; safe to call again with the same form."""
    score = _int_field(score, "score", 1, 5)
    time_spent_ms = _int_field(time_spent_ms or 0, "time spent", 0, MAX_TIME_SPENT_MS)
    play_count = _int_field(play_count or 0, "play count", 0, MAX_PLAYS)
    item = (
        AssignmentItem.objects.select_related("stimulus")
        .filter(assignment=assignment, stimulus__uid=stimulus_uid)
        .first()
        if _is_uuid(stimulus_uid)
        else None
    )
    if item is None:
        raise RatingError("this clip is not part of your task")
    existing = Rating.objects.filter(rater_id=assignment.rater_id, stimulus=item.stimulus).first()
    if existing is not None:
        # A resubmission, perhaps after a failure between storing the last rating and closing the
        # assignment (a database restart): finish that closing now.
        return Submitted(existing, False, _complete_if_all_rated(assignment))
    if assignment.state == Assignment.State.ABANDONED:
        raise RatingError("this study has closed; thank you for your time")
    if assignment.state != Assignment.State.ACTIVE:
        raise RatingError("this task has already been submitted")
    if play_count < 1:
        raise RatingError("please play the clip to the end before rating it")
    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                study_id=assignment.study_id,
                rater_id=assignment.rater_id,
                stimulus=item.stimulus,
                assignment=assignment,
                score=score,
                time_spent_ms=time_spent_ms,
                play_count=play_count,
                played_to_end=bool(played_to_end),
                rubric_version=assignment.study.rubric_version,
            )
    except IntegrityError:  # a concurrent duplicate of this very submission won the race
        rating = Rating.objects.get(rater_id=assignment.rater_id, stimulus=item.stimulus)
        return Submitted(rating, False, _complete_if_all_rated(assignment))
    return Submitted(rating, True, _complete_if_all_rated(assignment))


def _complete_if_all_rated(assignment: Assignment) -> bool:
    if assignment.state != Assignment.State.ACTIVE:
        return True
    if assignment_next_item(assignment) is not None:
        return False
    return assignment_complete(assignment=assignment)


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def assignment_next_item(assignment: Assignment) -> AssignmentItem | None:
    return (
        AssignmentItem.objects.select_related("stimulus")
        .filter(assignment=assignment)
        .exclude(stimulus__ratings__rater_id=assignment.rater_id)
        .order_by("position")
        .first()
    )


def assignment_complete(*, assignment: Assignment) -> bool:
    """Close an assignment whose items are all rated: score its checks, screen its rater, recount.
    Exactly one caller wins (conditional update); the others see it done."""
    failures = []
    ratings = Rating.objects.filter(assignment=assignment).select_related("stimulus")
    gold_wrong = gold_total = 0
    for rating in ratings:
        stimulus = rating.stimulus
        if not rating.played_to_end:
            failures.append(f"did not play a clip to the end (item {stimulus.uid.hex[:8]})")
        if stimulus.role == Stimulus.Role.TRAP and not stimulus.accepts(rating.score):
            failures.append(f"trap: asked for {stimulus.expected_min}, answered {rating.score}")
        elif stimulus.role in (Stimulus.Role.GOLD_HIGH, Stimulus.Role.GOLD_LOW):
            gold_total += 1
            if not stimulus.accepts(rating.score):
                gold_wrong += 1
    # One slip on a gold clip is forgiven; missing more than half of them is not.
    if gold_total and gold_wrong * 2 > gold_total:
        failures.append(f"gold: {gold_wrong} of {gold_total} clearly good/broken clips misjudged")
    code = secrets.token_hex(4).upper()
    changed = Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.ACTIVE).update(
        state=Assignment.State.SUBMITTED,
        submitted_at=timezone.now(),
        passed_checks=not failures,
        check_failures=failures,
        completion_code=code,
    )
    assignment.refresh_from_db()
    if changed:
        rater_screen(rater=assignment.rater)
        # Only the counts of clips this rater rated can change: this assignment's, and, if the rater
        # was excluded just now, those of their earlier assignments.
        study_recount(
            study=assignment.study,
            stimulus_ids=Rating.objects.filter(rater_id=assignment.rater_id).values_list(
                "stimulus_id", flat=True
            ),
        )
    return True


def rater_screen(*, rater: Rater) -> Rater:
    """Exclude a rater (with the reason) who failed any assignment's checks or whose test ratings never
    vary; their ratings stay stored but leave the numbers. Exclusion is never undone automatically."""
    if rater.excluded:
        return rater
    reasons = []
    failed = Assignment.objects.filter(rater=rater, passed_checks=False)
    for assignment in failed[:3]:
        reasons.append("; ".join(assignment.check_failures) or "failed the checks")
    scores = list(Rating.objects.filter(rater=rater, stimulus__role="test").values_list("score", flat=True))
    if len(scores) >= LOW_VARIANCE_MIN_RATINGS and statistics.pstdev(scores) == 0:
        reasons.append(f"gave every one of {len(scores)} clips the same score")
    if reasons:
        Rater.objects.filter(pk=rater.pk).update(excluded=True, exclusion_reason="; ".join(reasons)[:300])
        rater.refresh_from_db()
    return rater
