"""SynthVAS: a VAS-like dataset generated with exact ground truth.

Eight categories as VAS. Each clip is a video whose visual events (see ``synth_visuals``) coincide
exactly with sound events synthesised with the clip's own timbre parameters (``synth_sounds``), over
background noise of random level and colour. The ground truth (event onsets and offsets, timbre
parameters, background, look, seeds) is saved beside the media, so generation, alignment and timbre
metrics can be scored against facts instead of against another model.

Everything is a function of ``SynthVASConfig``: clip ``i`` of a category draws its randomness from
``SeedSequence([seed, category index, i])``, so clips do not depend on each other, on the order in
which workers finish, or on the number of workers (x264 runs single-threaded for the same reason).

Layout under ``root`` (paths in ``ClipRecord.files`` are relative to it)::

    <category>/video/<clip_id>.mp4            H.264 + AAC, fps and size of the config
    <category>/audio/<clip_id>.wav            mono 16-bit at the config's sample rate
    <category>/mel_hifigan/<clip_id>.npy      (80, 860) for 10 s, HiFi-GAN format
    <category>/mel_vas/<clip_id>_mel.npy      (80, 860) for 10 s, VAS format in [0, 1]
    <category>/features/<clip_id>.npy         (215, 2048) for 10 s, MotionAppearanceExtractor
    <category>/ground_truth/<clip_id>.json    written last: its presence marks a finished clip

Mels and features are computed from the wav as written (after 16-bit quantisation) and from the
rendered frames, so they match what a reader recomputes from the files. Splits follow
``inference.data.splits`` over clip ids (the last ids of a category are test).
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from inference.audio import save_wav
from inference.data.outputs import ClipToolkit, Progress, npy_ok, save_json, save_npy
from inference.data.records import ClipRecord, ImportProblem, clip_files
from inference.data.splits import assign_splits
from inference.data.synth_events import CATEGORIES, sample_events
from inference.data.synth_sounds import sample_timbre, synthesize
from inference.data.synth_visuals import render_frames, sample_look
from inference.mel import mel_frames_for, video_frames_for
from inference.video import write_video

GENERATOR_VERSION = 1
GROUND_TRUTH_FORMAT = "synthvas-ground-truth/1"
BATCH_SIZE = 4  # clips per worker task: amortises building the mel modules and feature projections


@dataclass(frozen=True)
class SynthVASConfig:
    clips_per_category: int = 40
    duration_s: float = 10.0
    categories: tuple[str, ...] = CATEGORIES
    seed: int = 0
    width: int = 340
    height: int = 256
    fps: float = 21.5
    sample_rate: int = 22050
    workers: int = 1  # processes; does not change any output byte
    video_crf: int = 23
    video_preset: str = "veryfast"

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))  # JSON configs give lists
        unknown = set(self.categories) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)}; SynthVAS has {CATEGORIES}")
        if self.clips_per_category < 0 or self.duration_s <= 0.5 or self.workers < 1:
            raise ValueError("need clips_per_category >= 0, duration_s > 0.5 and workers >= 1")
        if self.width < 16 or self.height < 16 or self.fps <= 0 or self.sample_rate < 8000:
            raise ValueError("need a frame of at least 16x16, fps > 0 and a sample rate >= 8000")

    def fingerprint(self) -> dict[str, Any]:
        """The settings a clip's content depends on (not its split, not the number of workers)."""
        keep = ("duration_s", "seed", "width", "height", "fps", "sample_rate", "video_crf", "video_preset")
        return {"version": GENERATOR_VERSION, **{k: v for k, v in asdict(self).items() if k in keep}}


@dataclass(frozen=True)
class _ClipTask:
    root: str
    config: SynthVASConfig
    category: str
    index: int
    split: str
    files: dict[str, str] = field(default_factory=dict)

    @property
    def clip_id(self) -> str:
        return f"{self.category}_{self.index:05d}"


def _record(task: _ClipTask, ground_truth: dict[str, Any]) -> ClipRecord:
    meta = {k: ground_truth[k] for k in ("events", "timbre", "background", "seed", "clip_seed", "index")}
    meta["generator"] = ground_truth["generator"]
    return ClipRecord(
        clip_id=task.clip_id,
        category=task.category,
        split=task.split,
        files=dict(task.files),
        duration_s=task.config.duration_s,
        meta=meta,
    )


def _expected_shapes(config: SynthVASConfig) -> tuple[tuple[int, int], tuple[int, int]]:
    n = round(config.duration_s * config.sample_rate)
    frames = video_frames_for(n, sample_rate=config.sample_rate, fps=config.fps)
    return (80, mel_frames_for(n)), (frames, 2048)


