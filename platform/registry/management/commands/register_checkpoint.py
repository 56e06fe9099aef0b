"""Register a checkpoint file trained elsewhere: `python manage.py register_checkpoint model.pt --role proposed`.

The file is loaded with torch.load(weights_only=True) and rebuilt into its network before anything is
recorded, so a file that is not one of ours, or a pickle carrying code, is refused with the reason.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry import services
from registry.models import Checkpoint, Dataset


class Command(BaseCommand):
    help = "Validate and register a checkpoint file (copied into media storage under its sha256)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", default=None)
        parser.add_argument("--role", required=True, choices=Checkpoint.Role.values)
        parser.add_argument("--dataset", default=None, help="Dataset it was trained on (optional)")
        parser.add_argument("--notes", default="")

    def handle(
        self, *args, path: Path, name: str | None, role: str, dataset: str | None, notes: str, **options
    ) -> None:
        from inference.models.checkpoint import CheckpointError

        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        trained_on = None
        if dataset:
            trained_on = Dataset.objects.filter(name=dataset).first()
            if trained_on is None:
                raise CommandError(f"no dataset named {dataset!r}")
        try:
            checkpoint = services.checkpoint_register(
                path=path, name=name or path.stem, role=role, dataset=trained_on, notes=notes
            )
        except (CheckpointError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint #{checkpoint.pk} {checkpoint.name} ({checkpoint.kind}, "
                f"step {checkpoint.step}, sha256 {checkpoint.sha256[:12]})"
            )
        )
