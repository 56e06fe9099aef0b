"""Registry workflows. Views and tasks call these; they hold no request or task objects."""

from __future__ import annotations

from collections import Counter

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from registry.models import FINISHED, Clip, Dataset, Job, Status


def job_start(*, job: Job, total: int = 0, message: str = "") -> bool:
    """Mark a job running. Returns False if it already finished (a redelivered task must not redo it)."""
    updated = (
        type(job)
        .objects.filter(pk=job.pk)
        .exclude(status__in=FINISHED)
        .update(
            status=Status.RUNNING,
            started_at=timezone.now(),
            progress_done=0,
            progress_total=total,
            message=message[:500],
            error="",
        )
    )
    job.refresh_from_db()
    return updated == 1


def job_progress(*, job: Job, done: int, total: int | None = None, message: str = "") -> None:
    fields: dict = {"progress_done": done, "message": message[:500]}
    if total is not None:
        fields["progress_total"] = total
    type(job).objects.filter(pk=job.pk).update(**fields)


def job_finish(*, job: Job, error: str = "", message: str = "") -> None:
    status = Status.FAILED if error else Status.SUCCEEDED
    fields: dict = {"status": status, "finished_at": timezone.now(), "error": error}
    if message or error:
        fields["message"] = (message or error.strip().splitlines()[-1])[:500]
    if not error:
        fields["progress_done"] = F("progress_total")
    type(job).objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()


def dataset_refresh_stats(*, dataset_id: int) -> dict:
    """Recount a dataset's clips by split and by category × split, and store the table on the row."""
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
        rows = Clip.objects.filter(dataset=dataset).values_list("category", "split")
        by_split: Counter[str] = Counter()
        by_category: dict[str, Counter[str]] = {}
        for category, split in rows:
            by_split[split] += 1
            by_category.setdefault(category, Counter())[split] += 1
        stats = {
            "clips": sum(by_split.values()),
            "by_split": dict(sorted(by_split.items())),
            "by_category": {category: dict(sorted(c.items())) for category, c in sorted(by_category.items())},
        }
        dataset.stats = stats
        dataset.save(update_fields=["stats"])
    return stats
