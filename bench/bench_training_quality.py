"""Benchmark: VarietySound vs. the cascade trained for the same CPU-time budget, scored on held-out clips.

Issue 4 asks for both systems trained at the ``tiny`` preset on SynthVAS for the same CPU-time budget,
then measured on the held-out test clips. This script:

1. builds SynthVAS (default 8 categories x 40 clips x 10 s: 24 train / 8 val / 8 test per category)
   into a cache folder under ``var/bench/`` that later runs reuse;
2. trains each system on all categories' train clips (validation on the val clips) until its
   *process CPU time* (``time.process_time()``, every thread of this process) reaches the budget,
   stopped through the trainer's ``should_stop``. CPU time rather than wall time, so that other
   processes on the machine do not shorten one system's training. Training uses ONE torch thread by
   default: at the tiny sizes a step takes 0.06-0.09 CPU s on one thread, while with two threads on a
   machine where another process also computes, OpenMP's spin-waiting at every LSTM time step inflated
   the CPU time of a step 4 to 100 times (measured on the 2-core machine), which would make a
   CPU-time budget measure contention instead of training. With ``--schedule fit`` (the
   default) a short calibration run measures each system's CPU seconds per step and the learning-rate
   schedule of the preset (constant, then linear decay) is stretched over the steps the budget
   affords, so both systems finish their schedule at the budget; ``--schedule preset`` keeps the
   preset's ``max_steps``, ``--schedule constant`` keeps the rate constant;
3. on the TEST clips (never seen in training):
   - original pairs (each clip's video with its own audio as reference): mel L1 and MCD (plain and
     DTW, ``inference.metrics.mcd``) of the generated mel to the ground-truth mel;
   - swapped pairs (each clip's video with the audio of the next test clip of the same category as
     reference): the generated mel is vocoded with the pretrained HiFi-GAN and compared with the
     reference's *vocoded* ground-truth mel (as the platform and the paper do) by the cosine
     similarity of Resemblyzer embeddings; its onsets are scored against the video clip's true
     SynthVAS event onsets (accuracy within 0.1 s, and AP);
   - context rows: the same scores of the vocoded ground truth of the video clip itself (onset ceiling;
     cosine of a clip's own sound to another clip's, i.e. what ignoring the reference scores).

Every metric is reported as mean +- 95 % CI (t) per system, with the paired difference
(VarietySound - cascade, same pairs) and its CI; "better" names a system only when that CI excludes 0.
Appends a section to docs/benchmarks.md.

    .venv/bin/python bench/bench_training_quality.py                     # 10 CPU-minutes per system
    .venv/bin/python bench/bench_training_quality.py --categories dog,drum --clips-per-category 5 \\
        --seconds 3 --budget-min 0.3 --no-record                          # a smoke test (about a minute)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: make `inference` importable

from _report import append_section, command_line, markdown_table, section, utc_now  # noqa: E402

from inference.data.records import ClipRecord, ImportProblem  # noqa: E402
from inference.data.synth_events import CATEGORIES  # noqa: E402
from inference.data.synthvas import SynthVASConfig, synthvas_generate  # noqa: E402
from inference.metrics.mcd import mcd  # noqa: E402
from inference.metrics.onsets import detect_onsets, score_against_times  # noqa: E402
from inference.metrics.summary import format_mean_ci, mean_ci  # noqa: E402
from inference.metrics.timbre import TimbreEncoder, cosine_similarity  # noqa: E402
from inference.models import Vocoder, generate, load_checkpoint  # noqa: E402
from inference.training import ClipExample, TrainProgress, load_train_config, train  # noqa: E402

SYSTEMS = {"varietysound": "VarietySound", "cascade": "cascade"}
CALIBRATION_STEPS = 60  # steps of the calibration run; the first WARMUP are not timed
WARMUP = 10


# --- data ------------------------------------------------------------------------------------------


def build_data(root: Path, config: SynthVASConfig) -> list[ClipRecord]:
    started = time.perf_counter()
    total = len(config.categories) * config.clips_per_category

    def progress(done: int, total_: int) -> None:
        if done % max(total_ // 10, 1) == 0 or done == total_:
            print(f"  SynthVAS {done}/{total_} clips, {time.perf_counter() - started:.0f} s", flush=True)

    records, problems = [], []
    for item in synthvas_generate(root, config=config, progress=progress):
        (problems if isinstance(item, ImportProblem) else records).append(item)
    if problems:
        raise SystemExit(f"SynthVAS: {len(problems)} of {total} clips failed, e.g. {problems[0]}")
    return records


def examples(root: Path, records: Sequence[ClipRecord], split: str) -> list[ClipExample]:
    return [
        ClipExample(
            clip_id=r.clip_id,
            category=r.category,
            features_path=str(root / r.files["features"]),
            mel_path=str(root / r.files["mel_hifigan"]),
        )
        for r in records
        if r.split == split
    ]


# --- training under a CPU-time budget --------------------------------------------------------------


@dataclass
class CpuBudget:
    """``should_stop`` for the trainer: true once this process has used ``seconds`` of CPU time since
    the first call (the first call comes right before the first step, after the trainer's set-up)."""

    seconds: float
    max_calls: int | None = None  # also stop after this many steps (calibration)
    started: float | None = None
    calls: int = 0
    marks: list[float] = field(default_factory=list)  # CPU time at each call

    def __call__(self) -> bool:
        now = time.process_time()
        if self.started is None:
            self.started = now
        self.marks.append(now)
        self.calls += 1
        if self.max_calls is not None and self.calls > self.max_calls:
            return True
        return now - self.started >= self.seconds

    @property
    def used(self) -> float:
        return (self.marks[-1] - self.started) if self.started is not None else 0.0


def overrides_for(args: argparse.Namespace, max_steps: int | None, constant: bool) -> dict[str, Any]:
    """Changes to the tiny presets, identical for both systems (besides the step count)."""
    overrides: dict[str, Any] = {
        "logging": {"progress_bar": False, "preview_vocoder": "none", "preview_every": 10**9},
        "optim": {},
        "data": {},
    }
    if max_steps is not None:
        overrides["optim"].update(max_steps=max_steps, epochs=None)
    if constant:
        overrides["optim"]["lr_constant_fraction"] = 1.0
    if args.lr is not None:
        # Every optimiser of both systems (the cascade's converter included) gets the same rate.
        for role in ("generator", "discriminator", "converter"):
            overrides["optim"][role] = {"lr": args.lr}
    if args.crop is not None:
        overrides["data"]["crop_video_frames"] = args.crop
    if args.batch_size is not None:
        overrides["data"]["batch_size"] = args.batch_size
    return overrides


def preset_name(system: str) -> str:
    return f"{system}_tiny"


def calibrate(system: str, args, train_set, val_set, out_dir: Path) -> float:
    """CPU seconds per training step, from a short run (its first WARMUP steps are not timed)."""
    config = load_train_config(
        preset_name(system), overrides=overrides_for(args, max_steps=10**6, constant=False)
    )
    shutil.rmtree(out_dir, ignore_errors=True)
    budget = CpuBudget(seconds=float("inf"), max_calls=CALIBRATION_STEPS)
    train(config, train_set, val_set, out_dir, should_stop=budget, device="cpu")
    marks = budget.marks[WARMUP:]
    shutil.rmtree(out_dir, ignore_errors=True)
    return (marks[-1] - marks[0]) / max(len(marks) - 1, 1)


@dataclass
class Trained:
    system: str
    checkpoint: Path
    steps: int
    scheduled_steps: int
    cpu_s: float  # process CPU time of the training steps (the budget)
    wall_s: float  # wall time of the same steps
    total_cpu_s: float  # the whole train() call, set-up and final checkpoint included
    cpu_per_step_calibrated: float | None
    val_mel_l1: float | None
    train_losses: dict[str, float]
    stopped_by_budget: bool


def train_system(system: str, args, train_set, val_set, out_root: Path) -> Trained:
    per_step = None
    budget_s = args.budget_min * 60.0
    if args.schedule == "fit":
        per_step = calibrate(system, args, train_set, val_set, out_root / f"{system}-calibration")
        # The schedule ends where the budget is expected to run out. Validation and checkpoints (not in
        # the calibration) make real steps a little dearer, so the budget usually stops the run a few
        # percent before the schedule's end, where the rate has decayed to a few percent: each system
        # uses its whole budget. (A schedule shortened "to be safe" would leave budget unused.)
        max_steps = max(int(budget_s / per_step), 1)
        print(f"  {system}: calibrated {per_step:.3f} CPU s per step -> schedule of {max_steps} steps")
        overrides = overrides_for(args, max_steps=max_steps, constant=False)
    elif args.schedule == "constant":
        overrides = overrides_for(args, max_steps=10**7, constant=True)
    else:
        overrides = overrides_for(args, max_steps=None, constant=False)
    config = load_train_config(preset_name(system), overrides=overrides)
    out_dir = out_root / system
    shutil.rmtree(out_dir, ignore_errors=True)  # a fresh run: the trainer would resume from old files
    budget = CpuBudget(seconds=budget_s)
    last_print = [time.perf_counter()]
    wall_marks: list[float] = []

    def progress(update: TrainProgress) -> None:
        if update.phase == "val" and time.perf_counter() - last_print[0] > 30:
            last_print[0] = time.perf_counter()
            shown = ", ".join(f"{k} {v:.4g}" for k, v in list(update.losses.items())[:3])
            print(
                f"  {system}: step {update.step}/{update.total_steps}, CPU {budget.used:.0f}/{budget_s:.0f} s, "
                f"{shown}",
                flush=True,
            )

    def should_stop() -> bool:
        wall_marks.append(time.perf_counter())
        return budget()

    cpu_before = time.process_time()
    result = train(
        config, train_set, val_set, out_dir, should_stop=should_stop, progress=progress, device="cpu"
    )
    total_cpu = time.process_time() - cpu_before
    return Trained(
        system=system,
        checkpoint=result.checkpoint_path,
        steps=result.step,
        scheduled_steps=result.total_steps,
        cpu_s=budget.used,
        wall_s=wall_marks[-1] - wall_marks[0] if wall_marks else 0.0,
        total_cpu_s=total_cpu,
        cpu_per_step_calibrated=per_step,
        val_mel_l1=result.val_losses.get("mel_l1"),
        train_losses=result.losses,
        stopped_by_budget=result.stopped,
    )


# --- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestClip:
    record: ClipRecord
    features: np.ndarray  # (T, 2048)
    mel: np.ndarray  # (80, 4T), HiFi-GAN format
    onsets: np.ndarray  # true event onsets, seconds


def load_test_clips(root: Path, records: Sequence[ClipRecord], limit: int | None) -> list[TestClip]:
    clips = []
    for r in records:
        if r.split != "test":
            continue
        clips.append(
            TestClip(
                record=r,
                features=np.load(root / r.files["features"]).astype(np.float32),
                mel=np.load(root / r.files["mel_hifigan"]).astype(np.float32),
                onsets=np.array([e["onset_s"] for e in r.meta["events"]], dtype=np.float64),
            )
        )
    if limit:
        # Keep the categories balanced: the first `limit` // categories clips of each.
        categories = sorted({c.record.category for c in clips})
        per = max(limit // len(categories), 2)
        clips = [c for cat in categories for c in [c for c in clips if c.record.category == cat][:per]]
    return clips


def reference_indices(clips: Sequence[TestClip]) -> list[int]:
    """The swapped pairs: clip i takes the next test clip of its category (cyclically) as reference,
    or the next clip overall when its category has a single test clip."""
    out = []
    for i, clip in enumerate(clips):
        same = [j for j, c in enumerate(clips) if c.record.category == clip.record.category]
        if len(same) > 1:
            out.append(same[(same.index(i) + 1) % len(same)])
        else:
            out.append((i + 1) % len(clips))
    return out


def onset_scores(wave: np.ndarray, onsets: np.ndarray) -> dict[str, float]:
    """Accuracy (= recall of true onsets), AP, and precision (hits / detected onsets; NaN if none)."""
    score = score_against_times(detect_onsets(wave), onsets)
    precision = score.hits / score.n_generated if score.n_generated else float("nan")
    return {"onset_acc": score.accuracy, "onset_ap": score.average_precision, "onset_precision": precision}


def vocoded_ground_truth(vocoder: Vocoder, clips: Sequence[TestClip], cache: Path) -> list[np.ndarray]:
    """The vocoded ground-truth mel of each clip (never the raw recording), cached beside the data:
    it depends only on the clip and the pretrained vocoder, and costs a third of the evaluation."""
    cache.mkdir(parents=True, exist_ok=True)
    waves = []
    for clip in clips:
        path = cache / f"{clip.record.clip_id}.npy"
        if path.is_file():
            waves.append(np.load(path))
        else:
            wave = vocoder(clip.mel, batch_size=1)
            np.save(path, wave)
            waves.append(wave)
    return waves


def evaluate(
    trained: dict[str, Trained], clips: Sequence[TestClip], refs: Sequence[int], seed: int, gt_cache: Path
) -> tuple[dict[str, dict[str, list[float]]], dict[str, float]]:
    """Per system, per metric, one value per test pair (same order for every system)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # HiFi-GAN at batch 1: on this CPU a 10-s clip vocodes twice as fast as in a batch of 16
    # (bench_inference_speed.py).
    vocoder = Vocoder(backend="hifigan")
    encoder = TimbreEncoder("cpu")
    video = np.stack([c.features for c in clips])
    own_mel = np.stack([c.mel for c in clips])
    ref_mel = own_mel[list(refs)]

    gt_waves = vocoded_ground_truth(vocoder, clips, gt_cache)
    gt_embeddings = encoder.embed_many(gt_waves)
    timings["vocode (or load) + embed ground truth"] = time.perf_counter() - started
    values: dict[str, dict[str, list[float]]] = {"ground truth (vocoded)": {}}
    gt = values["ground truth (vocoded)"]
    for i, clip in enumerate(clips):
        for key, value in onset_scores(gt_waves[i], clip.onsets).items():
            gt.setdefault(key, []).append(value)
        gt.setdefault("cosine", []).append(cosine_similarity(gt_embeddings[i], gt_embeddings[refs[i]]))

    for system, result in trained.items():
        t0 = time.perf_counter()
        model = load_checkpoint(result.checkpoint, map_location="cpu").model
        original = generate(model, video, own_mel, seed=seed).numpy()
        swapped = generate(model, video, ref_mel, seed=seed).numpy()
        timings[f"{system}: generate mels"] = time.perf_counter() - t0
        scores: dict[str, list[float]] = {}
        for i, clip in enumerate(clips):
            scores.setdefault("mel_l1", []).append(float(np.abs(original[i] - clip.mel).mean()))
            m = mcd(original[i].astype(np.float64), clip.mel.astype(np.float64))
            scores.setdefault("mcd", []).append(m.plain)
            scores.setdefault("mcd_dtw", []).append(float(m.dtw))
        t0 = time.perf_counter()
        swapped_waves = [vocoder(mel, batch_size=1) for mel in swapped]
        original_waves = [vocoder(mel, batch_size=1) for mel in original]
        embeddings = encoder.embed_many([*swapped_waves, *original_waves])
        n = len(clips)
        for i, clip in enumerate(clips):
            reference = gt_embeddings[refs[i]]
            with_reference = cosine_similarity(embeddings[i], reference)
            # The same video voiced with its OWN audio, compared with the same reference: what the
            # model's output resembles the reference without being told about it.
            without = cosine_similarity(embeddings[n + i], reference)
            scores.setdefault("cosine", []).append(with_reference)
            scores.setdefault("cosine_own", []).append(without)
            scores.setdefault("cosine_gain", []).append(with_reference - without)
            for key, value in onset_scores(swapped_waves[i], clip.onsets).items():
                scores.setdefault(key, []).append(value)
        timings[f"{system}: vocode + score swapped and original pairs"] = time.perf_counter() - t0
        values[system] = scores
        print(f"  evaluated {system}", flush=True)
    return values, timings


# --- report ----------------------------------------------------------------------------------------

METRICS = [
    # key, label, higher is better, digits
    ("mel_l1", "mel L1 to the ground-truth mel (original pairs)", False, 3),
    ("mcd", "MCD plain, dB (original pairs)", False, 2),
    ("mcd_dtw", "MCD DTW, dB (original pairs)", False, 2),
    ("cosine", "Resemblyzer cosine to the vocoded reference (swapped pairs)", True, 3),
    (
        "cosine_gain",
        "timbre control: cosine to the reference, swapped pair minus the same video voiced with its own "
        "audio",
        True,
        3,
    ),
    ("onset_acc", "onset accuracy (recall of true onsets within 0.1 s; swapped pairs)", True, 3),
    ("onset_ap", "onset AP vs true events (swapped pairs)", True, 3),
    ("onset_precision", "onset precision: hits / detected onsets (swapped pairs)", True, 3),
]


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if np.isfinite(x) and np.isfinite(y)]
    return mean_ci([x - y for x, y in pairs])


def quality_table(values: dict[str, dict[str, list[float]]]) -> tuple[list[list[str]], dict[str, str]]:
    rows, winners = [], {}
    vs, cascade = values["varietysound"], values["cascade"]
    for key, label, higher, digits in METRICS:
        diff = paired_difference(vs[key], cascade[key])
        half = diff["ci95_t"]
        if diff["mean"] is None or half is None or abs(diff["mean"]) <= half:
            better = "neither (CI of the difference contains 0)"
            winners[key] = "neither"
        else:
            vs_wins = (diff["mean"] > 0) == higher
            better = SYSTEMS["varietysound" if vs_wins else "cascade"]
            winners[key] = "varietysound" if vs_wins else "cascade"
        rows.append(
            [
                label + (" ↑" if higher else " ↓"),
                format_mean_ci(mean_ci(vs[key]), digits=digits),
                format_mean_ci(mean_ci(cascade[key]), digits=digits),
                format_mean_ci(diff, digits=digits),
                better,
            ]
        )
    rows.append(
        [
            "context: cosine to the reference of the same video voiced with its own audio (original pairs)",
            format_mean_ci(mean_ci(vs["cosine_own"]), digits=3),
            format_mean_ci(mean_ci(cascade["cosine_own"]), digits=3),
            "",
            "",
        ]
    )
    gt = values["ground truth (vocoded)"]
    rows.append(
        [
            "context: onset accuracy of the vocoded ground truth vs true events",
            format_mean_ci(mean_ci(gt["onset_acc"]), digits=3),
            "",
            "",
            "",
        ]
    )
    for key, what in (("onset_ap", "onset AP"), ("onset_precision", "onset precision")):
        rows.append(
            [
                f"context: {what} of the vocoded ground truth vs true events",
                format_mean_ci(mean_ci(gt[key]), digits=3),
                "",
                "",
                "",
            ]
        )
    rows.append(
        [
            "context: cosine of the video clip's own vocoded ground truth to the reference (no transfer)",
            format_mean_ci(mean_ci(gt["cosine"]), digits=3),
            "",
            "",
            "",
        ]
    )
    return rows, winners


def training_table(trained: dict[str, Trained]) -> list[list[str]]:
    rows = []
    for system, t in trained.items():
        rows.append(
            [
                SYSTEMS[system],
                f"{t.steps} / {t.scheduled_steps}"
                + (" (budget)" if t.stopped_by_budget else " (schedule end)"),
                f"{t.cpu_s:.0f}",
                f"{t.wall_s:.0f}",
                f"{t.steps / t.wall_s:.2f}" if t.wall_s else "-",
                f"{t.steps / t.cpu_s:.2f}" if t.cpu_s else "-",
                f"{t.cpu_per_step_calibrated:.3f}" if t.cpu_per_step_calibrated else "-",
                f"{t.val_mel_l1:.3f}" if t.val_mel_l1 is not None else "-",
                f"{t.total_cpu_s:.0f}",
            ]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    parser.add_argument("--clips-per-category", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--build-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data-dir", type=Path, help="SynthVAS cache (default: var/bench/synthvas-...)")
    parser.add_argument("--budget-min", type=float, default=10.0, help="CPU minutes of training per system")
    parser.add_argument("--schedule", choices=["fit", "preset", "constant"], default="fit")
    parser.add_argument("--lr", type=float, help="override every optimiser's learning rate (both systems)")
    parser.add_argument("--crop", type=int, help="override data.crop_video_frames (both systems)")
    parser.add_argument("--batch-size", type=int, help="override data.batch_size (both systems)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for training (default 1: see the module docstring)",
    )
    parser.add_argument(
        "--eval-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads for generation and vocoding",
    )
    parser.add_argument("--eval-clips", type=int, help="score only this many test clips (smoke tests)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (the cascade's noise)")
    parser.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "training-quality")
    parser.add_argument("--no-record", action="store_true", help="do not append to docs/benchmarks.md")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    categories = tuple(c for c in args.categories.split(",") if c)
    data_config = SynthVASConfig(
        clips_per_category=args.clips_per_category,
        duration_s=args.seconds,
        categories=categories,
        seed=args.data_seed,
        workers=args.build_workers,
    )
    root = args.data_dir or (
        REPO
        / "var"
        / "bench"
        / f"synthvas-{len(categories)}cat-{args.clips_per_category}x{args.seconds:g}s-seed{args.data_seed}"
    )
    load_before = os.getloadavg()[0]
    wall_start = time.perf_counter()
    print(f"SynthVAS in {root}", flush=True)
    records = build_data(root, data_config)
    train_set, val_set = examples(root, records, "train"), examples(root, records, "val")
    clips = load_test_clips(root, records, args.eval_clips)
    refs = reference_indices(clips)
    print(f"{len(train_set)} train, {len(val_set)} val, {len(clips)} test clips scored", flush=True)

    trained: dict[str, Trained] = {}
    for system in SYSTEMS:
        print(f"training {system} for {args.budget_min:g} CPU minutes", flush=True)
        trained[system] = train_system(system, args, train_set, val_set, args.out)
        t = trained[system]
        print(
            f"  {system}: {t.steps}/{t.scheduled_steps} steps, {t.cpu_s:.0f} CPU s, {t.wall_s:.0f} wall s, "
            f"val mel L1 {t.val_mel_l1}",
            flush=True,
        )
    print("evaluating on the test clips", flush=True)
    torch.set_num_threads(args.eval_threads)
    values, timings = evaluate(trained, clips, refs, args.seed, root / "_bench_vocoded_ground_truth")
    wall = time.perf_counter() - wall_start

    quality_rows, winners = quality_table(values)
    quality = markdown_table(
        [
            "metric (↑ higher / ↓ lower is better)",
            "VarietySound",
            "cascade",
            "VarietySound − cascade (paired)",
            "better",
        ],
        quality_rows,
    )
    training = markdown_table(
        [
            "system",
            "steps reached / scheduled",
            "CPU s (budget)",
            "wall s",
            "steps/s (wall)",
            "steps per CPU s",
            "calibrated CPU s/step",
            "last val mel L1",
            "CPU s of train() in all",
        ],
        training_table(trained),
    )
    claim = (
        "VarietySound beats the cascade on both timbre similarity and onset accuracy"
        if winners["cosine"] == winners["onset_acc"] == "varietysound"
        else "VarietySound does NOT beat the cascade on both timbre similarity and onset accuracy "
        f"(cosine: {winners['cosine']}, onset accuracy: {winners['onset_acc']})"
    )
    changes = []
    if args.lr is not None:
        changes.append(f"learning rate {args.lr:g} for every optimiser")
    if args.crop is not None:
        changes.append(f"crop of {args.crop} video frames")
    if args.batch_size is not None:
        changes.append(f"batch size {args.batch_size}")
    threads = args.threads
    n_test = len(clips)
    bullets = [
        f"data: SynthVAS {len(categories)} categories x {args.clips_per_category} clips x {args.seconds:g} s "
        f"(seed {args.data_seed}): {len(train_set)} train, {len(val_set)} val, {n_test} test clips scored; "
        "all categories trained together",
        f"training: `tiny` presets, {args.budget_min:g} CPU minutes per system (process CPU time over "
        f"{threads} torch thread{'s' if threads > 1 else ''}; the set-up and the final checkpoint are outside the budget), schedule "
        f"`{args.schedule}`"
        + (
            ": per-system calibration of CPU s/step, the preset's LR schedule stretched over the affordable steps"
            if args.schedule == "fit"
            else ""
        )
        + "; overrides for both systems: no previews, no progress bar"
        + ("; " + ", ".join(changes) if changes else "; otherwise the presets unchanged"),
        f"evaluation: {n_test} original pairs (mel metrics on the generated mel; the reference is the clip's "
        f"own audio, so copying from it pays) and {n_test} swapped pairs (video of a test clip, reference = the "
        "next test clip of its category), both vocoded with the pretrained HiFi-GAN at batch 1; cosine of "
        "Resemblyzer embeddings against the reference's vocoded ground-truth mel (not the recording); onsets "
        "of the swapped-pair audio against the video clip's true SynthVAS event onsets; generation seed "
        f"{args.seed}; mean (±95 % CI, t); differences are paired (same pairs for both systems) and "
        "'better' names a system only when the CI of the difference excludes 0",
        f"result: {claim}",
        f"run time {wall / 60:.1f} min in all; 1-min load average {load_before:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end on {os.cpu_count()} cores",
    ]
    body = [quality, "", training, ""]
    body.append(
        "Evaluation time: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()) + "."
    )
    text = section(
        "Training quality at the tiny preset, same CPU budget",
        date=utc_now(),
        command=command_line("bench_training_quality.py"),
        bullets=bullets,
        body=body,
    )
    print()
    print(text)
    if not args.no_record:
        append_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
