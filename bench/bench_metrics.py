"""Benchmark: time per 10-s clip of each objective metric (inference/metrics).

Renders one 10-s SynthVAS-style clip per category (8 clips, plus a second rendering of each as the
"generated" side), then times each metric over all of them and reports the median over repeats,
divided by the number of clips: Resemblyzer embedding batched (``embed_many``) and one clip at a
time, MCD plain only and plain + DTW (on HiFi-GAN log-mels, and the log-mel analysis itself),
onset detection, OSG features. Prints the figures and appends a section to docs/benchmarks.md.

    .venv/bin/python bench/bench_metrics.py
    .venv/bin/python bench/bench_metrics.py --repeats 3 --no-record
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: make `inference` importable

from _report import cpu_model, nproc  # noqa: E402

from inference.data.synth_events import CATEGORIES, sample_events  # noqa: E402
from inference.data.synth_sounds import sample_timbre, synthesize  # noqa: E402
from inference.metrics.mcd import log_mel_from_wave, mcd_many  # noqa: E402
from inference.metrics.onsets import detect_onsets  # noqa: E402
from inference.metrics.osg import osg_features  # noqa: E402
from inference.metrics.timbre import TimbreEncoder  # noqa: E402

SR = 22050


def machine() -> str:
    return f"{nproc()} cores (nproc), {cpu_model()}"


def render(category: str, timbre_seed: int, event_seed: int, seconds: float) -> np.ndarray:
    timbre = sample_timbre(category, np.random.default_rng(timbre_seed))
    rng = np.random.default_rng(event_seed)
    events = sample_events(category, duration_s=seconds, fps=21.5, event_s=tuple(timbre["event_s"]), rng=rng)
    return synthesize(
        category,
        timbre,
        events,
        duration_s=seconds,
        sample_rate=SR,
        background_dbfs=-50.0,
        background_exponent=-1.0,
        rng=rng,
    )


def per_clip_ms(work: Callable[[], object], clips: int, repeats: int) -> float:
    """Median wall time of ``work`` over ``repeats`` runs (after one warm-up), per clip, in ms."""
    work()  # warm-up: lazy imports, allocator, first-call caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times) / clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core)")
    parser.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    references = [render(c, 1, 1, args.seconds) for c in CATEGORIES]
    generated = [render(c, 2, 2, args.seconds) for c in CATEGORIES]
    n = len(generated)

    start = time.perf_counter()
    encoder = TimbreEncoder("cpu")
    load_s = time.perf_counter() - start
    ref_mels = [log_mel_from_wave(w) for w in references]
    gen_mels = [log_mel_from_wave(w) for w in generated]

    figures = {
        "Resemblyzer embedding, batched (embed_many of 8)": per_clip_ms(
            lambda: encoder.embed_many(generated), n, args.repeats
        ),
        "Resemblyzer embedding, one clip at a time": per_clip_ms(
            lambda: [encoder.embed(w) for w in generated], n, args.repeats
        ),
        "  of which preprocessing (resample, VAD trim)": per_clip_ms(
            lambda: [encoder.prepare(w) for w in generated], n, args.repeats
        ),
        "HiFi-GAN log-mel of a waveform": per_clip_ms(
            lambda: [log_mel_from_wave(w) for w in generated], n, args.repeats
        ),
        "MCD plain, from log-mels": per_clip_ms(
            lambda: mcd_many(gen_mels, ref_mels, dtw=False), n, args.repeats
        ),
        "MCD plain + DTW, from log-mels": per_clip_ms(lambda: mcd_many(gen_mels, ref_mels), n, args.repeats),
        "onset detection": per_clip_ms(lambda: [detect_onsets(w) for w in generated], n, args.repeats),
        "OSG features": per_clip_ms(lambda: [osg_features(w) for w in generated], n, args.repeats),
    }
    frames = gen_mels[0].shape[1]
    print(
        f"{n} clips of {args.seconds:g} s ({frames} mel frames), median of {args.repeats} repeats, "
        f"torch {torch_threads()} threads, load average {load_before:.1f} before the run"
    )
    print(f"Resemblyzer model load: {load_s:.2f} s (once per worker process)")
    for name, ms in figures.items():
        print(f"  {name:<48} {ms:8.1f} ms per clip")

    if not args.no_record:
        command = "python bench/bench_metrics.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "",
            f"## Objective metrics, {date}",
            "",
            f"Command: `{command.strip()}`. Machine: {machine()}; torch {torch_threads()} threads; "
            f"1-min load average {load_before:.1f} before the run (other jobs share the cores).",
            f"{n} SynthVAS clips (one per category) of {args.seconds:g} s, {frames} mel frames; "
            f"median of {args.repeats} repeats after a warm-up, divided by the number of clips. "
            f"Resemblyzer model load {load_s:.2f} s (once per process).",
            "",
            "| metric | ms per 10-s clip |"
            if args.seconds == 10
            else f"| metric | ms per {args.seconds:g}-s clip |",
            "|---|---|",
            *(f"| {name.strip()} | {ms:.1f} |" for name, ms in figures.items()),
            "",
        ]
        with (REPO / "docs" / "benchmarks.md").open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
    return 0


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
