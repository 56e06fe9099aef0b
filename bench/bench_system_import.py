"""Benchmark: a run's input pack (size, export time) and the import of a system's outputs.

Issue 12 asks for the import time of 1,000 outputs and the pack size and export time of the full
protocol. This script, in one process on the embedded default (SQLite under var/bench/import, tasks
in-process, the CPU):

1. builds SynthVAS (8 categories x 100 clips x 10 s; re-runs reuse the clips under
   var/bench/import/media), so the test split holds 20 clips per category;
2. plans two runs without generating anything (Pair rows and ground-truth Sample rows, the run marked
   finished): the paper's full protocol (per category realism 10, timbre 5 x 3, ablation 10 = 35
   pairs, 280 in all) and a large one (realism 20, timbre 10 x 8, ablation 20 = 120 per category,
   960 in all). The ground-truth samples point at the recorded audio instead of the vocoded mel:
   vocoding 600 clips would take half an hour and does not change what the import costs;
3. times ``export_inputs`` of both (folder and .tar.gz) and records their sizes;
4. makes outputs for the large run with ``examples/onset_foley.py`` and times ``import_outputs``
   (unpack, per-file validation, staging, mels, per-sample metrics and alignment mux, cosine, tables),
   with the time per stage from the import's own progress messages.

    .venv/bin/python bench/bench_system_import.py [--clips-per-category 100] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "platform"))

from _report import append_section, command_line, markdown_table, section, utc_now  # noqa: E402

VAR = REPO / "var" / "bench" / "import"


def _size(path: Path) -> int:
    return (
        path.stat().st_size
        if path.is_file()
        else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-category", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    (VAR / "db.sqlite3").unlink(missing_ok=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(50)),
        VAR_DIR=str(VAR),
    )
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    import torch
    from django.core.management import call_command

    torch.set_num_threads(1)  # as a worker process of concurrency 2 on 2 cores runs

    from inference.selection import Protocol
    from registry import services
    from registry.models import Dataset, GenerationRun, Sample, Status, SystemImport
    from registry.services.generation import SystemSpec

    call_command("migrate", "--noinput", verbosity=0)
    started = time.perf_counter()
    call_command(
        "make_synthvas", "--clips-per-category", str(args.clips_per_category), "--seconds", str(args.seconds),
        "--name", "bench-import",
    )  # fmt: skip
    synth_s = time.perf_counter() - started
    dataset = Dataset.objects.get(name="bench-import")

    def planned(name: str, protocol: Protocol) -> GenerationRun:
        systems = [SystemSpec("ground_truth", "GT (recorded)", None)]
        run = services.generation_run_create(dataset=dataset, systems=systems, name=name, protocol=protocol)
        services.generation_run_plan(run=run)
        for sample in Sample.objects.filter(run=run).select_related("clip"):
            Sample.objects.filter(pk=sample.pk).update(
                audio=sample.clip.audio.name, video=sample.clip.video.name if sample.task == "alignment" else "",
                status=Status.SUCCEEDED,
            )  # fmt: skip
        GenerationRun.objects.filter(pk=run.pk).update(status=Status.SUCCEEDED)
        run.refresh_from_db()
        return run

    full = planned("full protocol", Protocol())
    large = planned("large", Protocol(realism=20, timbre_references=10, timbre_videos=8, ablation=20))
    exports = []
    out = VAR / f"exports-{os.getpid()}"
    out.mkdir()
    for run in (full, large):
        pairs = run.pairs.exclude(task="alignment").count()
        started = time.perf_counter()
        call_command("export_inputs", "--run", str(run.pk), "-o", str(out / f"run{run.pk}"))
        folder_s = time.perf_counter() - started
        started = time.perf_counter()
        call_command("export_inputs", "--run", str(run.pk), "-o", str(out / f"run{run.pk}.tar.gz"))
        archive_s = time.perf_counter() - started
        clips = len(list((out / f"run{run.pk}" / "videos").iterdir()))
        exports.append(
            [run.name, pairs, clips, f"{folder_s:.1f}", f"{_size(out / f'run{run.pk}') / 1e6:.0f}",
             f"{archive_s:.1f}", f"{_size(out / f'run{run.pk}.tar.gz') / 1e6:.0f}"]
        )  # fmt: skip

    outputs = out / "outputs"
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "onset_foley.py"),
            str(out / f"run{large.pk}"),
            str(outputs),
        ],
        check=True,
    )
    script_s = time.perf_counter() - started
    n_outputs = len(list(outputs.iterdir()))
    marks: list[tuple[float, str]] = []
    from registry.services.jobs import job_progressed

    def mark(sender, job_id, done, total, message, **kwargs) -> None:
        stage = message.split(" ")[0]
        if not marks or marks[-1][1] != stage:
            marks.append((time.perf_counter(), stage))

    job_progressed.connect(mark, sender=SystemImport, weak=False)
    started = time.perf_counter()
    call_command("import_outputs", "--run", str(large.pk), "--system", "foley", str(outputs))
    import_s = time.perf_counter() - started
    row = SystemImport.objects.get()
    assert row.status == Status.SUCCEEDED, row.message
    stages = []
    bounds = [*marks, (started + import_s, "end")]
    first = started
    for (t0, stage), (t1, _) in zip(bounds, bounds[1:], strict=False):
        stages.append([stage, f"{t1 - t0:.1f}"])
    if marks:
        stages.insert(0, ["before the first progress line (unpack)", f"{marks[0][0] - first:.1f}"])
    load = os.getloadavg()[0]
    print(
        f"import of {n_outputs} outputs: {import_s:.1f} s ({1000 * import_s / n_outputs:.0f} ms per output)"
    )
    for line in exports:
        print("export", line)
    if args.no_record:
        return 0
    body = [
        markdown_table(
            ["run", "pairs", "clips", "folder s", "folder MB", ".tar.gz s", ".tar.gz MB"], exports
        ),
        "",
        f"Import of {n_outputs} outputs of `examples/onset_foley.py` into the large run: **{import_s:.1f} s**, "
        f"{1000 * import_s / n_outputs:.0f} ms per output ({row.imported} imported; samples with metrics: "
        f"{Sample.objects.filter(run=large, system='foley').count()} including the alignment ones). "
        f"The outside script itself took {script_s:.1f} s. Time by stage (from the import's progress lines):",
        "",
        markdown_table(["stage", "s"], stages),
    ]
    append_section(
        section(
            "Input pack and system import",
            date=utc_now(),
            command=command_line("bench_system_import.py", sys.argv[1:]),
            bullets=[
                f"SynthVAS {len(dataset.stats.get('by_category', {}))} categories x {args.clips_per_category} clips x "
                f"{args.seconds:g} s ({synth_s:.0f} s to build or re-import)",
                "embedded default: SQLite, in-process tasks, 1 torch thread; ground truth = recorded audio "
                "(see the script's docstring)",
                f"1-min load average at the end: {load:.1f}",
            ],
            body=body,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
