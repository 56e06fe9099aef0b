"""Studies: made from a finished generation run, prepared (check media), opened, closed.

study_create ─► Study(preparing) + test stimuli ─► cpu.study_prepare (gold/trap media) ─► draft
draft ─► study_open (local invites / MTurk publish) ─► open ─► study_close ─► closed
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core import signing
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from registry.models import GenerationRun, Sample, Status
from studies.models import Assignment, Kind, Rater, Rating, RubricRevision, Stimulus, Study
from studies.rubrics import INSTRUCTIONS, RUBRICS, rubric_validate

GROUND_TRUTH = "ground_truth"
# Systems rated by default, in the column order of the paper's Tables 1 and 2.
DEFAULT_SYSTEMS = {
    Kind.REALISM: ["ground_truth", "baseline", "proposed"],
    Kind.ALIGNMENT: ["ground_truth", "baseline", "proposed"],
    Kind.TIMBRE: ["baseline", "proposed"],
}
CHECK_POOL = {"gold_high": 4, "gold_low": 4, "trap": 3, "example_high": 1, "example_low": 1}
INVITE_SALT = "studies.invite"


class StudyError(ValueError):
    pass


def default_systems(run: GenerationRun, kind: str) -> list[str]:
    """The paper's columns for this kind (GT / baseline / proposed; timbre without GT), then every
    system imported into the run, in the order they joined it."""
    present = [s["key"] for s in run.spec.get("systems", [])]
    imported = [s["key"] for s in run.spec.get("systems", []) if s.get("kind") == "imported"]
    return [s for s in DEFAULT_SYSTEMS[kind] if s in present] + imported


def _test_samples(run: GenerationRun, kind: str, systems: list[str], categories: list[str]):
    return (
        Sample.objects.filter(
            run=run, task=kind, system__in=systems, category__in=categories, status=Status.SUCCEEDED
        )
        .select_related("pair", "pair__reference_clip", "clip")
        .order_by("category", "system", "pk")
    )


def _reference_files(run: GenerationRun, categories: list[str]) -> dict[int, str]:
    """Timbre: the vocoded ground truth of each reference clip (raters hear the vocoded reference)."""
    return {
        s.clip_id: s.audio.name
        for s in Sample.objects.filter(
            run=run, task="timbre", system=GROUND_TRUTH, category__in=categories, status=Status.SUCCEEDED
        )
    }


def study_create(
    *,
    run: GenerationRun,
    kind: str,
    name: str = "",
    systems: list[str] | None = None,
    categories: list[str] | None = None,
    ratings_per_stimulus: int = 10,
    stimuli_per_assignment: int = 10,
    gold_per_assignment: int = 2,
    traps_per_assignment: int = 1,
    reward: Decimal | str = Decimal("0.50"),
    seed: int = 0,
    reference_system: str = "",
    user=None,
    prepare: bool = True,
) -> Study:
    """A study over the run's finished samples of one task; check media are built by a cpu task."""
    if kind not in Kind.values:
        raise StudyError(f"unknown study kind {kind!r}; choose one of {', '.join(Kind.values)}")
    if run.status != Status.SUCCEEDED:
        raise StudyError(f"generation run #{run.pk} is {run.status}; studies need a finished run")
    systems = list(systems or default_systems(run, kind))
    run_systems = [s["key"] for s in run.spec.get("systems", [])]
    unknown = sorted(set(systems) - set(run_systems))
    if unknown:
        raise StudyError(f"run #{run.pk} has no systems {unknown} (it has {', '.join(run_systems)})")
    if len(set(systems)) != len(systems):
        raise StudyError(f"systems {systems}: each system once")
    if reference_system and reference_system not in systems:
        raise StudyError(
            f"the reference system {reference_system!r} is not one of the study's systems {systems}"
        )
    categories = list(categories or run.spec.get("categories", []))
    if not (1 <= ratings_per_stimulus <= 1000 and 1 <= stimuli_per_assignment <= 200):
        raise StudyError("ratings per stimulus must be 1–1000 and stimuli per assignment 1–200")
    try:
        reward = Decimal(str(reward))
    except ArithmeticError:
        raise StudyError(f"the reward must be an amount in dollars, got {reward!r}") from None
    if not (reward.is_finite() and Decimal(0) <= reward <= Decimal(100)) or reward != reward.quantize(
        Decimal("0.01")
    ):
        raise StudyError("the reward must be between 0.00 and 100.00 dollars, in cents")
    samples = list(_test_samples(run, kind, systems, categories))
    if not samples:
        raise StudyError(f"run #{run.pk} has no finished {kind} samples for {systems}")
    references = _reference_files(run, categories) if kind == Kind.TIMBRE else {}
    with transaction.atomic():
        study = Study.objects.create(
            name=name or f"{Kind(kind).label} · {run.name}",
            run=run,
            kind=kind,
            instructions=INSTRUCTIONS[kind],
            rubric=RUBRICS[kind],
            systems=systems,
            reference_system=reference_system,
            categories=categories,
            ratings_per_stimulus=ratings_per_stimulus,
            stimuli_per_assignment=stimuli_per_assignment,
            gold_per_assignment=gold_per_assignment,
            traps_per_assignment=traps_per_assignment,
            reward=reward,
            seed=seed,
            created_by=user,
        )
        RubricRevision.objects.create(
            study=study, version=1, instructions=study.instructions, rubric=study.rubric, created_by=user
        )
        stimuli = []
        for sample in samples:
            if kind == Kind.ALIGNMENT:
                if not sample.video:
                    continue
                media, file = Stimulus.Media.VIDEO, sample.video.name
            else:
                media, file = Stimulus.Media.AUDIO, sample.audio.name
            reference = ""
            if kind == Kind.TIMBRE:
                reference = references.get(sample.pair.reference_clip_id, "") if sample.pair_id else ""
                if not reference:
                    continue  # a timbre stimulus without its reference cannot be rated
            stimuli.append(
                Stimulus(
                    study=study,
                    sample=sample,
                    category=sample.category,
                    system=sample.system,
                    media=media,
                    file=file,
                    reference=reference,
                )
            )
        if not stimuli:
            raise StudyError(f"run #{run.pk}: no {kind} sample has the media this study needs")
        Stimulus.objects.bulk_create(stimuli)
    if prepare:
        from studies.tasks import study_prepare

        transaction.on_commit(lambda: study_prepare.delay(study.pk))
    return study


