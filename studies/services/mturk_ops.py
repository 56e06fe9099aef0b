"""A study on Mechanical Turk: publish (hit type + HITs), then a periodic sync that reviews work.

Publishing is idempotent: the page carries a request id, and HIT i of a publication is created with
the UniqueRequestToken "<request id>-<i>", so a double click or a retry after a timeout returns the
same HITs. The live marketplace is used only with MTURK_LIVE on *and* the researcher typing the cost
shown to them; otherwise everything goes to the sandbox (or to MTURK_ENDPOINT_URL in tests).

The sync (beat, every MTURK_SYNC_SECONDS) pages through every HIT's assignments and, for each one
MTurk says was submitted: approves it if the worker's assignment on our site passed its checks,
rejects it with feedback if it failed them or holds no ratings from that worker (a forged or empty
submission), sends the study's bonus once, blocks workers rejected twice, and adds assignments (or a
new HIT) while stimuli still lack valid ratings; once every stimulus has them, it expires the HITs.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from studies import mturk
from studies.models import Assignment, Hit, Rater, Stimulus, Study
from studies.services.rating import study_recount
from studies.services.studies import StudyError, study_open

MAX_SMALL_HIT = mturk.BIG_HIT_ASSIGNMENTS - 1  # 9: stays under the 10+ surcharge and stays extendable
BLOCK_AFTER_REJECTIONS = 2


class PublishError(StudyError):
    pass


def _live() -> bool:
    return settings.MTURK_LIVE is True


def client_for():
    return mturk.make_client(live=_live(), endpoint_url=settings.MTURK_ENDPOINT_URL)


def external_url(study: Study) -> str:
    base = (settings.MTURK_EXTERNAL_BASE_URL or "").rstrip("/")
    if not base:
        raise PublishError("set MTURK_EXTERNAL_BASE_URL to the public https:// address of this site first")
    return base + reverse("studies:mturk", args=[study.uid])


def _qualifications(study: Study) -> tuple[mturk.Qualification, ...]:
    q = study.qualifications or {}
    return tuple(
        mturk.default_qualifications(
            live=_live(),
            min_approval_rate=q.get("min_approval_rate", 98),
            min_approved=q.get("min_approved", 500),
            locales=tuple(q.get("locales", ("US",))),
            masters=bool(q.get("masters", False)) and _live(),
        )
    )


def hit_type_spec(study: Study) -> mturk.HitTypeSpec:
    minutes = max(1, round(study.items_per_assignment * 25 / 60))
    return mturk.HitTypeSpec(
        title=f"Rate {study.items_per_assignment} short sound clips ({study.get_kind_display().lower()})",
        description=(
            f"Listen to {study.items_per_assignment} clips of 10 seconds with headphones and rate each on a "
            f"1-5 scale (about {minutes} minutes)."
        ),
        keywords="audio, listening, rating, sound, video",
        reward=study.reward,
        assignment_duration_s=study.assignment_duration_s,
        auto_approval_delay_s=study.auto_approval_delay_s,
        qualifications=_qualifications(study),
    )


def publish_preview(*, study: Study, hits: int, assignments_per_hit: int) -> dict[str, Any]:
    """What publishing would do and cost, shown before the researcher confirms."""
    try:
        cost = mturk.cost_estimate(
            reward=study.reward,
            hits=hits,
            assignments_per_hit=assignments_per_hit,
            bonus_per_assignment=study.bonus,
            fee_percent=settings.MTURK_FEE_PERCENT,
            masters=bool((study.qualifications or {}).get("masters")) and _live(),
        )
    except mturk.MTurkValidationError as exc:
        return {"error": str(exc)}
    needed = Stimulus.objects.filter(study=study, role="test").count() * study.ratings_per_stimulus
    return {
        "live": _live(),
        "endpoint": mturk.endpoint_choose(live=_live(), endpoint_url=settings.MTURK_ENDPOINT_URL),
        "hits": hits,
        "assignments_per_hit": assignments_per_hit,
        "assignments_for_target": math.ceil(needed / max(1, study.stimuli_per_assignment)),
        "reward_total": str(cost.reward_total),
        "bonus_total": str(cost.bonus_total),
        "fee_total": str(cost.fee_total),
        "total": str(cost.total),
        "request_id": secrets.token_hex(8),
        "external_url_configured": bool(settings.MTURK_EXTERNAL_BASE_URL),
    }


def study_publish(
    *, study: Study, hits: int, assignments_per_hit: int, confirm_total: str = "", request_id: str = ""
) -> str:
    if study.state not in (Study.State.DRAFT, Study.State.OPEN):
        raise PublishError(f"a {study.get_state_display().lower()} study cannot be published")
    if not 1 <= hits <= 100 or not 1 <= assignments_per_hit <= 1000:
        raise PublishError("publish 1–100 HITs of 1–1000 assignments at a time")
    preview = publish_preview(study=study, hits=hits, assignments_per_hit=assignments_per_hit)
    if "error" in preview:
        raise PublishError(preview["error"])
    if _live() and confirm_total.strip().lstrip("$") != preview["total"]:
        raise PublishError(
            f"Publishing on the LIVE marketplace costs ${preview['total']} "
            f"(rewards ${preview['reward_total']}, bonuses ${preview['bonus_total']}, fees ${preview['fee_total']}). "
            f"Type {preview['total']} in the confirmation box to publish."
        )
    request_id = "".join(ch for ch in (request_id or secrets.token_hex(8)) if ch.isalnum())[:32]
    if not request_id:
        raise PublishError("malformed request id")
    question = mturk.external_question_xml(external_url(study), frame_height=settings.MTURK_FRAME_HEIGHT)
    client = client_for()
    try:
        hit_type_id = mturk.hit_type_create(client, hit_type_spec(study))
        Study.objects.filter(pk=study.pk).update(mturk_hit_type_id=hit_type_id, mturk_live=_live())
        made = []
        for index in range(hits):
            token = f"{study.uid.hex[:16]}-{request_id}-{index}"
            if Hit.objects.filter(unique_request_token=token).exists():
                continue
            hit = mturk.hit_create(
                client,
                hit_type_id=hit_type_id,
                question_xml=question,
                max_assignments=assignments_per_hit,
                lifetime_s=study.lifetime_s,
                unique_request_token=token,
                annotation=f"study {study.uid} {token}",
            )
            made.append(_hit_record(study, hit, token))
    except mturk.MTurkError as exc:
        raise PublishError(f"MTurk refused: {exc}") from exc
    study_open(study=study)
    where = "LIVE marketplace" if _live() else "sandbox"
    return f"Published {len(made)} HIT(s) of {assignments_per_hit} assignments on the {where}."


def _hit_record(study: Study, hit: dict[str, Any], token: str) -> Hit:
    record, _ = Hit.objects.get_or_create(
        hit_id=hit["HITId"],
        defaults={
            "study": study,
            "hit_type_id": hit.get("HITTypeId", ""),
            "unique_request_token": token,
            "max_assignments": int(hit.get("MaxAssignments") or 1),
            "live": _live(),
            "expires_at": hit.get("Expiration"),
        },
    )
    return record


def _feedback(assignment: Assignment | None, reason: str) -> str:
    text = f"Sorry, this assignment could not be accepted: {reason}."
    return text[: mturk.FEEDBACK_MAX]


def study_sync(*, study_id: int) -> dict[str, Any]:
    """Review submitted work, pay bonuses, block repeat offenders, extend or expire HITs."""
    study = Study.objects.get(pk=study_id)
    client = client_for()
    summary = {
        "seen": 0,
        "approved": 0,
        "rejected": 0,
        "bonuses": 0,
        "blocked": 0,
        "extended": 0,
        "expired": 0,
    }
    for hit in study.hits.all():
        for remote in mturk.assignments_list(client, hit_id=hit.hit_id):
            summary["seen"] += 1
            _review(client, study, hit, remote, summary)
        Hit.objects.filter(pk=hit.pk).update(synced_at=timezone.now())
    _block_repeat_offenders(client, study, summary)
    study_recount(study=study)
    _extend_or_expire(client, study, summary)
    return summary


def _review(client, study: Study, hit: Hit, remote: dict[str, Any], summary: dict[str, int]) -> None:
    assignment_id, worker_id, status = remote["AssignmentId"], remote["WorkerId"], remote["AssignmentStatus"]
    ours = Assignment.objects.select_related("rater").filter(mturk_assignment_id=assignment_id).first()
    if ours is not None and ours.mturk_status != status:
        Assignment.objects.filter(pk=ours.pk).update(mturk_status=status)
    if status != "Submitted":
        if ours is not None and status == "Rejected" and ours.state != Assignment.State.REJECTED:
            Assignment.objects.filter(pk=ours.pk).update(state=Assignment.State.REJECTED)
        if ours is not None and status == "Approved" and ours.state == Assignment.State.SUBMITTED:
            Assignment.objects.filter(pk=ours.pk).update(state=Assignment.State.APPROVED)
        return
    # A submission our site never saw, or made by a different worker than the one who rated: no pay.
    if ours is None or ours.rater.external_id != worker_id or ours.study_id != study.pk:
        mturk.assignment_reject(
            client, assignment_id=assignment_id, feedback=_feedback(None, "no ratings were received for it")
        )
        if ours is not None:
            Assignment.objects.filter(pk=ours.pk).update(state=Assignment.State.REJECTED, passed_checks=False)
        summary["rejected"] += 1
        return
    if ours.state == Assignment.State.ACTIVE:
        mturk.assignment_reject(
            client, assignment_id=assignment_id, feedback=_feedback(ours, "not every clip was rated")
        )
        Assignment.objects.filter(pk=ours.pk).update(state=Assignment.State.REJECTED, passed_checks=False)
        summary["rejected"] += 1
        return
    if ours.passed_checks and not ours.rater.excluded:
        mturk.assignment_approve(client, assignment_id=assignment_id, feedback="Thank you!")
        Assignment.objects.filter(pk=ours.pk).update(
            state=Assignment.State.APPROVED, reviewed_at=timezone.now()
        )
        summary["approved"] += 1
        if study.bonus > 0 and not ours.bonus_paid:
            with transaction.atomic():
                claimed = Assignment.objects.filter(pk=ours.pk, bonus_paid=False).update(bonus_paid=True)
                if claimed:
                    mturk.bonus_send(
                        client,
                        worker_id=worker_id,
                        assignment_id=assignment_id,
                        amount=study.bonus,
                        reason="Bonus for careful listening. Thank you!",
                        unique_request_token=f"bonus-{ours.uid.hex}",
                    )
                    summary["bonuses"] += 1
    else:
        reasons = (
            "; ".join(ours.check_failures) or ours.rater.exclusion_reason or "the attention checks failed"
        )
        mturk.assignment_reject(client, assignment_id=assignment_id, feedback=_feedback(ours, reasons))
        Assignment.objects.filter(pk=ours.pk).update(
            state=Assignment.State.REJECTED, reviewed_at=timezone.now()
        )
        summary["rejected"] += 1


def _block_repeat_offenders(client, study: Study, summary: dict[str, int]) -> None:
    from django.db.models import Count, Q

    offenders = (
        Rater.objects.filter(study=study, source=Rater.Source.MTURK, blocked=False)
        .annotate(n=Count("assignments", filter=Q(assignments__state=Assignment.State.REJECTED)))
        .filter(n__gte=BLOCK_AFTER_REJECTIONS)
    )
    for rater in offenders:
        mturk.worker_block(
            client,
            worker_id=rater.external_id,
            reason="Repeatedly failed the attention checks of our listening tests.",
        )
        Rater.objects.filter(pk=rater.pk).update(blocked=True)
        summary["blocked"] += 1


def _extend_or_expire(client, study: Study, summary: dict[str, int]) -> None:
    if study.state != Study.State.OPEN or not study.hits.exists():
        return
    tests = Stimulus.objects.filter(study=study, role="test")
    missing = sum(
        max(0, study.ratings_per_stimulus - v) for v in tests.values_list("valid_ratings", flat=True)
    )
    if missing == 0:
        for hit in study.hits.filter(expires_at__gt=timezone.now()):
            mturk.hit_expire(client, hit_id=hit.hit_id)
            Hit.objects.filter(pk=hit.pk).update(expires_at=timezone.now())
            summary["expired"] += 1
        return
    # Places on MTurk not yet taken, plus assignments in progress, will bring ratings; add the rest.
    offered = sum(study.hits.values_list("max_assignments", flat=True))
    on_mturk = Assignment.objects.filter(study=study, hit__isnull=False)
    open_places = max(0, offered - on_mturk.count())
    active = on_mturk.filter(state=Assignment.State.ACTIVE).count()
    needed = math.ceil(missing / max(1, study.stimuli_per_assignment)) - open_places - active
    if needed <= 0:
        return
    latest = study.hits.order_by("-created_at").first()
    token = f"ext-{latest.hit_id[:40]}-{latest.extensions}"
    if latest.max_assignments + needed <= MAX_SMALL_HIT and (
        latest.expires_at is None or latest.expires_at > timezone.now()
    ):
        mturk.hit_extend(
            client,
            hit_id=latest.hit_id,
            extra_assignments=needed,
            unique_request_token=token,
            current_max=latest.max_assignments,
        )
        Hit.objects.filter(pk=latest.pk).update(
            max_assignments=latest.max_assignments + needed, extensions=latest.extensions + 1
        )
    else:
        hit = mturk.hit_create(
            client,
            hit_type_id=study.mturk_hit_type_id or latest.hit_type_id,
            question_xml=mturk.external_question_xml(
                external_url(study), frame_height=settings.MTURK_FRAME_HEIGHT
            ),
            max_assignments=min(MAX_SMALL_HIT, needed),
            lifetime_s=study.lifetime_s,
            unique_request_token=token,
            annotation=f"study {study.uid} {token}",
        )
        _hit_record(study, hit, token)
        Hit.objects.filter(pk=latest.pk).update(extensions=latest.extensions + 1)
    summary["extended"] += needed
