"""A progress bar that follows one job row (Dataset, TrainingRun, GenerationRun).

In-process (the embedded default) the work reports through the `job_progressed` signal; on a worker,
the command polls the row. Either way the user sees the bar move, a task that died before it could
record anything is caught through its Celery state, and a task nobody picks up gets a hint.
"""

from __future__ import annotations

import time

from tqdm import tqdm

from registry.models import Job, Status
from registry.services.jobs import job_finish, job_progressed


class JobProgress:
    def __init__(self, job: Job, *, unit: str, queue: str, hint_after_s: float = 15.0) -> None:
        self.job, self.queue, self.hint_after_s = job, queue, hint_after_s
        self.bar = tqdm(desc=f"{type(job).__name__} #{job.pk}", unit=unit, dynamic_ncols=True)

    def __enter__(self) -> JobProgress:
        job_progressed.connect(self._on_progress, sender=type(self.job), weak=False)
        return self

    def __exit__(self, *exc) -> None:
        job_progressed.disconnect(self._on_progress, sender=type(self.job))
        self.bar.close()

    def _on_progress(self, sender, job_id: int, done: int, total: int | None, message: str, **kwargs) -> None:
        if job_id != self.job.pk:
            return
        if total is not None:
            self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(message[:60], refresh=True)

    def follow(self, result, *, interval_s: float = 1.0) -> Job:
        """Poll the row until the job finishes (the work runs on a worker)."""
        started, hinted = time.monotonic(), False
        while True:
            self.job.refresh_from_db()
            self.bar.total = self.job.progress_total or None
            self.bar.n = self.job.progress_done
            self.bar.set_postfix_str((self.job.message or self.job.status)[:60], refresh=True)
            if self.job.is_finished:
                return self.job
            if (
                result is not None
                and result.state == "FAILURE"
                and self.job.status in (Status.QUEUED, Status.PENDING)
            ):
                job_finish(job=self.job, error=f"the task failed before it started: {result.result!r}")
                return self.job
            if (
                not hinted
                and self.job.status == Status.QUEUED
                and time.monotonic() - started > self.hint_after_s
            ):
                self.bar.write(
                    f"still queued: is a worker consuming the {self.queue} queue? (celery --workdir platform "
                    f"-A config worker -Q {self.queue}); Ctrl-C leaves the job queued"
                )
                hinted = True
            time.sleep(interval_s)