def _check_path(study: Study, name: str) -> tuple[str, Path]:
    storage_name = f"studies/{study.uid}/checks/{name}"
    return storage_name, Path(default_storage.path(storage_name))


def study_prepare(*, study_id: int) -> Study:
    """Build the attention-check stimuli (idempotent: finished checks are kept) and mark the study draft."""
    from studies import checks

    study = Study.objects.select_related("run").get(pk=study_id)
    if study.state not in (Study.State.PREPARING, Study.State.FAILED):
        return study
    rng = random.Random(f"{study.seed}-{study.pk}-checks")
    try:
        existing = dict(
            Stimulus.objects.filter(study=study)
            .exclude(role="test")
            .values_list("role")
            .annotate(n=Count("pk"))
        )
        sources = list(
            Sample.objects.filter(
                run=study.run,
                task="alignment" if study.kind == Kind.ALIGNMENT else "realism",
                system=GROUND_TRUTH,
                status=Status.SUCCEEDED,
            ).select_related("clip")
        ) or list(
            Sample.objects.filter(run=study.run, system=GROUND_TRUTH, status=Status.SUCCEEDED)
            .exclude(task="alignment")
            .select_related("clip")
        )
        if not sources:
            raise StudyError("the run has no vocoded ground truth to build attention checks from")
        references = list(
            Stimulus.objects.filter(study=study, role="test")
            .exclude(reference="")
            .values_list("reference", "category")
        )
        made = []
        for role, wanted in CHECK_POOL.items():
            for index in range(existing.get(role, 0), wanted):
                source = rng.choice(sources)
                made.append(_build_check(study, role, index, source, references, rng, checks))
        Stimulus.objects.bulk_create(made)
    except Exception as exc:
        Study.objects.filter(pk=study.pk).update(state=Study.State.FAILED, message=str(exc)[:500])
        raise
    Study.objects.filter(pk=study.pk, state__in=[Study.State.PREPARING, Study.State.FAILED]).update(
        state=Study.State.DRAFT, message=""
    )
    study.refresh_from_db()
    return study


