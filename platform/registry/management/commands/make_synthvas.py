from __future__ import annotations

import os

from django.core.management.base import CommandError, CommandParser

from registry.management.commands._dataset_import import DatasetImportCommand
from registry.models import CATEGORIES, Dataset


class Command(DatasetImportCommand):
    help = (
        "Generate SynthVAS: VAS-like clips whose visual events coincide exactly with synthesised sound events, "
        "with per-clip timbre and saved ground truth, split 32 val / 32 test per category at full size."
    )
    source = Dataset.Source.SYNTHVAS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clips-per-category", type=int, default=40)
        parser.add_argument(
            "--seconds", type=float, default=10.0, help="Clip duration (the paper's clips are 10 s)."
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--categories", default=",".join(CATEGORIES), help="Comma-separated subset of the 8."
        )
        parser.add_argument("--width", type=int, default=340)
        parser.add_argument("--height", type=int, default=256)
        parser.add_argument(
            "--workers", type=int, default=os.cpu_count() or 1, help="Processes (same output)."
        )
        self.add_common_arguments(parser)

    def handle(self, *args, name: str | None, no_wait: bool, **options) -> None:
        categories = [c.strip() for c in options["categories"].split(",") if c.strip()]
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise CommandError(f"unknown categories {unknown}; SynthVAS has {list(CATEGORIES)}")
        if options["clips_per_category"] < 1:
            raise CommandError("--clips-per-category must be at least 1")
        if not 1.0 <= options["seconds"] <= 60.0:
            raise CommandError("--seconds must be between 1 and 60")
        config = {
            "clips_per_category": options["clips_per_category"],
            "duration_s": options["seconds"],
            "categories": categories,
            "seed": options["seed"],
            "width": options["width"],
            "height": options["height"],
            "workers": max(1, options["workers"]),
        }
        default_name = (
            f"synthvas-{config['clips_per_category']}x{config['duration_s']:g}s-seed{config['seed']}"
        )
        self.run_import(name=name or default_name, config=config, wait=not no_wait)
