"""Importer of a folder of raw videos, one sub-folder per category: ``<root>/<category>/*.mp4|mov|...``.

Each video is normalised as RegNet preprocesses VAS: looped or trimmed to 10 s, audio to 22050 Hz mono,
picture to 21.5 fps at 340x256. From that the importer writes, under ``out_root``::

    <category>/audio/<clip_id>.wav          the normalised sound
    <category>/video/<clip_id>.mp4          the normalised picture with that sound
    <category>/mel_hifigan/<clip_id>.npy    (80, 860)
    <category>/mel_vas/<clip_id>_mel.npy    (80, 860)
    <category>/features/<clip_id>.npy       (215, 2048) from ``extractor`` (default MotionAppearanceExtractor)
    <category>/meta/<clip_id>.json          source path, size and mtime: written last, marks the clip done

Clip ids are ``<category>_<file stem>`` (non-alphanumerics replaced by ``-``). Splits follow
``inference.data.splits``. A video that is corrupt, empty, too large or has no sound is reported as an
``ImportProblem``; the others import. Re-running skips clips whose source has not changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from inference.audio import save_wav
from inference.data.features import FeatureExtractor
from inference.data.outputs import ClipToolkit, Progress, npy_ok, save_json, save_npy
from inference.data.records import ClipRecord, ImportProblem, clip_files
from inference.data.splits import assign_splits
from inference.errors import MediaError
from inference.video import VIDEO_FPS, VIDEO_SIZE, MediaLimits, extract_audio, probe, read_frames, write_video

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
CLIP_SECONDS = 10.0
SAMPLE_RATE = 22050


def _clip_id(category: str, source: Path) -> str:
    return f"{category}_{re.sub(r'[^A-Za-z0-9_]+', '-', source.stem).strip('-') or 'clip'}"


def _source_stamp(source: Path, extractor_name: str) -> dict[str, Any]:
    stat = source.stat()
    return {
        "source": str(source),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "extractor": extractor_name,
    }


def _done(
    out_root: Path, files: dict[str, str], marker: Path, stamp: dict[str, Any]
) -> dict[str, Any] | None:
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("stamp") != stamp:
        return None
    if not all((out_root / files[role]).is_file() for role in ("video", "audio")):
        return None
    mel_ok = all(npy_ok(out_root / files[role], (80, 860)) for role in ("mel_hifigan", "mel_vas"))
    return meta if mel_ok and npy_ok(out_root / files["features"], (215, 2048)) else None


def _import(
    source: Path, out_root: Path, files: dict[str, str], toolkit: ClipToolkit, limits: MediaLimits
) -> dict[str, Any]:
    info = probe(source, limits=limits)
    if not info.has_video:
        raise MediaError(source, "the file has no video stream")
    samples = extract_audio(source, sr=SAMPLE_RATE, duration_s=CLIP_SECONDS, loop=True, limits=limits)
    wav = save_wav(out_root / files["audio"], samples, sample_rate=SAMPLE_RATE)
    written, _ = sf.read(str(wav), dtype="float32")
    frames = read_frames(
        source, fps=VIDEO_FPS, size=VIDEO_SIZE, max_seconds=CLIP_SECONDS, loop=True, limits=limits
    )
    write_video(frames, VIDEO_FPS, out_root / files["video"], wav=wav, timeout_s=limits.timeout_s)
    mel_hifigan, mel_vas = toolkit.mels(written)
    save_npy(out_root / files["mel_hifigan"], mel_hifigan)
    save_npy(out_root / files["mel_vas"], mel_vas)
    save_npy(out_root / files["features"], toolkit.features(frames))
    return {
        "duration_s": info.duration_s,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "looped": bool(info.duration_s is not None and info.duration_s < CLIP_SECONDS),
        "audio_peak": round(float(np.max(np.abs(written))), 6),
    }


def videos_scan(
    root: Path,
    *,
    out_root: Path,
    extractor: FeatureExtractor | None = None,
    progress: Progress | None = None,
    limits: MediaLimits | None = None,
) -> Iterator[ClipRecord | ImportProblem]:
    """Normalise and import every video under ``root/<category>/``; broken ones become problems."""
    root, out_root = Path(root), Path(out_root)
    limits = limits or MediaLimits()
    if not root.is_dir():
        raise MediaError(root, "not a folder")
    sources: list[tuple[str, Path]] = []
    for folder in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
                sources.append((folder.name, path))
    splits: dict[str, str] = {}
    for category in sorted({c for c, _ in sources}):
        splits.update(assign_splits([_clip_id(c, p) for c, p in sources if c == category]))

    toolkit = ClipToolkit(extractor)
    seen: set[str] = set()
    for done, (category, source) in enumerate(sources, start=1):
        clip_id = _clip_id(category, source)
        files = clip_files(category, clip_id, roles=("video", "audio", "mel_hifigan", "mel_vas", "features"))
        marker = out_root / category / "meta" / f"{clip_id}.json"
        if clip_id in seen:
            yield ImportProblem(
                source=str(source), reason=f"another video of {category} has the clip id {clip_id}"
            )
        else:
            seen.add(clip_id)
            stamp = _source_stamp(source, toolkit.extractor.name)
            meta = _done(out_root, files, marker, stamp)
            try:
                if meta is None:
                    meta = {"stamp": stamp, "probe": _import(source, out_root, files, toolkit, limits)}
                    save_json(marker, meta)
            except MediaError as exc:
                yield ImportProblem(source=str(source), reason=exc.reason)
            except Exception as exc:  # one unexpected failure must not stop the import
                yield ImportProblem(source=str(source), reason=f"{type(exc).__name__}: {exc}")
            else:
                yield ClipRecord(
                    clip_id=clip_id,
                    category=category,
                    split=splits[clip_id],
                    files=files,
                    duration_s=CLIP_SECONDS,
                    meta={
                        "source": str(source.relative_to(root)),
                        "feature_extractor": stamp["extractor"],
                        **meta["probe"],
                    },
                )
        if progress is not None:
            progress(done, len(sources))
