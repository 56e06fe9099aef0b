"""Run the paper's evaluation protocol on a dataset:

    python manage.py generate --dataset synthvas-demo [--proposed CKPT] [--baseline CKPT]
        [--ablation "w/o MD=CKPT"] [--seed 0] [--categories dog,drum]

CKPT is a checkpoint id or name; by default the newest proposed / baseline checkpoint trained on the
dataset. Realism, alignment, timbre and ablation sets are built per category (Appendix D), generated
on the gpu queue, muxed and scored on the cpu queue, and summarised in the paper's tables.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.selection import Protocol
from registry import services, tasks
from registry.management.commands._progress import JobProgress
from registry.models import Checkpoint, Dataset, GenerationRun, Status


def find_checkpoint(reference: str, *, role: str | None = None) -> Checkpoint:
    queryset = Checkpoint.objects.all()
    if reference.isdigit():
        found = queryset.filter(pk=int(reference)).first()
    else:
        found = queryset.filter(name=reference).order_by("-created_at").first()
    if found is None:
        raise CommandError(f"no checkpoint {reference!r}")
    if role and found.role != role:
        raise CommandError(f"checkpoint {found.name!r} has role {found.role}, not {role}")
    return found


class Command(BaseCommand):
    help = "Generate the paper's evaluation sets for the proposed model, the baseline and ablations, with metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", help="Dataset name (required unless --start-run)")
        parser.add_argument(
            "--start-run",
            type=int,
            help="Start (and follow) a run created on the web page instead of a new one",
        )
        parser.add_argument("--proposed", help="VarietySound checkpoint (id or name)")
        parser.add_argument("--baseline", help="Cascade checkpoint (id or name); 'none' to leave it out")
        parser.add_argument(
            "--ablation",
            action="append",
            default=[],
            metavar="LABEL=CKPT",
            help="A retrained ablation, e.g. 'w/o MD=12' (repeatable)",
        )
        parser.add_argument("--no-variants", action="store_true", help="Skip the inference-time ablations")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--categories", default="", help="Comma-separated (default: all)")
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument(
            "--realism", type=int, default=10, help="Clips per category for realism/alignment"
        )
        parser.add_argument("--timbre-references", type=int, default=5)
        parser.add_argument("--timbre-videos", type=int, default=3)
        parser.add_argument("--ablation-pairs", type=int, default=10)
        parser.add_argument("--name", default="")
        parser.add_argument("--no-wait", action="store_true", help="With a broker: enqueue and return")

    def handle(self, *args, **options) -> None:
        if options["start_run"]:
            run = GenerationRun.objects.filter(pk=options["start_run"]).first()
            if run is None:
                raise CommandError(f"no generation run #{options['start_run']}")
            self.stdout.write(f"Generation run #{run.pk} {run.name!r}")
            return self._start(run, options)
        if not options["dataset"]:
            raise CommandError("--dataset is required (or --start-run)")
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset named {options['dataset']!r}")
        proposed = self._checkpoint(options["proposed"], dataset, Checkpoint.Role.PROPOSED)
        baseline = None
        if options["baseline"] != "none":
            baseline = self._checkpoint(
                options["baseline"], dataset, Checkpoint.Role.BASELINE, required=False
            )
        ablations = {}
        for item in options["ablation"]:
            label, _, reference = item.rpartition("=")
            if not label or not reference:
                raise CommandError(f"--ablation needs LABEL=CKPT, got {item!r}")
            ablations[label] = find_checkpoint(reference)
        categories = [c.strip() for c in options["categories"].split(",") if c.strip()] or None
        try:
            protocol = Protocol(
                realism=options["realism"],
                timbre_references=options["timbre_references"],
                timbre_videos=options["timbre_videos"],
                ablation=options["ablation_pairs"],
            )
            run = services.generation_run_create(
                dataset=dataset,
                systems=services.protocol_systems(
                    proposed=proposed,
                    baseline=baseline,
                    retrained_ablations=ablations,
                    variants=not options["no_variants"],
                ),
                seed=options["seed"],
                name=options["name"],
                categories=categories,
                protocol=protocol,
                batch_size=options["batch_size"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Generation run #{run.pk} {run.name!r}: proposed {proposed.name}"
            + (f", baseline {baseline.name}" if baseline else ", no baseline")
        )
        self._start(run, options)

    def _start(self, run: GenerationRun, options) -> None:
        with JobProgress(run, unit="sample", queue="gpu") as progress:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                try:
                    tasks.generation_run_start.delay(run.pk)
                except Exception:  # recorded on the run; reported below
                    pass
                run.refresh_from_db()
            else:
                result = tasks.generation_run_start.delay(run.pk)
                GenerationRun.objects.filter(pk=run.pk).update(task_id=result.id)
                self.stdout.write(f"Queued as task {result.id}")
                if options["no_wait"]:
                    return
                run = progress.follow(result, interval_s=2.0)
        for warning in run.warnings:
            self.stderr.write(f"warning: {warning}")
        if run.status != Status.SUCCEEDED:
            raise CommandError(f"generation {run.status}: {run.message}")
        self.stdout.write(self.style.SUCCESS(f"{run.message}; see /runs/{run.pk}/"))

    def _checkpoint(self, reference: str | None, dataset: Dataset, role: str, *, required: bool = True):
        if reference:
            return find_checkpoint(reference)
        found = Checkpoint.objects.filter(dataset=dataset, role=role).order_by("-created_at").first()
        if found is None and required:
            raise CommandError(
                f"no {role} checkpoint trained on {dataset.name!r}: train one or pass --{role}"
            )
        return found