def _build_check(study, role, index, source, references, rng, checks) -> Stimulus:
    """One gold or trap stimulus of the study's kind, its media written under the study's folder."""
    audio_path = Path(default_storage.path(source.audio.name))
    stimulus = Stimulus(study=study, role=role, category=source.category, note="")
    reference = ""
    if study.kind == Kind.TIMBRE and references:
        reference, reference_category = rng.choice(references)
    if role == "trap":
        score = rng.randint(1, 5)
        stimulus.expected_min = stimulus.expected_max = score
        stimulus.note = f"asks for {score}"
        if study.kind == Kind.ALIGNMENT:
            name, path = _check_path(study, f"trap-{index}.mp4")
            checks.trap_video(Path(default_storage.path(source.clip.video.name)), score, path)
            stimulus.media = Stimulus.Media.VIDEO
        else:
            name, path = _check_path(study, f"trap-{index}.wav")
            checks.speak(checks.trap_text(score), path)
            stimulus.media = Stimulus.Media.AUDIO
    elif role in ("gold_high", "example_high"):
        # The untouched vocoded ground truth (timbre: the reference itself, the same timbre).
        stimulus.expected_min, stimulus.expected_max = 4, 5
        if study.kind == Kind.ALIGNMENT:
            name, stimulus.media = source.video.name, Stimulus.Media.VIDEO
            stimulus.note = "ground truth video"
        elif study.kind == Kind.TIMBRE and reference:
            name, stimulus.media = reference, Stimulus.Media.AUDIO
            stimulus.note = "the reference itself"
        else:
            name, stimulus.media = source.audio.name, Stimulus.Media.AUDIO
            stimulus.note = "vocoded ground truth"
    else:  # gold_low, example_low
        stimulus.expected_min, stimulus.expected_max = 1, 2
        if study.kind == Kind.ALIGNMENT:
            name, path = _check_path(study, f"{role}-{index}.mp4")
            checks.misaligned_video(Path(default_storage.path(source.clip.video.name)), audio_path, path)
            stimulus.media = Stimulus.Media.VIDEO
            stimulus.note = "audio reversed and shifted"
        else:
            name, path = _check_path(study, f"{role}-{index}.wav")
            checks.broken_audio(audio_path, path, seed=index + (100 if role == "example_low" else 0))
            stimulus.media = Stimulus.Media.AUDIO
            stimulus.note = "noise under the clip's envelope"
    stimulus.file = name
    stimulus.reference = reference if study.kind == Kind.TIMBRE else ""
    return stimulus


def study_rubric_update(*, study: Study, instructions: str, rubric: Any, user=None) -> Study:
    rubric = rubric_validate(rubric)
    instructions = (instructions or "").strip()
    if not instructions:
        raise StudyError("the instructions cannot be empty")
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if rubric == study.rubric and instructions == study.instructions:
            return study
        study.rubric_version += 1
        study.rubric, study.instructions = rubric, instructions
        study.save(update_fields=["rubric", "instructions", "rubric_version"])
        RubricRevision.objects.create(
            study=study,
            version=study.rubric_version,
            instructions=instructions,
            rubric=rubric,
            created_by=user,
        )
    return study


def study_open(*, study: Study) -> Study:
    if study.state == Study.State.OPEN:
        return study
    changed = Study.objects.filter(pk=study.pk, state__in=[Study.State.DRAFT, Study.State.CLOSED]).update(
        state=Study.State.OPEN, opened_at=timezone.now(), closed_at=None
    )
    study.refresh_from_db()
    if not changed:
        raise StudyError(f"study #{study.pk} is {study.get_state_display().lower()}; it cannot be opened")
    return study


