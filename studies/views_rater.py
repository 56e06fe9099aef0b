"""Pages raters see: invite links, MTurk's ExternalQuestion entry, one clip per screen, done.

Raters have no account and often sit in MTurk's iframe, where third-party cookies are blocked. So the
rater's identity travels in a signed token in the URL (never a cookie), and the rating form is exempt
from Django's cookie-based CSRF check: the unguessable signed token it must carry is what proves the
request comes from the rater's own page (a third party cannot forge it). These pages may be framed by
MTurk's origins only (Content-Security-Policy frame-ancestors), every other page stays DENY.
"""

from __future__ import annotations

import re
import uuid
from functools import wraps
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from registry.media import file_response
from studies.models import Assignment, Hit, Rater, Stimulus, Study
from studies.mturk import PREVIEW_ASSIGNMENT_ID
from studies.retry import mturk_frameable
from studies.services.rating import (
    NoWork,
    RatingError,
    assignment_claim,
    assignment_complete,
    assignment_next_item,
    rating_submit,
)
from studies.services.studies import invite_rater
from studies.throttle import by_address, by_token, rate_limited

ASSIGNMENT_SALT = "studies.assignment"
MTURK_ID = re.compile(r"^[A-Z0-9]{6,64}$")


def assignment_token(assignment: Assignment) -> str:
    return signing.dumps({"a": str(assignment.uid)}, salt=ASSIGNMENT_SALT)


def _assignment(token: str) -> Assignment:
    try:
        data = signing.loads(token, salt=ASSIGNMENT_SALT)
        uid = data["a"]
    except (signing.BadSignature, KeyError, TypeError):
        raise Http404("This link is not valid. Please use the link you were given.") from None
    assignment = (
        Assignment.objects.select_related("study", "rater").filter(uid=uid).first()
        if isinstance(uid, str)
        else None
    )
    if assignment is None:
        raise Http404("This task no longer exists.")
    return assignment


