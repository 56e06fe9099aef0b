"""Researcher pages for studies: create, preview, invite, publish, watch, close, results, export.
Thin: every workflow is a service; every page needs a researcher login (registry.access)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib import messages
from django.db.models import Count
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from registry.access import researcher_required
from registry.models import GenerationRun, Status
from studies.models import Kind, Rater, Stimulus, Study
from studies.services import mturk_ops, results
from studies.services.studies import (
    StudyError,
    invite_token,
    invites_create,
    study_close,
    study_create,
    study_open,
    study_progress,
    study_rubric_update,
)
from studies.views_rater import stimulus_file_response


@researcher_required
@require_GET
def study_list(request: HttpRequest) -> HttpResponse:
    studies = Study.objects.select_related("run").annotate(n_ratings=Count("ratings"))[:200]
    runs = GenerationRun.objects.filter(status=Status.SUCCEEDED)[:50]
    return render(
        request, "studies/study_list.html", {"studies": studies, "runs": runs, "kinds": Kind.choices}
    )


def _int(request: HttpRequest, name: str, default: int) -> int:
    try:
        return int(request.POST.get(name, default))
    except (TypeError, ValueError):
        raise StudyError(f"{name.replace('_', ' ')} must be a whole number") from None


@researcher_required
@require_POST
def study_create_view(request: HttpRequest) -> HttpResponse:
    run = get_object_or_404(GenerationRun, pk=request.POST.get("run") or 0)
    kinds = [k for k in request.POST.getlist("kind") if k in Kind.values] or list(Kind.values)
    created = []
    chosen = [k.strip() for k in (request.POST.get("systems") or "").split(",") if k.strip()]
    try:
        reward = Decimal(request.POST.get("reward") or "0.50")
        for kind in kinds:
            systems = [k for k in chosen if not (kind == Kind.TIMBRE and k == "ground_truth")] or None
            created.append(
                study_create(
                    run=run,
                    kind=kind,
                    systems=systems,
                    reference_system=(request.POST.get("reference_system") or "").strip(),
                    ratings_per_stimulus=_int(request, "ratings_per_stimulus", 10),
                    stimuli_per_assignment=_int(request, "stimuli_per_assignment", 10),
                    reward=reward,
                    seed=_int(request, "seed", 0),
                    user=request.user,
                )
            )
    except (StudyError, InvalidOperation, ValueError) as exc:
        messages.error(request, f"Could not create the study: {exc}")
        return HttpResponseRedirect(reverse("studies:list"))
    messages.success(request, f"Created {len(created)} stud{'y' if len(created) == 1 else 'ies'}.")
    target = created[0].get_absolute_url() if len(created) == 1 else reverse("studies:list")
    return HttpResponseRedirect(target)


@researcher_required
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("run"), pk=pk)
    stimuli = (
        Stimulus.objects.filter(study=study)
        .annotate(n_ratings=Count("ratings"))
        .order_by("role", "category", "system", "pk")
    )
    invites = [
        (rater, request.build_absolute_uri(reverse("studies:invite", args=[invite_token(rater)])))
        for rater in study.raters.filter(source=Rater.Source.INVITE).annotate(n=Count("ratings"))[:200]
    ]
    context = {
        "study": study,
        "progress": study_progress(study),
        "stimuli": stimuli,
        "invites": invites,
        "excluded": study.raters.filter(excluded=True),
        "hits": study.hits.all(),
        "rubric_json": json.dumps(study.rubric, indent=2, ensure_ascii=False),
        "mturk_live": settings.MTURK_LIVE,
        "publish_preview": mturk_ops.publish_preview(study=study, hits=1, assignments_per_hit=9),
    }
    return render(request, "studies/study_detail.html", context)


@researcher_required
@require_GET
def study_progress_partial(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    context = {
        "study": study,
        "progress": study_progress(study),
        "excluded": study.raters.filter(excluded=True),
    }
    return render(request, "studies/_progress.html", context)


@researcher_required
@require_POST
def study_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    try:
        if action == "open":
            study_open(study=study)
            messages.success(request, "The study is open: invite links and HITs now hand out work.")
        elif action == "close":
            study_close(study=study)
            messages.success(request, "The study is closed.")
        elif action == "invites":
            raters = invites_create(
                study=study, count=_int(request, "count", 1), label=request.POST.get("label", "")
            )
            messages.success(request, f"Created {len(raters)} invite link(s); they are listed below.")
        elif action == "rubric":
            try:
                rubric = json.loads(request.POST.get("rubric", ""))
            except json.JSONDecodeError as exc:
                raise StudyError(f"the rubric is not valid JSON: {exc}") from None
            study = study_rubric_update(
                study=study,
                instructions=request.POST.get("instructions", ""),
                rubric=rubric,
                user=request.user,
            )
            messages.success(request, f"Rubric saved as version {study.rubric_version}.")
        elif action == "publish":
            hits = _int(request, "hits", 1)
            per_hit = _int(request, "assignments_per_hit", 9)
            outcome = mturk_ops.study_publish(
                study=study,
                hits=hits,
                assignments_per_hit=per_hit,
                confirm_total=request.POST.get("confirm_total", ""),
                request_id=request.POST.get("request_id", ""),
            )
            messages.success(request, outcome)
        elif action == "sync":
            summary = mturk_ops.study_sync(study_id=study.pk)
            messages.success(request, f"Synced with MTurk: {summary}")
        else:
            raise Http404("unknown action")
    except (StudyError, mturk_ops.PublishError) as exc:
        messages.error(request, str(exc))
    return HttpResponseRedirect(study.get_absolute_url())


@researcher_required
@require_GET
def study_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The rater's view of the study (instructions, rubric, a few clips), saving nothing."""
    study = get_object_or_404(Study, pk=pk)
    examples = list(Stimulus.objects.filter(study=study, role="test").order_by("?")[:2]) + list(
        Stimulus.objects.filter(study=study).exclude(role="test").order_by("role")[:4]
    )
    return render(
        request, "studies/study_preview.html", {"study": study, "examples": examples, "mturk": False}
    )


