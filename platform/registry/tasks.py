"""Celery tasks of the registry. Named `<queue>.<what>`: the prefix routes them (settings.py).

Tasks import heavy modules (torch, inference) inside their bodies: the web process imports this module
when it enqueues, and it never imports torch.
"""

from __future__ import annotations

from celery import Task, shared_task
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


@shared_task(name="cpu.checkpoint_upload_register")
def checkpoint_upload_register(upload_id: int) -> dict:
    upload = services.checkpoint_upload_register(upload_id=upload_id)
    return {"upload": upload.pk, "status": upload.status, "checkpoint": upload.checkpoint_id}


class WorkerTask(Task):
    """Holds what a worker process loads once: generation models by checkpoint hash and the timbre
    encoder. Celery creates one instance of each task class per process, so these live per process."""

    _model_cache = None
    _timbre_encoder = None

    @property
    def model_cache(self):
        if self._model_cache is None:
            from inference.generate import ModelCache

            type(self)._model_cache = ModelCache(
                settings.INFERENCE_DEVICE,
                vocoder_runtime=settings.VOCODER_RUNTIME,
                vocoder_precision=settings.VOCODER_PRECISION,
                cache_dir=settings.INFERENCE_CACHE_DIR,
            )
        return self._model_cache

    @property
    def timbre_encoder(self):
        if self._timbre_encoder is None:
            from inference.metrics.timbre import TimbreEncoder

            type(self)._timbre_encoder = TimbreEncoder("cpu")
        return self._timbre_encoder


@shared_task(name="default.generation_run_start")
def generation_run_start(run_id: int) -> dict:
    run = services.generation_run_start(run_id=run_id)
    return {"run": run.pk, "status": run.status}


def _batch_failed(task, exc, task_id, args, kwargs, einfo) -> None:
    run_id, _system, sample_ids = args
    services.generation_batch_failed(sample_ids=sample_ids, error=f"{type(exc).__name__}: {exc}\n{einfo}")
    services.generation_run_check_complete(run_id=run_id)


@shared_task(
    name="gpu.generation_batch",
    base=WorkerTask,
    bind=True,
    autoretry_for=(OSError, RuntimeError),
    retry_backoff=10,
    max_retries=2,
    on_failure=_batch_failed,
)
def generation_batch(self, run_id: int, system_key: str, sample_ids: list[int]) -> dict:
    result = services.generation_batch_run(
        run_id=run_id, system_key=system_key, sample_ids=sample_ids, cache=self.model_cache
    )
    if result.get("ids"):
        samples_finish.delay(run_id, result["ids"])
    else:
        services.generation_run_check_complete(run_id=run_id)
    return {k: v for k, v in result.items() if k != "ids"}


@shared_task(name="cpu.samples_finish", autoretry_for=(OSError,), retry_backoff=5, max_retries=2)
def samples_finish(run_id: int, sample_ids: list[int]) -> int:
    finished = services.samples_finish(run_id=run_id, sample_ids=sample_ids)
    services.generation_run_check_complete(run_id=run_id)
    return finished


@shared_task(name="cpu.generation_run_finalize", base=WorkerTask, bind=True)
def generation_run_finalize(self, run_id: int) -> dict:
    run = services.generation_run_finalize(run_id=run_id, encoder=self.timbre_encoder)
    return {"run": run.pk, "status": run.status}


@shared_task(name="cpu.system_import", base=WorkerTask, bind=True)
def system_import(self, import_id: int) -> dict:
    row = services.system_import_execute(import_id=import_id, encoder=self.timbre_encoder)
    return {"import": row.pk, "status": row.status, "imported": row.imported}
