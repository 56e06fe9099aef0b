"""The demo pipeline on embedded defaults, idempotent: re-running it keeps what exists.

    python manage.py demo [--clips-per-category 8] [--steps 300] [--categories dog,drum]

1. builds a SynthVAS dataset (8 categories of 10-s clips);
2. trains tiny checkpoints of VarietySound and the cascade on it (skipped when they exist);
3. runs the evaluation protocol on some categories (skipped when a run succeeded already);
4. evaluates a system made outside the platform, as a researcher with their own model would: exports
   the run's input pack, runs ``examples/onset_foley.py`` on it (a few lines of signal processing that
   read only the pack) and imports its outputs as the system "foley" (skipped when the run has it);
5. creates the three MOS studies of that run (realism, alignment, timbre) over its systems, opens them
   for local raters and prints the researcher, results and rater links.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from registry.models import Checkpoint, Dataset, GenerationRun, Status

DEMO_DATASET = "synthvas-demo"
OUTSIDE_SYSTEM = "foley"  # made by examples/onset_foley.py


class Command(BaseCommand):
    help = "Build the demo: SynthVAS, tiny checkpoints of both systems, and a generation run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clips-per-category", type=int, default=8)
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--steps", type=int, default=300, help="Training steps per system (tiny preset)")
        parser.add_argument("--categories", default="dog,drum", help="Categories the protocol runs on")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the printed links point"
        )

    def handle(self, *args, **options) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING("1/5 SynthVAS"))
        call_command(
            "make_synthvas",
            "--clips-per-category",
            str(options["clips_per_category"]),
            "--seconds",
            str(options["seconds"]),
            "--name",
            DEMO_DATASET,
        )
        dataset = Dataset.objects.get(name=DEMO_DATASET)
        self.stdout.write(self.style.MIGRATE_HEADING("2/5 tiny checkpoints"))
        for system, role in (
            ("varietysound", Checkpoint.Role.PROPOSED),
            ("cascade", Checkpoint.Role.BASELINE),
        ):
            existing = Checkpoint.objects.filter(dataset=dataset, kind=system, role=role).first()
            if existing:
                self.stdout.write(f"{system}: using {existing.name}")
                continue
            call_command(
                "train",
                "--system",
                system,
                "--preset",
                "tiny",
                "--dataset",
                DEMO_DATASET,
                "--steps",
                str(options["steps"]),
            )
        self.stdout.write(self.style.MIGRATE_HEADING("3/5 evaluation protocol"))
        run = GenerationRun.objects.filter(dataset=dataset, status=Status.SUCCEEDED).first()
        if run is None:
            call_command(
                "generate",
                "--dataset",
                DEMO_DATASET,
                "--categories",
                options["categories"],
                "--name",
                "demo protocol",
            )
            run = GenerationRun.objects.filter(dataset=dataset, status=Status.SUCCEEDED).latest("created_at")
        else:
            self.stdout.write(f"using run {run.name!r}")
        self.stdout.write(self.style.MIGRATE_HEADING("4/5 your own model: export, run elsewhere, import"))
        self._outside_system(run)
        self.stdout.write(self.style.MIGRATE_HEADING("5/5 MOS studies"))
        call_command(
            "create_studies",
            "--run",
            str(run.pk),
            "--reuse",
            "--invites",
            "2",
            "--ratings-per-stimulus",
            "3",
            "--stimuli-per-assignment",
            "6",
            "--base-url",
            options["base_url"],
            stdout=self.stdout,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: dataset {dataset.name} ({dataset.stats.get('clips', 0)} clips), "
                f"run at {options['base_url'].rstrip('/')}/runs/{run.pk}/"
            )
        )

    def _outside_system(self, run: GenerationRun) -> None:
        if any(s["key"] == OUTSIDE_SYSTEM for s in run.spec.get("systems", [])):
            self.stdout.write(f"run {run.name!r} already has the system {OUTSIDE_SYSTEM!r}")
            return
        work = Path(settings.VAR_DIR) / "demo-outside" / str(run.uid)
        pack, outputs = work / "pack", work / "outputs"
        if not pack.exists():
            work.mkdir(parents=True, exist_ok=True)
            call_command("export_inputs", "--run", str(run.pk), "-o", str(pack), stdout=self.stdout)
        script = Path(settings.BASE_DIR) / "examples" / "onset_foley.py"
        self.stdout.write(f"running {script.name} on the pack (not platform code: it reads only the pack)")
        subprocess.run([sys.executable, str(script), str(pack), str(outputs)], check=True)
        call_command(
            "import_outputs", "--run", str(run.pk), "--system", OUTSIDE_SYSTEM, "--label", "Onset foley (script)",
            str(outputs), stdout=self.stdout,
        )  # fmt: skip
