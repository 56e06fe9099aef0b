from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from registry.management.commands._dataset_import import DatasetImportCommand
from registry.models import Dataset


class Command(DatasetImportCommand):
    help = (
        "Import a folder of raw videos, one sub-folder per category: ffmpeg extracts 10-s 22050 Hz audio, "
        "normalises the video to 21.5 fps 340x256, and both mel formats and video features are computed."
    )
    source = Dataset.Source.VIDEOS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="Folder holding <category>/<video files>")
        self.add_common_arguments(parser)

    def handle(self, *args, path: Path, name: str | None, no_wait: bool, **options) -> None:
        if not path.is_dir():
            raise CommandError(f"{path}: not a folder")
        self.run_import(
            name=name or f"videos-{path.resolve().name}", source_path=str(path.resolve()), wait=not no_wait
        )
