"""Create MOS studies from a finished generation run, open them, and print rater links.

    python manage.py create_studies --run 3 [--kinds realism,alignment,timbre] [--ratings-per-stimulus 10]
        [--stimuli-per-assignment 10] [--invites 3] [--base-url http://127.0.0.1:8000] [--draft]

Idempotent for the demo: with --reuse, a run that already has a study of a kind keeps it.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from registry.models import GenerationRun
from studies.models import Kind, Rater, Study
from studies.services.studies import StudyError, invite_token, invites_create, study_create, study_open
from studies.tasks import study_prepare


class Command(BaseCommand):
    help = "Create the realism, alignment and timbre MOS studies of a generation run and print their links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run", type=int, required=True, help="GenerationRun id (finished)")
        parser.add_argument("--kinds", default=",".join(Kind.values))
        parser.add_argument("--ratings-per-stimulus", type=int, default=10)
        parser.add_argument("--stimuli-per-assignment", type=int, default=10)
        parser.add_argument("--reward", default="0.50")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--invites", type=int, default=3, help="Invite links to create per study")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--draft", action="store_true", help="Leave the studies in draft (not open)")
        parser.add_argument(
            "--reuse", action="store_true", help="Keep a study of the same kind if the run has one"
        )
        parser.add_argument(
            "--systems",
            default="",
            help="System keys to rate, comma-separated (default: GT, baseline, proposed and every imported "
            "system; the timbre test never rates the ground truth against itself)",
        )
        parser.add_argument(
            "--reference",
            default="",
            help="Compare each system with this one instead of all pairs (Holm over those tests)",
        )

    def handle(self, *args, **options) -> None:
        run = GenerationRun.objects.filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"no generation run #{options['run']}")
        kinds = [k.strip() for k in options["kinds"].split(",") if k.strip()]
        unknown = sorted(set(kinds) - set(Kind.values))
        if unknown:
            raise CommandError(f"unknown kinds {unknown}; choose from {', '.join(Kind.values)}")
        base = options["base_url"].rstrip("/")
        chosen = [k.strip() for k in options["systems"].split(",") if k.strip()]
        for kind in kinds:
            systems = [k for k in chosen if not (kind == Kind.TIMBRE and k == "ground_truth")] or None
            if chosen and kind == Kind.TIMBRE and "ground_truth" in chosen:
                self.stdout.write("timbre: the ground truth is the reference itself, so it is not rated")
            study = (
                run.studies.filter(kind=kind).order_by("-created_at").first() if options["reuse"] else None
            )
            if study is None:
                try:
                    study = study_create(
                        run=run,
                        kind=kind,
                        ratings_per_stimulus=options["ratings_per_stimulus"],
                        stimuli_per_assignment=options["stimuli_per_assignment"],
                        reward=Decimal(options["reward"]),
                        seed=options["seed"],
                        systems=systems,
                        reference_system=options["reference"],
                        prepare=False,
                    )
                except StudyError as exc:
                    raise CommandError(str(exc)) from exc
                # Check media are built by a cpu task: inline on embedded defaults, on a worker otherwise.
                study_prepare.delay(study.pk)
            study.refresh_from_db()
            if study.state == Study.State.PREPARING:
                self.stdout.write(f"{study.name}: check media are being prepared by a cpu worker")
            elif not options["draft"] and study.state in (Study.State.DRAFT, Study.State.CLOSED):
                study = study_open(study=study)
            invites = list(study.raters.filter(source=Rater.Source.INVITE)[: options["invites"]])
            if len(invites) < options["invites"]:
                invites += invites_create(
                    study=study, count=options["invites"] - len(invites), label="command line"
                )
            stimuli = study.stimuli.filter(role="test").count()
            self.stdout.write(
                self.style.SUCCESS(
                    f"{study.get_kind_display()}: study #{study.pk} ({study.state}, {stimuli} clips)"
                )
            )
            self.stdout.write(f"  researcher page  {base}{study.get_absolute_url()}")
            self.stdout.write(f"  results          {base}{reverse('studies:results', args=[study.pk])}")
            for rater in invites:
                self.stdout.write(
                    f"  rater link       {base}{reverse('studies:invite', args=[invite_token(rater)])}"
                )
        self.stdout.write(f"The paper's tables: {base}{reverse('studies:run_mos', args=[run.pk])}")
