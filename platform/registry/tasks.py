"""Celery tasks of the registry. Named `<queue>.<what>`: the prefix routes them (settings.py).

Tasks import heavy modules (torch, inference) inside their bodies: the web process imports this module
when it enqueues, and it never imports torch.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from registry import services


@shared_task(name="default.dataset_refresh_stats")
def dataset_refresh_stats(dataset_id: int) -> dict:
    return services.dataset_refresh_stats(dataset_id=dataset_id)


@shared_task(name="cpu.dataset_import")
def dataset_import(dataset_id: int) -> dict:
    dataset = services.dataset_import(dataset_id=dataset_id)
    return {"dataset": dataset.pk, "status": dataset.status, "stats": dataset.stats}


@shared_task(
    name="gpu.train",
    time_limit=settings.CELERY_TRAINING_TIME_LIMIT,
    soft_time_limit=settings.CELERY_TRAINING_TIME_LIMIT - 60,
)
def train(training_run_id: int) -> dict:
    run = services.training_run_execute(run_id=training_run_id)
    checkpoint = run.checkpoints.order_by("-created_at").first()
    return {"training_run": run.pk, "status": run.status, "checkpoint": checkpoint.pk if checkpoint else None}
