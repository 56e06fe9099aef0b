"""Import a system's outputs (one wav per pair id of the run's pack) into a finished run:

    python manage.py import_outputs --run ID --system NAME [--label "My model"] [--partial] outputs/
    (outputs/ is a folder, a .zip or a .tar.gz)

Every file is checked (the rules are in the pack's README); unless --partial, a single refused file
or missing pair id refuses the whole set and nothing is imported. Accepted outputs become samples of
the new system, scored like the run's own systems; the run's tables are recomputed. With a broker
the work runs on the cpu queue and this command follows it; ``--execute ID`` runs an import recorded
by the run page (no broker) in this process.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry import services, tasks
from registry.management.commands._progress import JobProgress
from registry.models import GenerationRun, Status, SystemImport


class Command(BaseCommand):
    help = "Validate a system's outputs for a run's pairs and add it to the run as a new system."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="A folder, .zip or .tar.gz of <pair_id>.wav files")
        parser.add_argument("--run", type=int, help="GenerationRun id (finished)")
        parser.add_argument("--system", help="Key of the new system: lower-case letters, digits, - and _")
        parser.add_argument("--label", default="", help="Its name in tables (default: the key)")
        parser.add_argument(
            "--partial", action="store_true", help="Import the accepted files even if others are refused"
        )
        parser.add_argument("--execute", type=int, metavar="IMPORT_ID", help=argparse_hidden())

    def handle(self, *args, **options) -> None:
        if options["execute"] is not None:
            row = self._execute(options["execute"])
        else:
            row = self._create(options)
        self._report(row)

    def _create(self, options) -> SystemImport:
        if not (options["path"] and options["run"] and options["system"]):
            raise CommandError("give --run ID --system NAME and the folder or archive of outputs")
        run = GenerationRun.objects.filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"no generation run #{options['run']}")
        path = Path(options["path"]).expanduser()
        try:
            row = services.system_import_create(
                run=run,
                system_key=options["system"],
                label=options["label"],
                partial=options["partial"],
                path=path,
            )
        except (services.SystemImportError, OSError) as exc:
            raise CommandError(str(exc)) from None
        with JobProgress(row, unit="file", queue="cpu") as progress:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                row = services.system_import_execute(import_id=row.pk)
            else:
                result = tasks.system_import.delay(row.pk)
                SystemImport.objects.filter(pk=row.pk).update(task_id=result.id or "")
                row = progress.follow(result, interval_s=1.0)
        return row

    def _execute(self, import_id: int) -> SystemImport:
        if not SystemImport.objects.filter(pk=import_id).exists():
            raise CommandError(f"no system import #{import_id}")
        return services.system_import_execute(import_id=import_id)

    def _report(self, row: SystemImport) -> None:
        report = row.report or {}
        for entry in report.get("files", []):
            if entry["status"] != "accepted" or entry["notes"] or entry["flags"]:
                said = "; ".join(entry["problems"] + entry["flags"] + entry["notes"])
                self.stdout.write(f"  {entry['status']:8} {entry['name']}: {said}")
        for entry in report.get("refused_members", []):
            self.stdout.write(f"  refused  {entry['name']}: {entry['reason']}")
        if report.get("missing"):
            shown = ", ".join(report["missing"][:20]) + (" ..." if len(report["missing"]) > 20 else "")
            self.stdout.write(f"  missing  {len(report['missing'])} pair ids: {shown}")
        if row.status != Status.SUCCEEDED:
            raise CommandError(f"import #{row.pk} {row.status}: {row.message}")
        self.stdout.write(self.style.SUCCESS(f"import #{row.pk}: {row.message} (run #{row.run_id})"))


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS
