from __future__ import annotations

import csv
import json

from django.conf import settings
from django.contrib import messages
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry.access import researcher_required
from registry.forms import CheckpointUploadForm, LimitedUploadHandler, SystemImportForm
from registry.models import (
    Checkpoint,
    CheckpointUpload,
    Clip,
    Dataset,
    GenerationRun,
    Pair,
    Sample,
    Split,
    Status,
    SystemImport,
    TrainingRun,
)
from registry.services.generation import METRICS, summary_table
from registry.services.uploads import checkpoint_upload_create, checkpoint_upload_launch


@researcher_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        "datasets": Dataset.objects.all()[:50],
        "checkpoints": Checkpoint.objects.select_related("dataset", "training_run")[:50],
        "training_runs": TrainingRun.objects.select_related("dataset")[:50],
        "generation_runs": GenerationRun.objects.select_related("dataset")[:50],
    }
    # Refresh the page while anything is in flight, so progress is visible without a click.
    context["any_active"] = any(
        not job.is_finished
        for key in ("datasets", "training_runs", "generation_runs")
        for job in context[key]
    )
    return render(request, "registry/dashboard.html", context)


def _generating(checkpoints, *, first: str) -> list[Checkpoint]:
    from inference.systems import generating_kinds

    rows = list(checkpoints.filter(kind__in=[k.name for k in generating_kinds()]))
    return sorted(rows, key=lambda c: c.role != first)  # stable: newest first within each group


@researcher_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(Dataset, pk=pk)
    clips = Clip.objects.filter(dataset=dataset)
    split = request.GET.get("split")
    if split in Split.values:
        clips = clips.filter(split=split)
    category = request.GET.get("category")
    if category:
        clips = clips.filter(category=category)
    checkpoints = Checkpoint.objects.filter(dataset=dataset).order_by("-created_at")
    context = {
        # Any checkpoint that generates from video can stand in either column; the roles order them.
        "proposed_checkpoints": _generating(checkpoints, first=Checkpoint.Role.PROPOSED),
        "baseline_checkpoints": _generating(checkpoints, first=Checkpoint.Role.BASELINE),
        "dataset": dataset,
        "clips": clips[:500],
        "clip_count": clips.count(),
        "splits": Split.choices,
        "split": split,
        "category": category,
    }
    return render(request, "registry/dataset_detail.html", context)


@researcher_required
@require_POST
def run_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Create a generation run from the dataset page's form and start it."""
    from registry.services.generation import generation_run_create, generation_run_launch, protocol_systems

    dataset = get_object_or_404(Dataset, pk=pk)
    try:
        proposed = Checkpoint.objects.filter(pk=int(request.POST.get("proposed") or 0)).first()
        baseline_id = request.POST.get("baseline") or ""
        baseline = Checkpoint.objects.filter(pk=int(baseline_id)).first() if baseline_id else None
        seed = int(request.POST.get("seed") or 0)
    except ValueError:
        messages.error(request, "Checkpoints and the seed must be numbers.")
        return HttpResponseRedirect(dataset.get_absolute_url())
    if proposed is None or (baseline_id and baseline is None):
        messages.error(request, "Choose existing checkpoints.")
        return HttpResponseRedirect(dataset.get_absolute_url())
    categories = [c.strip() for c in request.POST.get("categories", "").split(",") if c.strip()] or None
    try:
        run = generation_run_create(
            dataset=dataset,
            systems=protocol_systems(
                proposed=proposed, baseline=baseline, variants=request.POST.get("variants") == "1"
            ),
            seed=seed,
            categories=categories,
            user=request.user,
        )
    except ValueError as exc:
        messages.error(request, f"Could not create the run: {exc}")
        return HttpResponseRedirect(dataset.get_absolute_url())
    messages.success(request, f"Run #{run.pk} {generation_run_launch(run=run)}.")
    return HttpResponseRedirect(run.get_absolute_url())


