from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from registry.access import researcher_required
from registry.models import Checkpoint, Clip, Dataset, GenerationRun, Split, TrainingRun


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
    context = {
        "dataset": dataset,
        "clips": clips[:500],
        "clip_count": clips.count(),
        "splits": Split.choices,
        "split": split,
        "category": category,
    }
    return render(request, "registry/dataset_detail.html", context)


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