def study_close(*, study: Study) -> Study:
    Study.objects.filter(pk=study.pk, state=Study.State.OPEN).update(
        state=Study.State.CLOSED, closed_at=timezone.now()
    )
    Assignment.objects.filter(study=study, state=Assignment.State.ACTIVE, mturk_assignment_id=None).update(
        state=Assignment.State.ABANDONED
    )
    study.refresh_from_db()
    return study


def invites_create(*, study: Study, count: int, label: str = "") -> list[Rater]:
    if not 1 <= count <= 1000:
        raise StudyError("create between 1 and 1000 invites at a time")
    raters = [
        Rater(study=study, source=Rater.Source.INVITE, external_id=Rater.new_invite_code(), label=label[:100])
        for _ in range(count)
    ]
    return Rater.objects.bulk_create(raters)


def invite_token(rater: Rater) -> str:
    """The signed part of a rater's personal link: who they are, for which study. No cookie needed."""
    return signing.dumps({"s": str(rater.study.uid), "r": rater.external_id}, salt=INVITE_SALT, compress=True)


def invite_rater(token: str) -> Rater:
    """The rater behind an invite link; a forged or altered link raises signing.BadSignature."""
    data = signing.loads(token, salt=INVITE_SALT)
    if not isinstance(data, dict) or not isinstance(data.get("s"), str) or not isinstance(data.get("r"), str):
        raise signing.BadSignature("malformed invite")
    return Rater.objects.select_related("study").get(
        study__uid=data["s"], source=Rater.Source.INVITE, external_id=data["r"]
    )


def study_progress(study: Study) -> dict[str, Any]:
    """What a researcher watches: ratings per stimulus, valid vs excluded, assignments, cost."""
    tests = Stimulus.objects.filter(study=study, role="test")
    total = tests.count()
    reached = tests.filter(valid_ratings__gte=study.ratings_per_stimulus).count()
    valid_counts = list(tests.values_list("valid_ratings", flat=True))
    valid_sum = sum(min(v, study.ratings_per_stimulus) for v in valid_counts)
    ratings = Rating.objects.filter(study=study)
    n_ratings = ratings.count()
    n_test = ratings.filter(stimulus__role="test").count()
    by_state = dict(
        Assignment.objects.filter(study=study).values_list("state").annotate(n=Count("pk")).order_by()
    )
    paid = Assignment.objects.filter(study=study, state=Assignment.State.APPROVED).count()
    bonused = Assignment.objects.filter(study=study, bonus_paid=True).count()
    from studies.mturk import MTurkValidationError, cost_estimate

    hit_size = max([h.max_assignments for h in study.hits.all()] or [1])
    try:
        cost = cost_estimate(
            reward=study.reward,
            hits=1,
            assignments_per_hit=hit_size,
            bonus_per_assignment=study.bonus,
            masters=bool(study.qualifications.get("masters")),
        )
        # Paid so far at the same fee rate: rewards of approved assignments, bonuses actually sent.
        rate = cost.fee_total / (cost.reward_total + cost.bonus_total)
        spent = ((study.reward * paid + study.bonus * bonused) * (1 + rate)).quantize(Decimal("0.01"))
    except MTurkValidationError:  # a local-only study without a reward
        spent = Decimal("0.00")
    return {
        "stimuli": total,
        "stimuli_complete": reached,
        "target": study.ratings_per_stimulus,
        "valid_ratings_counted": valid_sum,
        "valid_ratings_needed": total * study.ratings_per_stimulus,
        "percent": round(100 * valid_sum / max(1, total * study.ratings_per_stimulus)),
        "ratings": n_ratings,
        "ratings_test": n_test,
        # Stored test ratings that screening keeps out of the numbers (the valid ones are counted per clip).
        "ratings_excluded": n_test - sum(valid_counts),
        "raters": Assignment.objects.filter(study=study).values("rater").distinct().count(),
        "raters_excluded": study.raters.filter(excluded=True).count(),
        "assignments": by_state,
        "cost_so_far": str(spent),
        "complete": total > 0 and reached == total,
    }