@researcher_required
@require_GET
def stimulus_media(request: HttpRequest, pk: int, uid: uuid.UUID, which: str) -> HttpResponse:
    stimulus = Stimulus.objects.filter(study_id=pk, uid=uid).first()
    if stimulus is None or which not in ("main", "reference"):
        raise Http404("no such stimulus")
    return stimulus_file_response(request, stimulus, which)


@researcher_required
@require_GET
def study_results(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("run"), pk=pk)
    result = results.study_results(study=study)
    return render(request, "studies/study_results.html", {"study": study, "result": result})


@researcher_required
@require_GET
def study_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    if fmt == "json":
        response = JsonResponse(results.study_results(study=study).as_dict(), json_dumps_params={"indent": 2})
    elif fmt == "csv":
        response = StreamingHttpResponse(results.ratings_csv_lines(study=study), content_type="text/csv")
    elif fmt == "tex":
        response = HttpResponse(results.study_latex(study=study), content_type="text/x-tex; charset=utf-8")
    else:
        raise Http404("unknown format")
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-{study.kind}.{fmt}"'
    return response


@researcher_required
@require_GET
def run_mos(request: HttpRequest, pk: int) -> HttpResponse:
    """The paper's Tables 1 and 2 for a run, from its studies (and Tables 7–8 from its metrics)."""
    run = get_object_or_404(GenerationRun, pk=pk)
    tables = results.run_tables(run=run)
    if request.GET.get("format") == "tex":
        response = HttpResponse(results.run_latex(tables), content_type="text/x-tex; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-tables.tex"'
        return response
    return render(request, "studies/run_mos.html", {"run": run, "tables": tables})
