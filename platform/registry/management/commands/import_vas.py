from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from registry.management.commands._dataset_import import DatasetImportCommand
from registry.models import Dataset


class Command(DatasetImportCommand):
    help = (
        "Import a dataset in the VAS layout of RegNet/SpecVQGAN (per-category feature pickles, mel .npy, "
        "audio and videos; split from vas_train.txt/vas_valid.txt when present, else the paper's 32/32)."
    )
    source = Dataset.Source.VAS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", type=Path, help="Root of the VAS tree (holding <category>/ or features/<category>/)"
        )
        self.add_common_arguments(parser)

    def handle(self, *args, path: Path, name: str | None, no_wait: bool, **options) -> None:
        if not path.is_dir():
            raise CommandError(f"{path}: not a folder")
        self.run_import(
            name=name or f"vas-{path.resolve().name}", source_path=str(path.resolve()), wait=not no_wait
        )
