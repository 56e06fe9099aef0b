"""Benchmark: SynthVAS generation throughput.

Issue 3 asks that 8 categories x 40 clips x 10 s finish "within a few minutes" on the 2-core machine.
This builds that dataset (or another size, see --help) into a temporary folder, prints wall time and
clips per second, and appends a section to docs/benchmarks.md (``bench/_report.py``).

    .venv/bin/python bench/bench_synthvas.py                      # the issue's size, all cores
    .venv/bin/python bench/bench_synthvas.py --clips-per-category 4 --seconds 2 --workers 1
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: make `inference` importable

from _report import append_section, command_line, section, utc_now  # noqa: E402

from inference.data.records import ImportProblem  # noqa: E402
from inference.data.synth_events import CATEGORIES  # noqa: E402
from inference.data.synthvas import SynthVASConfig, synthvas_generate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-per-category", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, help="build here and keep the files (default: a temp dir)")
    parser.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
    args = parser.parse_args()

    config = SynthVASConfig(
        clips_per_category=args.clips_per_category,
        duration_s=args.seconds,
        categories=tuple(c for c in args.categories.split(",") if c),
        workers=args.workers,
    )
    total = len(config.categories) * config.clips_per_category
    with tempfile.TemporaryDirectory(prefix="bench-synthvas-") as tmp:
        root = args.keep or Path(tmp)
        warm = bool(args.keep and any(root.glob("*/ground_truth/*.json")))
        if warm:
            print(
                f"warning: {root} already holds clips; finished ones are skipped, so this is not a cold build"
            )
        start = time.perf_counter()
        problems = 0

        def progress(done: int, total_: int) -> None:
            if done % max(total_ // 10, 1) == 0 or done == total_:
                print(f"  {done}/{total_} clips, {time.perf_counter() - start:.1f} s", flush=True)

        for item in synthvas_generate(root, config=config, progress=progress):
            if isinstance(item, ImportProblem):
                problems += 1
                print(f"  problem: {item.source}: {item.reason}")
        wall = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6

    rate = total / wall
    figures = (
        f"SynthVAS {len(config.categories)} categories x {config.clips_per_category} clips x {config.duration_s:g} s, "
        f"{config.workers} workers: {wall:.1f} s wall, {rate:.2f} clips/s, "
        f"{rate * config.duration_s:.1f} s of media per s, {size_mb:.0f} MB, {problems} problems"
    )
    print(figures)
    if not args.no_record:
        append_section(
            section(
                "SynthVAS generation throughput",
                date=utc_now(),
                command=command_line("bench_synthvas.py"),
                bullets=[
                    f"{len(config.categories)} categories x {config.clips_per_category} clips x "
                    f"{config.duration_s:g} s, {config.workers} worker processes, "
                    + (
                        "NOT a cold build (the --keep folder already held clips)"
                        if warm
                        else "cold build into " + ("the --keep folder" if args.keep else "a temporary folder")
                    ),
                ],
                body=[
                    "| clips | wall s | clips/s | s of media per s | MB | problems |",
                    "|---|---|---|---|---|---|",
                    f"| {total} | {wall:.1f} | {rate:.2f} | {rate * config.duration_s:.1f} | {size_mb:.0f} "
                    f"| {problems} |",
                ],
            )
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
