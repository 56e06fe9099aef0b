"""Benchmark: a study's results page computed from 1,000,000 ratings stored in PostgreSQL.

bench_mos_stats.py times the statistics on arrays; this one times the platform's own path, the one
the results page and its exports take: the valid-ratings query (joins to rater, assignment and
stimulus), the report (t and two-way bootstrap intervals, Mann–Whitney + Holm, Krippendorff's α) per
category × system and on average, the progress summary, and the ratings CSV export.

It creates a throw-away PostgreSQL database (dropped at the end), migrates it, and bulk-loads a study:
3 systems × 8 categories × 50 test stimuli (1,200), 10,000 raters with 10 assignments of 10 clips
each; a few percent of raters are excluded (as screening would) so the valid filter has work to do.

    .venv/bin/python bench/bench_study_results.py [--ratings 1000000] [--boot 1000] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "platform"))

from _report import append_section, command_line, markdown_table, section, utc_now  # noqa: E402

CATEGORIES = ("baby", "cough", "dog", "drum", "fireworks", "gun", "hammer", "sneeze")
SYSTEMS = {"ground_truth": 4.3, "baseline": 3.1, "proposed": 3.9}


def admin(postgres: str):
    import psycopg2

    connection = psycopg2.connect(f"{postgres}/postgres")
    connection.autocommit = True
    return connection


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    database = f"bench_results_{os.getpid()}_{secrets.token_hex(3)}"
    connection = admin(args.postgres)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{database}"')
    os.environ.update(
        DATABASE_URL=f"{args.postgres}/{database}",
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(50)),
        VAR_DIR=str(REPO / "var" / "bench" / "results"),
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    try:
        return run(args, database)
    finally:
        from django.db import connections

        connections.close_all()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.close()


def run(args, database: str) -> int:
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command

    from registry.models import Clip, Dataset, GenerationRun, Sample, Split, Status
    from studies.models import Assignment, AssignmentItem, Rater, Rating, Stimulus, Study
    from studies.services.rating import study_recount
    from studies.services.results import ratings_csv, study_results
    from studies.services.studies import study_progress

    timings: list[tuple[str, float]] = []

    def timed(label: str, fn):
        start = time.perf_counter()
        value = fn()
        timings.append((label, time.perf_counter() - start))
        print(f"  {label:<66} {timings[-1][1]:8.2f} s", flush=True)
        return value

    load_start = time.perf_counter()
    call_command("migrate", verbosity=0)
    rng = np.random.default_rng(0)
    per_assignment, per_rater = 10, 10
    n_raters = max(1, args.ratings // (per_assignment * per_rater))
    dataset = Dataset.objects.create(name="bench", source="synthvas", root="x", status=Status.SUCCEEDED)
    run = GenerationRun.objects.create(
        name="bench",
        dataset=dataset,
        status=Status.SUCCEEDED,
        spec={"systems": [{"key": k, "label": k, "checkpoint": None, "tasks": ["realism"]} for k in SYSTEMS],
              "categories": list(CATEGORIES)},
    )  # fmt: skip
    clips = Clip.objects.bulk_create(
        [Clip(dataset=dataset, clip_id=f"{c}-{i}", category=c, split=Split.TEST) for c in CATEGORIES for i in range(50)]
    )  # fmt: skip
    samples = Sample.objects.bulk_create(
        [Sample(run=run, task="realism", category=clip.category, system=s, clip=clip, audio="x.wav",
                status=Status.SUCCEEDED) for clip in clips for s in SYSTEMS]
    )  # fmt: skip
    study = Study.objects.create(
        name="bench", run=run, kind="realism", instructions="-", rubric={"question": "q", "levels": {}},
        systems=list(SYSTEMS), categories=list(CATEGORIES), ratings_per_stimulus=args.ratings // len(samples),
        state=Study.State.OPEN,
    )  # fmt: skip
    stimuli = Stimulus.objects.bulk_create(
        [Stimulus(study=study, sample=s, category=s.category, system=s.system, media="audio", file="x.wav")
         for s in samples]
    )  # fmt: skip
    quality = np.array([SYSTEMS[s.system] for s in stimuli]) + rng.normal(0, 0.4, len(stimuli))
    raters = Rater.objects.bulk_create(
        [Rater(study=study, source="invite", external_id=f"r{i}", excluded=bool(rng.random() < 0.03),
               exclusion_reason="simulated screening") for i in range(n_raters)]
    )  # fmt: skip
    bias = rng.normal(0, 0.4, n_raters)
    total = 0
    for start in range(0, n_raters, 500):
        chunk = raters[start : start + 500]
        assignments = Assignment.objects.bulk_create(
            [Assignment(study=study, rater=r, state="submitted", passed_checks=True) for r in chunk for _ in range(per_rater)]
        )  # fmt: skip
        items, ratings = [], []
        for a_index, assignment in enumerate(assignments):
            r = start + a_index // per_rater
            chosen = rng.choice(len(stimuli), size=per_assignment, replace=False)
            for position, s in enumerate(chosen):
                items.append(AssignmentItem(assignment=assignment, stimulus=stimuli[s], position=position))
                score = int(np.clip(np.rint(quality[s] + bias[r] + rng.normal(0, 0.8)), 1, 5))
                ratings.append(Rating(study=study, rater=assignment.rater, stimulus=stimuli[s], assignment=assignment,
                                      score=score, time_spent_ms=10000, play_count=1, played_to_end=True))  # fmt: skip
        AssignmentItem.objects.bulk_create(items, batch_size=5000, ignore_conflicts=True)
        # A rater may meet a clip twice across assignments here; the unique constraint keeps one.
        Rating.objects.bulk_create(ratings, batch_size=5000, ignore_conflicts=True)
        total += len(ratings)
        print(f"  loaded {start + len(chunk)}/{n_raters} raters", end="\r", flush=True)
    stored = Rating.objects.count()
    # Autovacuum analyzes a table soon after a bulk load; without statistics the planner picks nested
    # loops over 1M rows (measured: 35 s instead of 0.25 s for one count), so do what it would do.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    load_s = time.perf_counter() - load_start
    print(
        f"\nloaded {stored:,} ratings ({total - stored:,} repeats dropped by the constraint) in {load_s:.0f} s"
    )

    timed(
        "study_recount (valid ratings per stimulus: one grouped count, then a bulk update)",
        lambda: study_recount(study=study),
    )
    result = timed(
        f"study_results (query + report, B = {args.boot})",
        lambda: study_results(study=study, n_boot=args.boot),
    )
    timed("study_results again (warm database cache)", lambda: study_results(study=study, n_boot=args.boot))
    timed("study_results without bootstrap (B = 0)", lambda: study_results(study=study, n_boot=0))
    timed("study_progress (the study page's progress section)", lambda: study_progress(study))
    csv_text = timed("ratings_csv (every stored rating, flagged)", lambda: ratings_csv(study=study))
    average = [result.cells.get(("Average", k)) for k in SYSTEMS]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load1 = os.getloadavg()[0]
    print(f"valid ratings {result.n_ratings:,} of {result.n_ratings_all:,}; α = {result.alpha:.3f}; "
          f"CSV {len(csv_text) / 1e6:.0f} MB; peak RSS {peak_mib:.0f} MiB; load {load1:.2f}")  # fmt: skip
    for (key, _), cell in zip([(k, k) for k in SYSTEMS], average, strict=True):
        if cell.boot_low is None:
            continue
        print(
            f"  {key:<14} MOS {cell.mean:.3f} ±{cell.t_half:.3f} (t)  bootstrap [{cell.boot_low:.3f}, {cell.boot_high:.3f}]"
        )
    if not args.no_record:
        body = [
            markdown_table(["step", "seconds"], [(label, f"{s:.2f}") for label, s in timings]),
            "",
            markdown_table(
                ["system (Average row)", "valid ratings", "MOS", "t 95 %", "bootstrap 95 % (raters × clips)"],
                [
                    (
                        k,
                        f"{c.n:,}",
                        f"{c.mean:.3f}",
                        f"±{c.t_half:.3f}",
                        f"[{c.boot_low:.3f}, {c.boot_high:.3f}]",
                    )
                    for k, c in zip(SYSTEMS, average, strict=True)
                ],
            ),  # fmt: skip
        ]
        append_section(
            section(
                "A study's results from 1,000,000 stored ratings (PostgreSQL)",
                date=utc_now(),
                command=command_line("bench_study_results.py"),
                bullets=[
                    f"data: {stored:,} ratings in PostgreSQL (local, throw-away database), {len(stimuli):,} test "
                    f"stimuli (3 systems × 8 categories × 50), {n_raters:,} raters × {per_rater} assignments × "
                    f"{per_assignment} clips, about 3 % of raters excluded; bulk load and ANALYZE {load_s:.0f} s (not timed "
                    "below; autovacuum would analyze the tables after such a load)",
                    f"valid ratings {result.n_ratings:,}; Krippendorff's α {result.alpha:.3f}; "
                    f"{sum(c['significant'] for c in result.comparisons)} of {len(result.comparisons)} tests significant (Holm)",
                    f"peak RSS {peak_mib:.0f} MiB; 1-min load average {load1:.2f} at the end on 2 cores; one run per step",
                ],
                body=body,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