# Room for the form's other fields and the multipart boundaries: a body longer than the file limit
# plus this cannot carry a file within the limit, and is refused before any of it is read.
UPLOAD_FORM_OVERHEAD = 64 * 1024


def _limited_upload(request: HttpRequest, max_mb: int) -> tuple[LimitedUploadHandler | None, bool]:
    """Install the size-limited handler on a POST; True when the body is too large to read at all."""
    if request.method != "POST":
        return None, False
    max_bytes = max_mb * 1024 * 1024
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > max_bytes + UPLOAD_FORM_OVERHEAD:
        return None, True
    handler = LimitedUploadHandler(request, max_bytes=max_bytes)
    request.upload_handlers = [handler]
    return handler, False


@csrf_exempt  # upload handlers must be set before anything reads the body; _checkpoint_upload checks CSRF
@researcher_required
@require_http_methods(["GET", "POST"])
def checkpoint_upload(request: HttpRequest) -> HttpResponse:
    """Upload a checkpoint trained elsewhere. The file goes to quarantine; a worker validates it."""
    handler, too_large = _limited_upload(request, settings.CHECKPOINT_UPLOAD_MAX_MB)
    if too_large:
        return _too_large_page(request)
    return _checkpoint_upload(request, handler)


@csrf_protect
def _checkpoint_upload(request: HttpRequest, handler: LimitedUploadHandler | None) -> HttpResponse:
    if request.method != "POST":
        return _upload_page(request, CheckpointUploadForm())
    form = CheckpointUploadForm(request.POST, request.FILES)  # reading them parses the body
    if handler is not None and handler.too_large:
        fields = ("name", "role", "dataset", "notes")
        return _too_large_page(request, {key: request.POST.get(key, "") for key in fields})
    if not form.is_valid():
        return _upload_page(request, form, status=400)
    data = form.cleaned_data
    upload = checkpoint_upload_create(
        file=data["file"],
        name=data["name"],
        role=data["role"],
        dataset=data["dataset"],
        notes=data["notes"],
        user=request.user,
    )
    state = checkpoint_upload_launch(upload=upload)
    messages.success(request, f"Upload #{upload.pk} ({upload.original_name}) received, {state}.")
    return redirect("registry:checkpoint_upload")


def _too_large_page(request: HttpRequest, initial: dict | None = None) -> HttpResponse:
    error = (
        f"The file is larger than the upload limit of {settings.CHECKPOINT_UPLOAD_MAX_MB} MB "
        "(CHECKPOINT_UPLOAD_MAX_MB): nothing was stored. Register larger files with "
        "manage.py register_checkpoint."
    )
    return _upload_page(request, CheckpointUploadForm(initial=initial), status=413, error=error)


def _upload_page(
    request: HttpRequest, form: CheckpointUploadForm, *, status: int = 200, error: str = ""
) -> HttpResponse:
    uploads = list(CheckpointUpload.objects.select_related("checkpoint", "created_by")[:20])
    context = {
        "form": form,
        "error": error,
        "uploads": uploads,
        "max_mb": settings.CHECKPOINT_UPLOAD_MAX_MB,
        "any_active": any(not upload.is_finished for upload in uploads),
    }
    return render(request, "registry/checkpoint_upload.html", context, status=status)


@researcher_required
def clip_detail(request: HttpRequest, pk: int) -> HttpResponse:
    clip = get_object_or_404(Clip.objects.select_related("dataset"), pk=pk)
    meta_json = json.dumps(clip.meta, indent=2, sort_keys=True)
    return render(request, "registry/clip_detail.html", {"clip": clip, "meta_json": meta_json})


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and docker-compose healthchecks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - report any database failure as unhealthy
        return JsonResponse({"ok": False, "database": type(exc).__name__}, status=503)
    return JsonResponse({"ok": True})


