"""Validate a checkpoint uploaded on the web page: `python manage.py register_upload UPLOAD_ID`.

The upload page runs this in a background process when there is no broker (a task would otherwise run
inside the web server, which never loads torch); with a broker the `cpu.checkpoint_upload_register`
task does the same work.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry import services
from registry.models import CheckpointUpload, Status


class Command(BaseCommand):
    help = "Validate a quarantined checkpoint upload and register it, or record why it was refused."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("upload", type=int, help="Id of the upload (shown on the upload page)")

    def handle(self, *args, upload: int, **options) -> None:
        if not CheckpointUpload.objects.filter(pk=upload).exists():
            raise CommandError(f"no checkpoint upload #{upload}")
        result = services.checkpoint_upload_register(upload_id=upload)
        if result.status != Status.SUCCEEDED:
            raise CommandError(f"upload #{result.pk} {result.status}: {result.message}")
        self.stdout.write(self.style.SUCCESS(f"upload #{result.pk}: {result.message}"))
