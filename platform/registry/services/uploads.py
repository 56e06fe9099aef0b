"""Checkpoints uploaded from the web page: quarantine, then validation by a worker.

The web process never loads torch, so it only stores what the browser sent, under a dot-folder of
media storage that the media view never serves, and hands the file to the `cpu` queue (or, with no
broker, to a detached `manage.py register_upload` process). The worker runs the same validation as
`register_checkpoint` (weights_only loading, the network rebuilt from the file's config) and records
either the Checkpoint or the reason for the refusal, which the upload page shows. The quarantined file
is deleted either way.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from registry.models import CheckpointUpload, Dataset, Status
from registry.services.jobs import command_detach, job_finish, job_start
from registry.services.training import checkpoint_register, storage_local_path

QUARANTINE = ".quarantine/checkpoints"


def checkpoint_upload_create(
    *,
    file: UploadedFile,
    name: str,
    role: str,
    dataset: Dataset | None = None,
    notes: str = "",
    user=None,
) -> CheckpointUpload:
    """Record an upload and put its file in quarantine. Nothing here reads the file's content."""
    with transaction.atomic():  # no row without its file
        upload = CheckpointUpload.objects.create(
            name=name,
            role=role,
            dataset=dataset,
            notes=notes,
            original_name=(file.name or "")[:255],
            size_bytes=file.size or 0,
            created_by=user,
            status=Status.QUEUED,
            message="waiting for a worker to validate it",
        )
        # The name is ours (the uid), never the browser's: a file name is attacker-controlled input.
        stored = default_storage.save(f"{QUARANTINE}/{upload.uid}.pt", file)
        CheckpointUpload.objects.filter(pk=upload.pk).update(file=stored)
    upload.file.name = stored
    return upload


def checkpoint_upload_launch(*, upload: CheckpointUpload) -> str:
    """Start validating an upload: the `cpu.checkpoint_upload_register` task with a broker, a detached
    `manage.py register_upload` process without one (a task would run in the web server)."""
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        # After the commit, or a fast worker could look for the row before it exists.
        transaction.on_commit(lambda: _enqueue(upload.pk))
        return "queued for validation"
    pid = command_detach(args=["register_upload", str(upload.pk)], log_name=f"upload-{upload.uid}.log")
    CheckpointUpload.objects.filter(pk=upload.pk).update(task_id=f"process:{pid}")
    return "being validated"


def _enqueue(upload_id: int) -> None:
    from registry import tasks

    result = tasks.checkpoint_upload_register.delay(upload_id)
    CheckpointUpload.objects.filter(pk=upload_id).update(task_id=result.id or "")


def checkpoint_upload_register(*, upload_id: int) -> CheckpointUpload:
    """Validate a quarantined upload and register it, or record why it was refused. Runs in a worker
    (or a CLI), where torch lives. A redelivered task finds the upload finished and does nothing."""
    from inference.models.checkpoint import CheckpointError

    upload = CheckpointUpload.objects.select_related("dataset").get(pk=upload_id)
    if not job_start(job=upload, message="validating"):
        return upload
    path, temporary = None, False
    try:
        path, temporary = storage_local_path(upload.file.name)
        checkpoint = checkpoint_register(
            path=path, name=upload.name, role=upload.role, dataset=upload.dataset, notes=upload.notes
        )
    except (CheckpointError, ValueError, FileNotFoundError) as exc:
        # Refused: say why in the researcher's terms (their file name, not the quarantine path).
        reason = getattr(exc, "reason", None) or str(exc)
        if path is not None:
            reason = reason.replace(str(path), upload.original_name)
        job_finish(job=upload, error=reason, message=f"refused: {reason}")
    except Exception:
        job_finish(
            job=upload,
            error=traceback.format_exc(),
            message="validation failed unexpectedly; the worker's log has the details",
        )
        raise
    else:
        CheckpointUpload.objects.filter(pk=upload.pk).update(checkpoint=checkpoint)
        already = checkpoint.created_at < upload.created_at
        job_finish(
            job=upload,
            message=(
                f"{'already registered' if already else 'registered'} as checkpoint #{checkpoint.pk} "
                f"{checkpoint.name} ({checkpoint.kind}, step {checkpoint.step})"
            ),
        )
    finally:
        if temporary and path is not None:
            Path(path).unlink(missing_ok=True)
        if upload.file.name:
            default_storage.delete(upload.file.name)
            CheckpointUpload.objects.filter(pk=upload.pk).update(file="")
    upload.refresh_from_db()
    return upload
