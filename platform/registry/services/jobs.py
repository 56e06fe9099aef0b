"""Job state shared by datasets, training and generation runs: start, progress, finish."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from registry.models import FINISHED, Job, Status

# Sent on every progress update, so a command running the work in-process can draw a progress bar.
job_progressed = Signal()  # kwargs: job_id, done, total, message


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
    job_progressed.send(sender=type(job), job_id=job.pk, done=done, total=total, message=message)


def job_finish(*, job: Job, error: str = "", message: str = "") -> None:
    # Errors can quote the bytes of a hostile file; PostgreSQL refuses NUL in text.
    error, message = error.replace("\x00", "\\x00"), message.replace("\x00", "\\x00")
    status = Status.FAILED if error else Status.SUCCEEDED
    fields: dict = {"status": status, "finished_at": timezone.now(), "error": error}
    if message or error:
        fields["message"] = (message or error.strip().splitlines()[-1])[:500]
    if not error:
        fields["progress_done"] = F("progress_total")
    type(job).objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()


def command_detach(*, args: list[str], log_name: str) -> int:
    """Run ``manage.py <args>`` in a detached process logging to VAR_DIR/logs/<log_name>; return its pid.

    On the embedded default (no broker) a task would run inside the web server, which must never load
    torch: work started from a page runs in such a process instead.
    """
    logs = Path(settings.VAR_DIR) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / log_name).open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the request and a server reload
            cwd=settings.BASE_DIR,
        )
    return process.pid
