"""Export a finished run's inputs as a pack for a system trained elsewhere:

    python manage.py export_inputs --run ID -o pack.tar.gz      # or -o a-new-folder/

The pack holds every pair the run generated (realism, also used for alignment; timbre; ablation), each
with its silent video, video features, reference audio and HiFi-GAN mel, a manifest (csv and json,
with the sha256 of every file) and a README saying what to produce. Import the outputs with
``import_outputs``.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from registry import services
from registry.models import GenerationRun


class Command(BaseCommand):
    help = "Write a finished run's inputs (videos, features, references, manifest, README) as a pack."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, required=True, help="GenerationRun id (finished)")
        parser.add_argument("-o", "--output", required=True, help="A .tar.gz / .tgz file, or a new folder")

    def handle(self, *args, run: int, output: str, **options) -> None:
        found = GenerationRun.objects.filter(pk=run).first()
        if found is None:
            raise CommandError(f"no generation run #{run}")
        out = Path(output).expanduser().resolve()
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such folder")
        with tqdm(desc=f"pack of run #{found.pk}", unit="clip", dynamic_ncols=True) as bar:

            def progress(done: int, total: int) -> None:
                bar.total, bar.n = total, done
                bar.refresh()

            try:
                services.run_inputs_export(run=found, out=out, progress=progress)
            except (services.SystemImportError, OSError, ValueError) as exc:
                raise CommandError(str(exc)) from None
        manifest = json.loads((services.run_inputs_pack(run=found) / "manifest.json").read_text())
        self.stdout.write(
            self.style.SUCCESS(f"{len(manifest['pairs'])} pairs of run #{found.pk} written to {out}")
        )
