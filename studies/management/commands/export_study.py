"""Write one study, with what it needs of its run and the media it plays, to a self-contained archive.

    python manage.py export_study <study id or uid> [-o study.tar.gz]

The archive imports into another database with `import_study` (docs/backup.md says when to use it).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studies.archive import ArchiveError, study_counts, study_export
from studies.models import Study


def study_find(reference: str) -> Study:
    """A study named by its id (as in its page's URL) or its uid (as in raters' links)."""
    reference = reference.strip()
    if reference.isdigit():
        study = Study.objects.filter(pk=int(reference)).first()
    else:
        try:
            study = Study.objects.filter(uid=uuid.UUID(reference)).first()
        except ValueError:
            raise CommandError(f"{reference!r} is neither a study id nor a study uid") from None
    if study is None:
        raise CommandError(f"no study {reference}")
    return study


class Command(BaseCommand):
    help = "Export a study (stimuli, raters, ratings, screening, MTurk ids, media) to a .tar.gz archive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="Study id or uid")
        parser.add_argument("-o", "--output", help="Archive to write (default: study-<uid>.tar.gz)")

    def handle(self, *args, **options) -> None:
        study = study_find(options["study"])
        output = Path(options["output"] or f"study-{study.uid}.tar.gz")
        try:
            path = study_export(study=study, path=output)
        except ArchiveError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:  # the output path: a folder, a read-only place, a full disk
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from exc
        counts = ", ".join(f"{n} {what}" for what, n in study_counts(study).items())
        self.stdout.write(
            self.style.SUCCESS(f"Exported study #{study.pk} {study.name!r} ({study.uid}) to {path}")
        )
        self.stdout.write(f"  {counts}; {path.stat().st_size} bytes")