def _existing(task: _ClipTask) -> ClipRecord | None:
    """The record of an already finished, still valid clip, or None if it must be (re)built."""
    root = Path(task.root)
    gt_path = root / task.files["ground_truth"]
    try:
        ground_truth = json.loads(gt_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if ground_truth.get("generator") != task.config.fingerprint():
        return None
    mel_shape, feature_shape = _expected_shapes(task.config)
    for role in ("video", "audio"):
        path = root / task.files[role]
        if not path.is_file() or path.stat().st_size == 0:
            return None
    if not (
        npy_ok(root / task.files["mel_hifigan"], mel_shape)
        and npy_ok(root / task.files["mel_vas"], mel_shape)
        and npy_ok(root / task.files["features"], feature_shape)
    ):
        return None
    if ground_truth.get("split") != task.split:  # clips_per_category changed: only the split moves
        ground_truth["split"] = task.split
        save_json(gt_path, ground_truth)
    return _record(task, ground_truth)


def _build(task: _ClipTask, toolkit: ClipToolkit) -> ClipRecord:
    config = task.config
    root = Path(task.root)
    category_index = CATEGORIES.index(task.category)
    sequence = np.random.SeedSequence([config.seed, category_index, task.index])
    clip_seed = int(sequence.generate_state(1)[0])
    timbre_rng, event_rng, sound_rng, look_rng, render_rng = (
        np.random.default_rng(s) for s in sequence.spawn(5)
    )

    timbre = sample_timbre(task.category, timbre_rng)
    events = sample_events(
        task.category,
        duration_s=config.duration_s,
        fps=config.fps,
        event_s=(timbre["event_s"][0], timbre["event_s"][1]),
        rng=event_rng,
        movable=task.category == "fireworks",
    )
    background = {
        "level_dbfs": round(float(event_rng.uniform(-55, -35)), 3),
        "exponent": round(float(event_rng.uniform(-2.0, 0.0)), 3),
    }
    samples = synthesize(
        task.category,
        timbre,
        events,
        duration_s=config.duration_s,
        sample_rate=config.sample_rate,
        background_dbfs=background["level_dbfs"],
        background_exponent=background["exponent"],
        rng=sound_rng,
    )
    wav_path = save_wav(root / task.files["audio"], samples, sample_rate=config.sample_rate)
    written, _ = sf.read(str(wav_path), dtype="float32")  # mels describe the file, not the float mix

    n_frames = video_frames_for(len(written), sample_rate=config.sample_rate, fps=config.fps)
    look = sample_look(task.category, look_rng)
    frames = render_frames(
        look,
        events,
        n_frames=n_frames,
        fps=config.fps,
        width=config.width,
        height=config.height,
        rng=render_rng,
    )
    write_video(
        frames,
        config.fps,
        root / task.files["video"],
        wav=wav_path,
        crf=config.video_crf,
        preset=config.video_preset,
        threads=1,
    )

    mel_hifigan, mel_vas = toolkit.mels(written)
    save_npy(root / task.files["mel_hifigan"], mel_hifigan)
    save_npy(root / task.files["mel_vas"], mel_vas)
    save_npy(root / task.files["features"], toolkit.features(frames))

    ground_truth = {
        "format": GROUND_TRUTH_FORMAT,
        "clip_id": task.clip_id,
        "category": task.category,
        "split": task.split,
        "index": task.index,
        "seed": config.seed,
        "clip_seed": clip_seed,
        "duration_s": config.duration_s,
        "sample_rate": config.sample_rate,
        "fps": config.fps,
        "size": [config.width, config.height],
        "events": [event.to_json() for event in events],
        "timbre": timbre,
        "background": background,
        "look": look.to_json(),
        "feature_extractor": toolkit.extractor.name,
        "generator": config.fingerprint(),
    }
    save_json(root / task.files["ground_truth"], ground_truth)  # last: marks the clip finished
    return _record(task, ground_truth)


def _build_batch(tasks: list[_ClipTask]) -> list[ClipRecord | ImportProblem]:
    toolkit = ClipToolkit()
    results: list[ClipRecord | ImportProblem] = []
    # One BLAS thread: parallelism comes from the worker processes, and results stay identical.
    with _one_blas_thread():
        for task in tasks:
            try:
                results.append(_build(task, toolkit))
            except Exception as exc:  # one failed clip must not stop the others
                results.append(ImportProblem(source=task.clip_id, reason=f"{type(exc).__name__}: {exc}"))
    return results


def _one_blas_thread() -> AbstractContextManager[object]:
    try:
        from threadpoolctl import threadpool_limits  # installed with librosa's scikit-learn
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=1)


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _tasks(root: Path, config: SynthVASConfig) -> list[_ClipTask]:
    tasks = []
    for category in config.categories:
        ids = [f"{category}_{i:05d}" for i in range(config.clips_per_category)]
        splits = assign_splits(ids)
        for index, clip_id in enumerate(ids):
            tasks.append(
                _ClipTask(
                    root=str(root),
                    config=config,
                    category=category,
                    index=index,
                    split=splits[clip_id],
                    files=clip_files(category, clip_id),
                )
            )
    return tasks


def synthvas_generate(
    root: Path, *, config: SynthVASConfig, progress: Progress | None = None
) -> Iterator[ClipRecord | ImportProblem]:
    """Generate (or complete) a SynthVAS dataset under ``root``; yield one item per clip, in order.

    Idempotent: clips whose files exist and match the config are not rebuilt. A clip that fails is
    yielded as an ``ImportProblem`` and the others go on. ``progress(done, total)`` follows each clip.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tasks = _tasks(root, config)
    total = len(tasks)
    done = 0
    pending: list[_ClipTask] = []
    ready: dict[str, ClipRecord] = {}
    for task in tasks:
        record = _existing(task)
        if record is None:
            pending.append(task)
        else:
            ready[task.clip_id] = record
    built = _run(pending, config.workers)
    for task in tasks:
        item = ready.get(task.clip_id) or next(built)
        done += 1
        if progress is not None:
            progress(done, total)
        yield item


def _run(tasks: list[_ClipTask], workers: int) -> Iterator[ClipRecord | ImportProblem]:
    batches = [tasks[i : i + BATCH_SIZE] for i in range(0, len(tasks), BATCH_SIZE)]
    # Daemonic processes (Celery's prefork pool) may not start children: build in-process there.
    if workers <= 1 or len(batches) <= 1 or multiprocessing.current_process().daemon:
        for batch in batches:
            yield from _build_batch(batch)
        return
    # spawn, not fork: forking a process that has started torch or BLAS threads can deadlock.
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker)
    try:
        for results in executor.map(_build_batch, batches):
            yield from results
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
