"""Train VarietySound or the cascade baseline on a dataset and register the checkpoint.

    python manage.py train --system varietysound --preset tiny --dataset synthvas-demo [--category dog]

In-process with a progress bar on the embedded default; on a `gpu` worker when a broker is configured
(the command then follows the run's progress from the database).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from registry import services, tasks
from registry.management.commands._progress import JobProgress
from registry.models import Dataset, Status, TrainingRun, trainable_system_choices
from registry.services.training import DISCRIMINATOR_SWITCHES, PRESETS


class Command(BaseCommand):
    help = "Train a system (VarietySound or the cascade) on a dataset and register the resulting checkpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--system", required=True, choices=[name for name, _ in trainable_system_choices()]
        )
        parser.add_argument("--preset", default="tiny", choices=PRESETS)
        parser.add_argument("--dataset", required=True, help="Dataset name")
        parser.add_argument("--category", default="", help="Train on one category (default: all)")
        parser.add_argument("--steps", type=int, default=None, help="Override the preset's number of steps")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--without",
            action="append",
            default=[],
            choices=sorted(DISCRIMINATOR_SWITCHES),
            help="Ablation: train without this discriminator (repeatable; VarietySound only)",
        )
        parser.add_argument("--no-wait", action="store_true", help="With a broker: enqueue and return")

    def handle(self, *args, **options) -> None:
        try:
            dataset = Dataset.objects.get(name=options["dataset"])
        except Dataset.DoesNotExist:
            raise CommandError(f"no dataset named {options['dataset']!r}") from None
        try:
            run = services.training_run_create(
                system=options["system"],
                preset=options["preset"],
                dataset=dataset,
                category=options["category"],
                seed=options["seed"],
                max_steps=options["steps"],
                disable_discriminators=tuple(options["without"]),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Training run #{run.pk}: {run}")
        if settings.CELERY_TASK_ALWAYS_EAGER:
            run = self._run_here(run)
        else:
            result = tasks.train.delay(run.pk)
            TrainingRun.objects.filter(pk=run.pk).update(task_id=result.id)
            self.stdout.write(f"Queued on the gpu queue as task {result.id}")
            if options["no_wait"]:
                return
            run = self._follow(run, result)
        if run.status != Status.SUCCEEDED:
            raise CommandError(f"training {run.status}: {run.message}")
        checkpoint = run.checkpoints.order_by("-created_at").first()
        self.stdout.write(self.style.SUCCESS(f"Registered checkpoint #{checkpoint.pk} {checkpoint.name}"))

    def _run_here(self, run: TrainingRun) -> TrainingRun:
        with tqdm(desc=f"train #{run.pk}", unit="step", dynamic_ncols=True) as bar:

            def progress(update) -> None:
                bar.total = update.total_steps
                bar.n = update.step
                shown = {k: f"{v:.3g}" for k, v in list(update.losses.items())[:4]}
                bar.set_postfix(shown | {"it/s": f"{update.steps_per_s:.2f}"}, refresh=True)

            try:
                services.training_run_execute(run_id=run.pk, progress=progress)
            except Exception:  # recorded on the run; reported by the caller
                pass
        run.refresh_from_db()
        return run

    def _follow(self, run: TrainingRun, result) -> TrainingRun:
        with JobProgress(run, unit="step", queue="gpu") as progress:
            return progress.follow(result, interval_s=2.0)