TASK_LABELS = dict(Pair.Task.choices)
# The paper's tables: (title, task, metric, note). Table 2 is cosine similarity on the timbre set;
# Tables 7-8 are MCD on the ablation set; onset alignment is our objective stand-in for the alignment MOS.
RUN_TABLES = [
    (
        "Table 2 · timbre similarity: cosine of Resemblyzer embeddings to the reference (↑)",
        "timbre",
        "cosine",
    ),
    ("Tables 7–8 · ablations: MCD to the ground-truth mel, dB (↓)", "ablation", "mcd"),
    ("Ablations: MCD with DTW alignment, dB (↓)", "ablation", "mcd_dtw"),
    ("Realism set · onset accuracy against the true event times (↑)", "realism", "onset_acc_true"),
    (
        "Realism set · onset F1 against the true event times (↑: penalises extra onsets)",
        "realism",
        "onset_f1_true",
    ),
    ("Realism set · onset accuracy against the recorded audio (↑)", "realism", "onset_acc"),
    ("Realism set · onset F1 against the recorded audio (↑)", "realism", "onset_f1"),
    ("Realism set · onset AP against the recorded audio (↑)", "realism", "onset_ap"),
    ("Realism set · cosine to the (swapped) reference (↑)", "realism", "cosine"),
    ("Realism set · OSG to the recorded audio (↓)", "realism", "osg"),
]


def _run_tables(run: GenerationRun) -> list[dict]:
    tables = []
    for title, task, metric in RUN_TABLES:
        table = summary_table(run, task=task, metric=metric)
        if table.columns:
            tables.append({"title": title, "table": table})
    return tables