def frameable(view):
    """Let MTurk's pages (and ours) frame this view, nobody else."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        return mturk_frameable(view(request, *args, **kwargs))

    return wrapper


def _message(request: HttpRequest, title: str, text: str, status: int = 200) -> HttpResponse:
    return render(request, "studies/rater_message.html", {"title": title, "text": text}, status=status)


@frameable
@never_cache
@rate_limited("entry", "RATER_ENTRY_LIMIT", by_address)
@require_GET
def invite(request: HttpRequest, token: str) -> HttpResponse:
    try:
        rater = invite_rater(token)
    except (signing.BadSignature, Rater.DoesNotExist):
        return _message(
            request, "Link not valid", "This invite link is not valid. Please ask for a new one.", 404
        )
    try:
        assignment = assignment_claim(study=rater.study, rater=rater)
    except NoWork as exc:
        return _message(request, "Nothing to rate right now", f"Thank you! {exc}.")
    except RatingError as exc:
        return _message(request, "Cannot continue", str(exc), 403)
    return HttpResponseRedirect(reverse("studies:rate", args=[assignment_token(assignment)]))


def _submit_origin_ok(url: str) -> bool:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return bool(parts.scheme and parts.netloc) and origin in settings.MTURK_SUBMIT_ORIGINS


@frameable
@never_cache
@rate_limited("entry", "RATER_ENTRY_LIMIT", by_address)
@require_GET
def mturk_entry(request: HttpRequest, study_uid: uuid.UUID) -> HttpResponse:
    """MTurk's ExternalQuestion URL. Preview: read-only instructions. Accepted: the rater's assignment."""
    study = Study.objects.filter(uid=study_uid).first()
    if study is None:
        raise Http404("no such study")
    assignment_id = request.GET.get("assignmentId", "")
    hit_id = request.GET.get("hitId", "")
    worker_id = request.GET.get("workerId", "")
    submit_to = request.GET.get("turkSubmitTo", "")
    hit = Hit.objects.filter(study=study, hit_id=hit_id).first() if MTURK_ID.match(hit_id) else None
    if hit is None:
        return _message(
            request, "Unknown task", "This page was opened without a valid HIT of this study.", 400
        )
    if not assignment_id or assignment_id == PREVIEW_ASSIGNMENT_ID:
        return render(request, "studies/rater_preview.html", {"study": study, "mturk": True})
    if not (MTURK_ID.match(assignment_id) and MTURK_ID.match(worker_id)):
        return _message(request, "Invalid task parameters", "The assignment or worker id is malformed.", 400)
    if not _submit_origin_ok(submit_to):
        return _message(request, "Invalid task parameters", "The submission address is not MTurk's.", 400)
    rater, _ = Rater.objects.get_or_create(study=study, source=Rater.Source.MTURK, external_id=worker_id)
    try:
        assignment = assignment_claim(
            study=study, rater=rater, mturk_assignment_id=assignment_id, hit=hit, turk_submit_to=submit_to
        )
    except NoWork as exc:
        return _message(request, "Nothing to rate right now", f"{exc}. Please return this HIT.")
    except RatingError as exc:
        return _message(request, "Cannot continue", str(exc), 403)
    return HttpResponseRedirect(reverse("studies:rate", args=[assignment_token(assignment)]))


@frameable
@never_cache
@csrf_exempt  # see the module docstring: the signed token in the URL is the proof of origin
@rate_limited("task", "RATER_TASK_LIMIT", by_token)
@require_http_methods(["GET", "POST"])
def rate(request: HttpRequest, token: str) -> HttpResponse:
    assignment = _assignment(token)
    study = assignment.study
    error = ""
    if request.method == "POST":
        try:
            rating_submit(
                assignment=assignment,
                stimulus_uid=request.POST.get("stimulus", ""),
                score=request.POST.get("score"),
                time_spent_ms=request.POST.get("time_ms") or 0,
                play_count=request.POST.get("plays") or 0,
                played_to_end=request.POST.get("ended") == "1",
            )
        except RatingError as exc:
            error = str(exc)
        else:
            # Post/redirect/get: a reload never resubmits, and a resubmission is harmless anyway.
            return HttpResponseRedirect(request.path)
        assignment.refresh_from_db()
    item = assignment_next_item(assignment)
    total = assignment.items.count()
    if item is None:
        if assignment.state == Assignment.State.ACTIVE:  # all rated, closing interrupted (an outage)
            assignment_complete(assignment=assignment)
        assignment.refresh_from_db()
        return render(
            request,
            "studies/rater_done.html",
            {
                "study": study,
                "assignment": assignment,
                "submit_url": assignment.turk_submit_to.rstrip("/") + "/mturk/externalSubmit"
                if assignment.turk_submit_to
                else "",
            },
        )
    done = total - assignment.items.exclude(stimulus__ratings__rater_id=assignment.rater_id).count()
    context = {
        "study": study,
        "item": item,
        "stimulus": item.stimulus,
        "token": token,
        "position": done + 1,
        "total": total,
        "percent": round(100 * done / max(1, total)),
        "levels": sorted(study.rubric["levels"].items(), reverse=True),
        "error": error,
        "examples": [
            (example, reverse("studies:media", args=[token, example.uid, "main"]))
            for example in Stimulus.objects.filter(
                study=study, role__in=[Stimulus.Role.EXAMPLE_HIGH, Stimulus.Role.EXAMPLE_LOW]
            ).order_by("role")
        ],
        "media_url": reverse("studies:media", args=[token, item.stimulus.uid, "main"]),
        "reference_url": reverse("studies:media", args=[token, item.stimulus.uid, "reference"])
        if item.stimulus.reference
        else "",
    }
    return render(request, "studies/rater_item.html", context, status=400 if error else 200)


@frameable
@rate_limited("task", "RATER_TASK_LIMIT", by_token)
@require_http_methods(["GET", "HEAD"])
def media(request: HttpRequest, token: str, stimulus_uid: uuid.UUID, which: str) -> HttpResponse:
    """A stimulus's media under an opaque URL: the file name (which names the system) never reaches
    the rater, and only a rater holding an assignment with this clip can fetch it."""
    assignment = _assignment(token)
    visible = Q(assignment_items__assignment=assignment) | Q(
        study=assignment.study, role__in=[Stimulus.Role.EXAMPLE_HIGH, Stimulus.Role.EXAMPLE_LOW]
    )
    stimulus = Stimulus.objects.filter(visible, uid=stimulus_uid).first()
    if stimulus is None or which not in ("main", "reference"):
        raise Http404("no such clip")
    return stimulus_file_response(request, stimulus, which)


def stimulus_file_response(request: HttpRequest, stimulus: Stimulus, which: str) -> HttpResponse:
    name = stimulus.file if which == "main" else stimulus.reference
    if not name:
        raise Http404("no such clip")
    if not settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
        return HttpResponseRedirect(default_storage.url(name))  # S3: a short-lived signed URL
    path = Path(default_storage.path(name))
    if not path.is_file():
        raise Http404("the clip's file is missing")
    response = file_response(request, path)
    response["Cache-Control"] = "private, no-transform, max-age=3600"
    return response
