"""Benchmark: the pretrained HiFi-GAN V1 on the CPU, per runtime, and how a worker should lay it out.

Same weights (weight norm folded), a 10-s clip (80 x 860 mel) at batch 1, in one process:

- PyTorch eager (``torch.inference_mode``), the reference every other output is compared with;
- ``torch.compile`` (inductor, default mode);
- ONNX Runtime (the same graph exported to ONNX, all graph optimisations);
- OpenVINO f32 (what CPU workers use: ``inference/models/hifigan_openvino.py``);
- OpenVINO bf16 (an opt-in draft mode: not the same output).

Each is run once to warm up, then ``--repeats`` times, the runtimes alternating run by run so that a
busy machine slows all alike; median and best seconds per clip, the speed-up over eager from the
medians of the same run, and the max abs difference on the waveform. Then, for the chosen runtime, on
``--clips`` clips of the SynthVAS generator (8 categories): MCD against the recording and Resemblyzer
cosine to it, from PyTorch's and from the runtime's waveform, to 3 decimals.

Last, the layout of one worker on the machine's cores: P processes x T threads each (P x T = nproc),
each process vocoding ``--layout-clips`` clips, wall time to vocode all of them: clips per second.

    .venv/bin/python bench/bench_vocoder.py                # records a section in docs/benchmarks.md
    .venv/bin/python bench/bench_vocoder.py --repeats 1 --no-record
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _report import append_section, command_line, markdown_table, section, utc_now  # noqa: E402

from inference.models import hifigan_openvino as hov  # noqa: E402
from inference.models.hifigan import load_pretrained_hifigan, pretrained_weights_path  # noqa: E402

MEL_FRAMES = 860


def conv_flops(model: torch.nn.Module, frames: int) -> float:
    """Multiply-adds x 2 of every convolution for an (1, 80, frames) mel: the work a runtime must do."""
    flops, hooks = 0.0, []

    def count(module, inputs, output):
        nonlocal flops
        kernel = module.weight.shape[-1]
        if isinstance(module, torch.nn.ConvTranspose1d):
            per_out = module.in_channels * kernel / module.stride[0]
        else:
            per_out = module.in_channels * kernel
        flops += 2.0 * per_out * output.shape[1] * output.shape[2]

    for module in model.modules():
        if isinstance(module, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            hooks.append(module.register_forward_hook(count))
    with torch.inference_mode():
        model(torch.zeros(1, 80, frames))
    for hook in hooks:
        hook.remove()
    return flops


def test_mel(seed: int = 0) -> np.ndarray:
    """A real mel: a SynthVAS dog clip of 10 s through the HiFi-GAN mel transform."""
    from inference.mel import HifiganMel

    wave = synth_clips(1, seed)[0]
    return HifiganMel()(torch.from_numpy(wave)).numpy()[None].astype(np.float32)


def synth_clips(n: int, seed: int) -> list[np.ndarray]:
    """``n`` 10-s SynthVAS soundtracks, one category after another (events and timbres from ``seed``)."""
    from inference.data.synth_events import CATEGORIES, sample_events
    from inference.data.synth_sounds import sample_timbre, synthesize

    clips = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        timbre = sample_timbre(category, np.random.default_rng(seed + i))
        rng = np.random.default_rng(seed + 1000 + i)
        events = sample_events(category, duration_s=10.0, fps=21.5, event_s=tuple(timbre["event_s"]), rng=rng)
        wave = synthesize(
            category,
            timbre,
            events,
            duration_s=10.0,
            sample_rate=22050,
            background_dbfs=-50.0,
            background_exponent=-1.0,
            rng=rng,
        )
        clips.append(wave.astype(np.float32))
    return clips


def runtimes(model, threads: int, cache_dir: Path, with_compile: bool) -> dict:
    torch.set_num_threads(threads)
    example = torch.from_numpy(test_mel())
    out: dict = {"PyTorch eager": lambda m: model(torch.from_numpy(m)).numpy()}
    if with_compile:
        compiled = torch.compile(model)
        out["torch.compile"] = lambda m: compiled(torch.from_numpy(m)).numpy()
    try:
        import onnxruntime as ort

        buffer = io.BytesIO()
        torch.onnx.export(
            model,
            (example,),
            buffer,
            input_names=["mel"],
            output_names=["wave"],
            dynamic_axes={"mel": {0: "batch", 2: "frames"}, "wave": {0: "batch", 1: "samples"}},
            opset_version=17,
            dynamo=False,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        out["ONNX Runtime"] = lambda m: session.run(None, {"mel": m})[0]
    except ImportError:
        print("onnxruntime is not installed: skipped (pip install -e '.[dev]')")
    for precision in ("f32", "bf16"):
        runtime = hov.build(
            model,
            weights_path=pretrained_weights_path(),
            cache_dir=cache_dir,
            precision=precision,
            threads=threads,
        )
        label = f"OpenVINO {runtime.actual_precision}"
        if label not in out:
            out[label] = runtime
    return out


def time_runtimes(fns: dict, mel: np.ndarray, repeats: int) -> tuple[dict, dict]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    diffs: dict[str, float] = {}
    with torch.inference_mode():
        reference = fns["PyTorch eager"](mel)
        for name, fn in fns.items():  # warm-up (torch.compile compiles here)
            started = time.perf_counter()
            diffs[name] = float(np.abs(fn(mel) - reference).max())
            print(f"  {name}: warm-up {time.perf_counter() - started:.1f} s, max abs diff {diffs[name]:.1e}")
        for _ in range(repeats):
            for name, fn in fns.items():
                started = time.perf_counter()
                fn(mel)
                times[name].append(time.perf_counter() - started)
    return times, diffs


def metric_agreement(model, cache_dir: Path, clips: int) -> list[list[object]]:
    from inference.mel import HifiganMel
    from inference.metrics.mcd import log_mel_from_wave, mcd
    from inference.metrics.timbre import TimbreEncoder, cosine_similarity

    fast = hov.build(model, weights_path=pretrained_weights_path(), cache_dir=cache_dir, precision="f32")
    encoder = TimbreEncoder("cpu")
    rows = []
    for i, wave in enumerate(synth_clips(clips, seed=7)):
        mel = HifiganMel()(torch.from_numpy(wave)).numpy()[None]
        with torch.inference_mode():
            eager = model(torch.from_numpy(mel)).numpy()[0]
        ov = fast(mel)[0]
        truth = log_mel_from_wave(wave)
        reference = encoder.embed(wave)
        figures = []
        for out in (eager, ov):
            result = mcd(log_mel_from_wave(out), truth)
            figures.append((result.plain, result.dtw, cosine_similarity(encoder.embed(out), reference)))
        same = all(round(a, 3) == round(b, 3) for a, b in zip(*figures, strict=True))
        rows.append(
            [
                i,
                f"{float(np.abs(ov - eager).max()):.1e}",
                f"{figures[0][0]:.3f} / {figures[1][0]:.3f}",
                f"{figures[0][1]:.3f} / {figures[1][1]:.3f}",
                f"{figures[0][2]:.3f} / {figures[1][2]:.3f}",
                "yes" if same else "NO",
            ]
        )
    return rows


def _layout_worker(threads: int, clips: int, cache_dir: str, runtime: str, queue) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    from inference.models import Vocoder

    vocoder = Vocoder(runtime=runtime, cache_dir=cache_dir)  # type: ignore[arg-type]
    mel = test_mel()
    queue.put("ready")
    for _ in range(clips):
        vocoder(mel)
    queue.put("done")


def layout(processes: int, threads: int, clips: int, cache_dir: Path, runtime: str) -> float:
    context = mp.get_context("spawn")
    queues = [context.Queue() for _ in range(processes)]
    workers = [
        context.Process(target=_layout_worker, args=(threads, clips, str(cache_dir), runtime, q))
        for q in queues
    ]
    for worker in workers:
        worker.start()
    for q in queues:
        assert q.get(timeout=300) == "ready"
    started = time.perf_counter()
    for q in queues:
        assert q.get(timeout=1800) == "done"
    wall = time.perf_counter() - started
    for worker in workers:
        worker.join()
    return processes * clips / wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[os.cpu_count() or 1, 1])
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile)")
    parser.add_argument("--clips", type=int, default=8, help="clips for the metric agreement")
    parser.add_argument("--layout-clips", type=int, default=3, help="clips per process in the layout runs")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    date, started = utc_now(), time.perf_counter()
    model = load_pretrained_hifigan()
    flops = conv_flops(model, MEL_FRAMES)
    cache_dir = Path(tempfile.mkdtemp(prefix="bench-vocoder-"))
    mel = test_mel()
    load_before = os.getloadavg()[0]

    speed_rows = []
    for threads in args.threads:
        print(f"{threads} thread(s):")
        fns = runtimes(
            model, threads, cache_dir, with_compile=not args.no_compile and threads == args.threads[0]
        )
        times, diffs = time_runtimes(fns, mel, args.repeats)
        eager = statistics.median(times["PyTorch eager"])
        for name, runs in times.items():
            median = statistics.median(runs)
            speed_rows.append(
                [
                    threads,
                    name,
                    len(runs),
                    f"{median:.3f}",
                    f"{min(runs):.3f}",
                    f"{eager / median:.2f}x",
                    f"{flops / median / 1e9:.0f}",
                    f"{diffs[name]:.1e}",
                ]
            )
            print(f"  {name}: median {median:.3f} s per clip ({eager / median:.2f}x eager)")

    print("metric agreement ...")
    agreement = metric_agreement(model, cache_dir, args.clips)
    cores = os.cpu_count() or 1
    layout_rows = []
    for processes in sorted({1, cores}):
        threads = max(1, cores // processes)
        for runtime in ("torch", "openvino"):
            rate = layout(processes, threads, args.layout_clips, cache_dir, runtime)
            layout_rows.append([f"{processes} x {threads}", runtime, f"{rate:.3f}", f"{1 / rate:.2f}"])
            print(f"  layout {processes} x {threads} {runtime}: {rate:.3f} clips/s")
    load_after = os.getloadavg()[0]

    body = [
        markdown_table(
            [
                "threads",
                "runtime",
                "runs",
                "s per 10-s clip (median)",
                "(best)",
                "speed-up over eager (medians)",
                "GFLOP/s",
                "max abs diff vs eager",
            ],
            speed_rows,
        ),
        "",
        "Metrics from PyTorch eager / OpenVINO f32 waveforms (SynthVAS clips, 10 s, against the recording):",
        "",
        markdown_table(
            ["clip", "max abs diff", "MCD dB", "MCD-DTW dB", "Resemblyzer cosine", "same to 3 decimals"],
            agreement,
        ),
        "",
        "Worker layout (processes x threads on the machine's cores; clips vocoded per second in all):",
        "",
        markdown_table(["layout", "runtime", "clips/s", "s per clip"], layout_rows),
    ]
    bullets = [
        f"the network: {flops / 1e9:.0f} GFLOP of convolutions per 10-s clip (860 frames -> 220160 samples)",
        f"method: batch 1, one warm-up then {args.repeats} runs, runtimes alternating run by run; "
        "speed-ups from the medians of this run",
        f"1-min load average {load_before:.2f} at the start, {load_after:.2f} at the end; "
        f"{time.perf_counter() - started:.0f} s in all",
    ]
    text = section(
        "HiFi-GAN V1 on the CPU by runtime",
        date=date,
        command=command_line("bench_vocoder.py"),
        bullets=bullets,
        body=body,
    )
    print(text)
    if not args.no_record:
        append_section(text)


if __name__ == "__main__":
    main()
