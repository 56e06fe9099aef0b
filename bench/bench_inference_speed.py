"""Benchmark: inference speed at the paper preset, VarietySound vs. the cascade, and the vocoder.

The paper claims its single model is faster than the cascade but never measures it; this does. For
each device (the CPU, and CUDA when available) it times, in eval mode under ``torch.inference_mode``:

- VarietySound (Table 3 sizes): video features (B, 215, 2048) + reference mel (B, 80, 860) -> mel;
- the cascade (RegNet + sound converter, official sizes): the same inputs -> mel;
- the vocoder (pretrained HiFi-GAN V1): mel (B, 80, 860) -> 220160 samples;

at batch 1 and 16, one warm-up run then ``--repeats`` runs (the two systems alternating run by run, so
that a busy machine slows both alike), and reports the median and best seconds per 10-s clip (batch time / batch size) and the cascade / VarietySound ratio, with and without the
vocoder that both need. The networks have random weights: their speed does not depend on the values.
On the CPU the vocoder's batch of 16 (a minute or two on 2 cores) is timed once, without repeats;
``--cpu-vocoder-batch`` lowers it on slower machines (seconds per clip barely depend on the batch there).

    .venv/bin/python bench/bench_inference_speed.py                 # CPU (+ CUDA if present), records
    .venv/bin/python bench/bench_inference_speed.py --repeats 1 --no-record
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
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: make `inference` importable

from _report import cpu_model, nproc  # noqa: E402

from inference.models import build_model  # noqa: E402
from inference.models.hifigan import load_pretrained_hifigan  # noqa: E402

HEADER = """# Benchmarks

Rows are appended by the scripts in `bench/` (`make bench`). Figures depend on the machine: compare
rows of the same machine only.
"""
VIDEO_FRAMES, MEL_FRAMES = 215, 860
SYSTEMS = ("varietysound", "cascade")


@dataclass(frozen=True)
class Timing:
    device: str
    stage: str
    batch: int
    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def per_clip(self) -> float:
        return self.median / self.batch


def machine() -> str:
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"CPU {cpu_model()}, nproc {nproc()}, torch {torch.__version__} with {torch.get_num_threads()} threads{gpu}"


def timed(run: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_device(
    device: torch.device, batches: list[int], vocoder_batches: list[int], repeats: int
) -> list[Timing]:
    timings = []
    torch.manual_seed(0)
    models = {stage: build_model(stage).eval().to(device) for stage in SYSTEMS}
    for batch in batches:
        video = torch.rand(batch, VIDEO_FRAMES, 2048, device=device)
        reference = torch.randn(batch, 80, MEL_FRAMES, device=device) - 5.0
        calls = {stage: (lambda m=model, v=video, r=reference: m(v, r)) for stage, model in models.items()}
        for call in calls.values():
            timed(call, device)  # warm-up: kernel selection, weight packing, allocations
        runs: dict[str, list[float]] = {stage: [] for stage in calls}
        for _ in range(repeats):
            for stage, call in calls.items():  # interleaved, so that both systems see the same machine load
                runs[stage].append(timed(call, device))
        for stage in calls:
            timings.append(Timing(device.type, stage, batch, runs[stage]))
            print(f"  {device.type} {stage} batch {batch}: {timings[-1].per_clip:.3f} s per clip", flush=True)
    del models
    vocoder = load_pretrained_hifigan(map_location=device)
    timed(lambda: vocoder(torch.randn(1, 80, MEL_FRAMES, device=device)), device)  # warm-up
    for batch in vocoder_batches:
        mel = torch.randn(batch, 80, MEL_FRAMES, device=device) - 6.0
        count = repeats if batch == 1 or device.type == "cuda" else 1  # the CPU's large batch takes minutes
        runs_ = [timed(lambda v=mel: vocoder(v), device) for _ in range(count)]
        timings.append(Timing(device.type, "vocoder", batch, runs_))
        print(f"  {device.type} vocoder batch {batch}: {timings[-1].per_clip:.3f} s per clip", flush=True)
    return timings


def table(timings: list[Timing]) -> str:
    lines = [
        "| device | stage | batch | runs | s per batch (median) | s per 10-s clip (median) | (best) |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in timings:
        lines.append(
            f"| {t.device} | {t.stage} | {t.batch} | {len(t.runs)} | {t.median:.3f} | {t.per_clip:.3f} "
            f"| {min(t.runs) / t.batch:.3f} |"
        )
    by_key = {(t.device, t.stage, t.batch): t for t in timings}
    lines += [
        "",
        "| device | batch | cascade / VarietySound, mel (median) | (best) | mel + vocoder (median) |",
        "|---|---|---|---|---|",
    ]
    for t in timings:
        cascade = by_key.get((t.device, "cascade", t.batch))
        if t.stage != "varietysound" or cascade is None:
            continue
        best = (min(cascade.runs) / cascade.batch) / (min(t.runs) / t.batch)
        vocoders = [v for v in timings if v.device == t.device and v.stage == "vocoder"]
        with_vocoder = "n/a"
        if vocoders:
            vocoder = min(vocoders, key=lambda v: abs(v.batch - t.batch))
            ratio = (cascade.per_clip + vocoder.per_clip) / (t.per_clip + vocoder.per_clip)
            with_vocoder = f"{ratio:.2f} (vocoder at batch {vocoder.batch})"
        lines.append(
            f"| {t.device} | {t.batch} | {cascade.per_clip / t.per_clip:.2f} | {best:.2f} | {with_vocoder} |"
        )
    return "\n".join(lines)


def record(section: str, path: Path) -> None:
    """Append (never overwrite): other benchmarks write to the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(HEADER, encoding="utf-8")
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + section + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median)")
    parser.add_argument("--batches", default="1,16", help="batch sizes for the two systems")
    parser.add_argument(
        "--cpu-vocoder-batch", type=int, default=16, help="the vocoder's large batch on the CPU"
    )
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CPU, and CUDA if present"
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
    args = parser.parse_args()

    batches = [int(b) for b in args.batches.split(",") if b]
    devices = [torch.device("cpu")] if args.device in ("auto", "cpu") else []
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    timings: list[Timing] = []
    for device in devices:
        vocoder_batches = [1, args.cpu_vocoder_batch if device.type == "cpu" else max(batches)]
        print(f"{device.type}:", flush=True)
        timings += bench_device(device, batches, vocoder_batches, args.repeats)
    wall = time.perf_counter() - started

    command = "python bench/bench_inference_speed.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            f"## Inference speed at the paper preset ({date})",
            "",
            f"- command: `{command.strip()}` ({wall:.0f} s in all)",
            f"- machine: {machine()}",
            f"- method: eval mode, `torch.inference_mode`, one warm-up then {args.repeats} runs, the two systems "
            "interleaved run by run (1 run for the CPU vocoder's large batch); median and best; random weights "
            "at Table 3 / official sizes, "
            "pretrained HiFi-GAN V1; inputs (B, 215, 2048) + (B, 80, 860).",
            f"- 1-min load average at the start and the end: {load_before:.2f}, {os.getloadavg()[0]:.2f} "
            f"on {os.cpu_count()} cores (a higher load means other processes competed for the CPU)",
            "",
            table(timings),
        ]
    )
    print()
    print(section)
    if not args.no_record:
        record(section, REPO / "docs" / "benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
