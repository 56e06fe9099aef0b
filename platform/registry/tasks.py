"""Celery tasks of the registry. Named `<queue>.<what>`: the prefix routes them (settings.py).

Tasks import heavy modules (torch, inference) inside their bodies: the web process imports this module
when it enqueues, and it never imports torch.
"""

from __future__ import annotations

from celery import shared_task

from registry import services


@shared_task(name="default.dataset_refresh_stats")
def dataset_refresh_stats(dataset_id: int) -> dict:
    return services.dataset_refresh_stats(dataset_id=dataset_id)


@shared_task(name="cpu.dataset_import")
def dataset_import(dataset_id: int) -> dict:
    dataset = services.dataset_import(dataset_id=dataset_id)
    return {"dataset": dataset.pk, "status": dataset.status, "stats": dataset.stats}