@researcher_required
@require_GET
def run_inputs(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's input pack as a .tar.gz (built on the first request; no torch needed)."""
    from registry.media import file_response
    from registry.services.systems import SystemImportError, run_inputs_archive

    run = get_object_or_404(GenerationRun, pk=pk)
    try:
        archive = run_inputs_archive(run=run)
    except SystemImportError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(run.get_absolute_url())
    response = file_response(request, archive)
    response["Content-Type"] = "application/gzip"
    response["Content-Disposition"] = f'attachment; filename="{archive.name}"'
    return response


@csrf_exempt  # upload handlers must be set before anything reads the body; _run_import checks CSRF
@researcher_required
@require_POST
def run_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload a system's outputs for this run: quarantined, then validated and imported by a worker."""
    run = get_object_or_404(GenerationRun, pk=pk)
    handler, too_large = _limited_upload(request, settings.OUTPUTS_UPLOAD_MAX_MB)
    if too_large:
        return _import_refused(request, run, _too_large_message(), status=413)
    return _run_import(request, run, handler)


def _too_large_message() -> str:
    return (
        f"The archive is larger than the upload limit of {settings.OUTPUTS_UPLOAD_MAX_MB} MB "
        "(OUTPUTS_UPLOAD_MAX_MB): nothing was stored. Import larger sets with manage.py import_outputs."
    )


@csrf_protect
def _run_import(
    request: HttpRequest, run: GenerationRun, handler: LimitedUploadHandler | None
) -> HttpResponse:
    from registry.services.systems import SystemImportError, system_import_create, system_import_launch

    form = SystemImportForm(request.POST, request.FILES)
    if handler is not None and handler.too_large:
        return _import_refused(request, run, _too_large_message(), status=413)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
        return _import_refused(request, run, f"Nothing was imported: {errors}", status=400)
    data = form.cleaned_data
    try:
        row = system_import_create(
            run=run,
            system_key=data["system"],
            label=data["label"],
            partial=data["partial"],
            upload=data["file"],
            user=request.user,
        )
    except SystemImportError as exc:
        return _import_refused(request, run, f"Nothing was imported: {exc}", status=400)
    state = system_import_launch(system_import=row)
    messages.success(request, f"Import #{row.pk} ({row.original_name}) received, {state}.")
    return HttpResponseRedirect(run.get_absolute_url() + "#imports")


def _import_refused(request: HttpRequest, run: GenerationRun, error: str, *, status: int) -> HttpResponse:
    return _run_page(request, run.pk, import_error=error, status=status)


@researcher_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_page(request, pk)


def _run_page(request: HttpRequest, pk: int, *, import_error: str = "", status: int = 200) -> HttpResponse:
    run = get_object_or_404(GenerationRun.objects.select_related("dataset"), pk=pk)
    systems = run.spec.get("systems", [])
    task = request.GET.get("task") or "realism"
    if task not in TASK_LABELS:
        task = "realism"
    categories = run.spec.get("categories", [])
    category = request.GET.get("category") or (categories[0] if categories else "")
    samples = list(
        Sample.objects.filter(run=run, task=task, category=category).select_related(
            "clip", "pair__reference_clip", "pair__video_clip"
        )
    )
    ground_truth = {
        s.clip_id: s
        for s in Sample.objects.filter(run=run, system="ground_truth", category=category, task=task)
    }
    by_pair: dict[int, dict[str, Sample]] = {}
    pairs = {}
    for sample in samples:
        if sample.pair_id is not None:
            by_pair.setdefault(sample.pair_id, {})[sample.system] = sample
            pairs[sample.pair_id] = sample.pair
    rows = []
    columns = [s for s in systems if s["key"] != "ground_truth" and task in s["tasks"]]
    for pair_id, pair in sorted(pairs.items(), key=lambda item: item[1].index):
        cells = [by_pair[pair_id].get(s["key"]) for s in columns]
        rows.append(
            {
                "pair": pair,
                "ground_truth": ground_truth.get(pair.video_clip_id),
                "reference_gt": ground_truth.get(pair.reference_clip_id),
                "cells": cells,
            }
        )
    counts = Sample.objects.filter(run=run).values("status").annotate(n=Count("pk"))
    failed = Sample.objects.filter(run=run, status=Status.FAILED).select_related("clip")[:50]
    context = {
        "run": run,
        "tables": _run_tables(run) if run.summary else [],
        "tasks": [(key, label) for key, label in Pair.Task.choices],
        "task": task,
        "categories": categories,
        "category": category,
        "columns": columns,
        "rows": rows,
        "ground_truth_only": [s for s in samples if s.is_ground_truth] if not rows else [],
        "counts": {c["status"]: c["n"] for c in counts},
        "failed": failed,
        "video_task": task == "alignment",
        "imports": list(SystemImport.objects.filter(run=run).select_related("created_by")[:20]),
        "import_form": SystemImportForm(),
        "import_error": import_error,
        "imported_systems": [s["label"] for s in systems if s.get("kind") == "imported"],
        "max_upload_mb": settings.OUTPUTS_UPLOAD_MAX_MB,
    }
    context["any_active"] = any(not row.is_finished for row in context["imports"])
    return render(request, "registry/run_detail.html", context, status=status)


@researcher_required
def run_samples_csv(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(GenerationRun, pk=pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-samples.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "sample",
            "task",
            "category",
            "system",
            "variant",
            "pair_index",
            "video_clip",
            "reference_clip",
            "status",
            "audio",
            "video",
            *METRICS,
            "error",
        ]
    )
    samples = (
        Sample.objects.filter(run=run)
        .select_related("pair__reference_clip", "clip")
        .order_by("task", "category", "system", "pk")
    )
    for s in samples:
        writer.writerow(
            [
                s.pk,
                s.task,
                s.category,
                s.system,
                s.variant,
                s.pair.index if s.pair else "",
                s.clip.clip_id,
                s.pair.reference_clip.clip_id if s.pair else s.clip.clip_id,
                s.status,
                s.audio.name,
                s.video.name,
                *[s.metrics.get(m, "") for m in METRICS],
                s.error.strip().splitlines()[-1] if s.error else "",
            ]
        )
    return response


@researcher_required
def run_summary_json(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(GenerationRun, pk=pk)
    payload = {
        "run": run.pk,
        "name": run.name,
        "dataset": run.dataset.name,
        "seed": run.seed,
        "status": run.status,
        "spec": run.spec,
        "warnings": run.warnings,
        "summary": run.summary,
    }
    response = JsonResponse(payload, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-summary.json"'
    return response
