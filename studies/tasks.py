"""Celery tasks of the studies app. `cpu.` builds media; `default.` does MTurk calls and bookkeeping."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="cpu.study_prepare", autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def study_prepare(study_id: int) -> dict:
    from studies.services.studies import study_prepare as prepare

    study = prepare(study_id=study_id)
    return {"study": study.pk, "state": study.state}


@shared_task(name="default.study_sync")
def study_sync(study_id: int) -> dict:
    from studies.services.mturk_ops import study_sync as sync

    return sync(study_id=study_id)


@shared_task(name="default.mturk_sync_all")
def mturk_sync_all() -> dict:
    """Beat's periodic entry: sync every open study that has HITs, one task each."""
    from studies.models import Study

    ids = list(
        Study.objects.filter(state=Study.State.OPEN, hits__isnull=False)
        .distinct()
        .values_list("pk", flat=True)
    )
    for pk in ids:
        study_sync.delay(pk)
    return {"studies": ids}
