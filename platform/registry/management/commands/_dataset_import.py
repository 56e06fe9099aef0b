"""What the three import commands share: create or re-queue the dataset, run the import (in-process
with a progress bar on the embedded default, or on a `cpu` worker when a broker is configured, following
its progress from the database), then print the splits and any problems."""

from __future__ import annotations

from celery.result import AsyncResult
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry import services, tasks
from registry.management.commands._progress import JobProgress
from registry.models import Dataset, Status


class DatasetImportCommand(BaseCommand):
    source: str = ""

    def add_common_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", help="Dataset name (re-using a name re-runs that import idempotently).")
        parser.add_argument(
            "--no-wait", action="store_true", help="With a broker: enqueue the import and return at once."
        )

    def run_import(
        self, *, name: str, source_path: str = "", config: dict | None = None, wait: bool = True
    ) -> Dataset:
        try:
            dataset = services.dataset_prepare(
                name=name, source=self.source, source_path=source_path, config=config
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Dataset {dataset.name!r} (#{dataset.pk}) -> storage folder {dataset.root}/")
        if settings.CELERY_TASK_ALWAYS_EAGER:
            dataset = self._run_here(dataset)
        else:
            result = tasks.dataset_import.delay(dataset.pk)
            Dataset.objects.filter(pk=dataset.pk).update(task_id=result.id)
            self.stdout.write(f"Queued on the cpu queue as task {result.id}")
            if not wait:
                return dataset
            dataset = self._follow(dataset, result)
        self._report(dataset)
        if dataset.status == Status.FAILED:
            raise CommandError(f"import failed: {dataset.message}")
        return dataset

    def _run_here(self, dataset: Dataset) -> Dataset:
        with JobProgress(dataset, unit="clip", queue="cpu"):
            try:
                services.dataset_import(dataset_id=dataset.pk)
            except Exception:  # recorded on the dataset; reported below
                pass
        dataset.refresh_from_db()
        return dataset

    def _follow(self, dataset: Dataset, result: AsyncResult) -> Dataset:
        with JobProgress(dataset, unit="clip", queue="cpu") as progress:
            return progress.follow(result)

    def _report(self, dataset: Dataset) -> None:
        stats = dataset.stats or {}
        by_split = stats.get("by_split", {})
        self.stdout.write(
            f"{dataset.status}: {stats.get('clips', 0)} clips "
            f"(train {by_split.get('train', 0)}, val {by_split.get('val', 0)}, test {by_split.get('test', 0)}) "
            f"in {len(stats.get('by_category', {}))} categories"
        )
        for problem in dataset.problems[:20]:
            self.stderr.write(f"  skipped {problem['source']}: {problem['reason']}")
        if len(dataset.problems) > 20:
            self.stderr.write(f"  ... and {len(dataset.problems) - 20} more problems (see the dataset page)")
        if dataset.status == Status.FAILED and dataset.error:
            self.stderr.write(dataset.error.strip().splitlines()[-1])
