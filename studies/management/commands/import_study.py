"""Recreate a study from an archive written by `export_study`, in this database and media store.

    python manage.py import_study study.tar.gz

Checks the whole archive first (format, checksums, references); refuses a study that is already here.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.archive import ArchiveError, study_counts, study_import


class Command(BaseCommand):
    help = "Import a study archive written by export_study (refused if the study is already here)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", help="The .tar.gz file written by export_study")

    def handle(self, *args, **options) -> None:
        try:
            study = study_import(path=options["archive"])
        except ArchiveError as exc:
            raise CommandError(f"{options['archive']}: {exc}") from exc
        counts = ", ".join(f"{n} {what}" for what, n in study_counts(study).items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported study #{study.pk} {study.name!r} ({study.uid}) on run #{study.run_id}"
            )
        )
        self.stdout.write(f"  {counts}")
