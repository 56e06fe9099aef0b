"""A finished generation run with real (tiny) media, built directly in the database, so the studies
tests do not pay for training and generation. The rows are what the generation service writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from django.core.files.storage import default_storage
from django.db import transaction

from inference.audio import save_wav
from inference.video import write_video
from registry.models import Clip, Dataset, GenerationRun, Pair, Sample, Split, Status

SR = 22050
SYSTEMS = [
    {"key": "ground_truth", "label": "GT (vocoded)", "checkpoint": None, "variant": "proposed",
     "tasks": ["realism", "alignment", "timbre", "ablation"]},
    {"key": "baseline", "label": "Baseline", "checkpoint": None, "variant": "proposed",
     "tasks": ["realism", "alignment", "timbre"]},
    {"key": "proposed", "label": "Ours", "checkpoint": None, "variant": "proposed",
     "tasks": ["realism", "alignment", "timbre", "ablation"]},
]  # fmt: skip


def _tone(path: Path, freq: float, seconds: float = 1.0, seed: int = 0) -> None:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    save_wav(
        path, (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    )


def _video(path: Path, wav: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 255, size=(8, 48, 64, 3), dtype=np.uint8)
    write_video(frames, 8.0, path, wav=wav)


def finished_run(
    *,
    categories: tuple[str, ...] = ("dog", "drum"),
    clips: int = 3,
    name: str = "studies",
    imported: tuple[str, ...] = (),
) -> GenerationRun:
    """Per category: `clips` test clips; realism/alignment pairs over them for GT, baseline and proposed;
    timbre pairs (each clip's video with the next clip as reference) for baseline and proposed with the
    references' vocoded ground truth. Each key of `imported` is one more system, of the kind an import
    adds (samples for every pair, no checkpoint)."""
    extra = [
        {"key": key, "label": key.title(), "checkpoint": None, "variant": "", "kind": "imported",
         "tasks": ["realism", "alignment", "timbre", "ablation"]}
        for key in imported
    ]  # fmt: skip
    root = Path(default_storage.path(f"fixtures/{name}"))
    root.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=name,
            source=Dataset.Source.SYNTHVAS,
            root=f"fixtures/{name}",
            status=Status.SUCCEEDED,
            stats={"by_category": {c: clips for c in categories}},
        )
        run = GenerationRun.objects.create(
            name=f"{name} run",
            dataset=dataset,
            spec={
                "systems": SYSTEMS + extra,
                "categories": list(categories),
                "protocol": {},
                "batch_size": 4,
            },
            status=Status.SUCCEEDED,
        )
        for c_index, category in enumerate(categories):
            clip_rows = []
            for i in range(clips):
                wav = root / f"{category}-{i}.wav"
                mp4 = root / f"{category}-{i}.mp4"
                _tone(wav, 220 + 110 * c_index + 20 * i, seed=i)
                _video(mp4, wav, seed=c_index * 100 + i)
                clip_rows.append(
                    Clip.objects.create(
                        dataset=dataset,
                        clip_id=f"{category}_{i}",
                        category=category,
                        split=Split.TEST,
                        video=f"fixtures/{name}/{mp4.name}",
                        audio=f"fixtures/{name}/{wav.name}",
                    )
                )
            for i, clip in enumerate(clip_rows):
                reference = clip_rows[(i + 1) % len(clip_rows)]
                for task in ("realism", "alignment", "timbre"):
                    pair = Pair.objects.create(
                        run=run,
                        task=task,
                        category=category,
                        index=i,
                        video_clip=clip,
                        reference_clip=reference if task == "timbre" else clip_rows[(i + 1) % len(clip_rows)],
                    )
                    for s_index, system in enumerate(("baseline", "proposed", *imported)):
                        base = f"fixtures/{name}/{task}-{system}-{category}-{i}"
                        _tone(Path(default_storage.path(base + ".wav")), 300 + 50 * s_index + 7 * i, seed=i)
                        video = ""
                        if task == "alignment":
                            video = base + ".mp4"
                            shutil.copyfile(
                                default_storage.path(clip.video.name), default_storage.path(video)
                            )
                        Sample.objects.create(
                            run=run, task=task, category=category, system=system, pair=pair, clip=clip,
                            audio=base + ".wav", video=video, status=Status.SUCCEEDED,
                        )  # fmt: skip
                for task in ("realism", "alignment", "timbre"):
                    target = clip_rows[(i + 1) % len(clip_rows)] if task == "timbre" else clip
                    if Sample.objects.filter(run=run, task=task, system="ground_truth", clip=target).exists():
                        continue
                    Sample.objects.create(
                        run=run, task=task, category=category, system="ground_truth", clip=target,
                        audio=target.audio.name, video=target.video.name if task == "alignment" else "",
                        status=Status.SUCCEEDED,
                    )  # fmt: skip
    return run
