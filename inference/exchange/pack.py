"""A run's inputs as a pack a researcher can run their own model on, with nothing but the pack.

    <pack>/README.md          what to produce, and the rules the import applies
    <pack>/manifest.json      the run, the output rules, every pair and every file with its sha256
    <pack>/manifest.csv       one row per pair (the same facts, for a spreadsheet or pandas)
    <pack>/videos/<clip>.mp4      silent video (the clip's video stream, copied untouched), 21.5 fps
    <pack>/features/<clip>.npy    (T, 2048) float32 video features, rgb ‖ flow (T = 215 for 10 s)
    <pack>/references/<clip>.wav  the reference clip's recorded audio, 22050 Hz mono 16-bit
    <pack>/mels/<clip>.npy        (80, F) float32 HiFi-GAN mel of that audio (natural log, 0-8 kHz)

Files are stored once per clip and shared by the pairs that use them. A pair's id is
``<task>-<category>-<index>`` (stable for a run: it is the pair's position in the protocol). The
alignment set reuses the realism outputs (the paper muxes them onto the video), so the pack lists
realism, timbre and ablation pairs only, and says so.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from inference.exchange.outputs import AUDIO_SUFFIXES, OutputRules

PACK_FORMAT = "varietysound-inputs/1"
PAIR_TASKS = ("realism", "timbre", "ablation")  # alignment reuses realism
Progress = Callable[[int, int], None]


def slug(text: str) -> str:
    """A file-name-safe form: letters, digits, '_', '-' and '.' kept, anything else becomes '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "x"
    return cleaned[:120]


def pair_id_for(task: str, category: str, index: int) -> str:
    return f"{task}-{slug(category)}-{index:03d}"


@dataclass(frozen=True)
class PackClip:
    key: str  # the file stem inside the pack
    clip_id: str
    category: str
    duration_s: float
    video: Path
    features: Path
    audio: Path
    mel: Path


@dataclass(frozen=True)
class PackPair:
    pair_id: str
    task: str
    category: str
    index: int
    video_clip: str  # PackClip.key
    reference_clip: str  # PackClip.key
    duration_s: float

    @property
    def original(self) -> bool:
        return self.video_clip == self.reference_clip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _reference_wav(source: Path, target: Path, sample_rate: int) -> None:
    """The recorded audio as 22050 Hz mono 16-bit WAV (copied when it already is one)."""
    info = sf.info(str(source))
    if (
        info.format == "WAV"
        and info.samplerate == sample_rate
        and info.channels == 1
        and info.subtype == "PCM_16"
    ):
        shutil.copyfile(source, target)
        return
    from inference.audio import load_audio, save_wav

    save_wav(target, load_audio(source, sample_rate=sample_rate), sample_rate=sample_rate)


def _features_copy(source: Path, target: Path) -> None:
    array = np.load(source, allow_pickle=False)
    if array.ndim != 2 or array.shape[1] != 2048 or not np.isfinite(array).all():
        raise ValueError(f"{source}: video features of shape {array.shape} (expected (T, 2048), finite)")
    shutil.copyfile(source, target)


def write_pack(
    out_dir: Path,
    *,
    run: dict[str, Any],
    clips: Iterable[PackClip],
    pairs: Iterable[PackPair],
    rules: OutputRules | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the pack into ``out_dir`` (which must not exist: it is built beside it and renamed into
    place, so a reader never sees half a pack) and return its manifest."""
    from inference.video import strip_audio

    rules = rules or OutputRules()
    clips = {c.key: c for c in clips}
    pairs = sorted(pairs, key=lambda p: (PAIR_TASKS.index(p.task), p.category, p.index))
    ids = [p.pair_id for p in pairs]
    if len(set(ids)) != len(ids):
        raise ValueError("pair ids must be unique")
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists already")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        used_video = {p.video_clip for p in pairs}
        used_reference = {p.reference_clip for p in pairs}
        files: dict[str, str] = {}
        jobs = [(key, "video") for key in sorted(used_video)] + [
            (key, "reference") for key in sorted(used_reference)
        ]
        for done, (key, role) in enumerate(jobs, start=1):
            clip = clips[key]
            if role == "video":
                video, features = f"videos/{key}.mp4", f"features/{key}.npy"
                for name in (video, features):
                    (build / name).parent.mkdir(parents=True, exist_ok=True)
                strip_audio(clip.video, build / video)
                _features_copy(clip.features, build / features)
                files[video], files[features] = _sha256(build / video), _sha256(build / features)
            else:
                audio, mel = f"references/{key}.wav", f"mels/{key}.npy"
                for name in (audio, mel):
                    (build / name).parent.mkdir(parents=True, exist_ok=True)
                _reference_wav(clip.audio, build / audio, rules.sample_rate)
                shutil.copyfile(clip.mel, build / mel)
                files[audio], files[mel] = _sha256(build / audio), _sha256(build / mel)
            if progress:
                progress(done, len(jobs))
        rows = []
        for pair in pairs:
            video, reference = clips[pair.video_clip], clips[pair.reference_clip]
            entry = {
                "pair_id": pair.pair_id,
                "task": pair.task,
                "category": pair.category,
                "index": pair.index,
                "video_clip": video.clip_id,
                "reference_clip": reference.clip_id,
                "original": pair.original,
                "also_rated_as": ["alignment"] if pair.task == "realism" else [],
                "duration_s": pair.duration_s,
                "output": f"{pair.pair_id}.wav",
                "video": f"videos/{pair.video_clip}.mp4",
                "features": f"features/{pair.video_clip}.npy",
                "reference_audio": f"references/{pair.reference_clip}.wav",
                "reference_mel": f"mels/{pair.reference_clip}.npy",
            }
            for role in ("video", "features", "reference_audio", "reference_mel"):
                entry[f"{role}_sha256"] = files[entry[role]]
            rows.append(entry)
        manifest = {
            "format": PACK_FORMAT,
            "run": run,
            "outputs": {**rules.as_json(), "channels": 1, "suffixes": list(AUDIO_SUFFIXES)},
            "formats": {
                "video": "H.264 mp4, 21.5 fps, no audio stream",
                "features": "float32 (T, 2048) = rgb (1024) ‖ flow (1024), 21.5 per second",
                "reference_audio": f"WAV, {rules.sample_rate} Hz, mono, 16-bit PCM",
                "reference_mel": (
                    "float32 (80, F), HiFi-GAN format: n_fft 1024, hop 256, win 1024, 80 Slaney mels "
                    "0-8000 Hz, reflect pad 384, center=False, ln(clamp(|STFT|, 1e-5))"
                ),
            },
            "pairs": rows,
            "files": dict(sorted(files.items())),
        }
        (build / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (build / "manifest.csv").write_text(_manifest_csv(rows), encoding="utf-8")
        (build / "README.md").write_text(_readme(manifest), encoding="utf-8")
        os.replace(build, out_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return manifest


def _manifest_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    columns = [k for k in rows[0] if k != "also_rated_as"] if rows else ["pair_id"]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _readme(manifest: dict[str, Any]) -> str:
    rules = manifest["outputs"]
    run = manifest["run"]
    counts: dict[str, int] = {}
    for row in manifest["pairs"]:
        counts[row["task"]] = counts.get(row["task"], 0) + 1
    durations = sorted({row["duration_s"] for row in manifest["pairs"]})
    duration = " or ".join(f"{d:g} s" for d in durations) or "the clip's duration"
    listing = ", ".join(f"{n} {task}" for task, n in counts.items())
    return f"""# Inputs of run {run.get("id")} ({run.get("name", "")})

Dataset {run.get("dataset", "")}, categories {", ".join(run.get("categories", []))}, seed {run.get("seed")}.
{len(manifest["pairs"])} pairs: {listing}. Each pair is a silent video and a reference sound: your
system makes a soundtrack for the video, with the reference's timbre (for ablation pairs the
reference is the video's own sound, so the output is compared with that clip's ground truth).

## What to produce

One audio file per pair, named `<pair_id>.wav` (the `output` column of `manifest.csv`), all in one
folder, then import the folder or a .zip / .tar.gz of it:

    python manage.py import_outputs --run {run.get("id")} --system my-model outputs/

or upload the archive on the run's page. Each file must be:

- **{duration} long** (the `duration_s` column), within ±{rules["tolerance_s"]:g} s: shorter files are
  padded with silence at the end, longer ones trimmed at the end; anything further off is refused;
- **mono** (more channels are averaged to mono, and that is recorded);
- **any sample rate from {rules["min_rate"] // 1000} to {rules["max_rate"] // 1000} kHz**: it is resampled to
  {rules["sample_rate"]} Hz and the resampling is recorded ({rules["sample_rate"]} Hz avoids it);
- WAV (FLAC and Ogg are read too), finite samples, not silent (peak above {rules["silence_dbfs"]:g} dBFS).
  Clipping (at least {100 * rules["clip_fraction"]:g} % of the samples at full scale) is flagged, not refused.

The import refuses the whole set if any file is refused or any pair id is missing, unless you ask for
a partial import (`--partial`, or the box on the upload form). Realism outputs are also rated for
temporal alignment: the platform muxes them onto the video, as it does for its own systems.

## What is here

| column of manifest.csv | file | format |
|---|---|---|
| `video` | `videos/<clip>.mp4` | {manifest["formats"]["video"]} |
| `features` | `features/<clip>.npy` | {manifest["formats"]["features"]} |
| `reference_audio` | `references/<clip>.wav` | {manifest["formats"]["reference_audio"]} |
| `reference_mel` | `mels/<clip>.npy` | {manifest["formats"]["reference_mel"]} |

Every file's sha256 is in `manifest.json` (`files`) and beside it in each row. Load the arrays with
`numpy.load(path)`; the videos with any decoder (ffmpeg, PyAV, OpenCV).

## How your outputs are scored

Beside the platform's systems, on the same pairs: cosine similarity of Resemblyzer embeddings to the
vocoded reference, MCD to the ground-truth mel on the ablation (original) pairs, computed from the
HiFi-GAN mel of your waveform, onset accuracy / F1 / AP against the recorded audio (and the true event
times on SynthVAS), OSG, and the MOS studies you create over the run's systems.
"""


def archive_pack(pack_dir: Path, out_file: Path) -> Path:
    """The pack as a .tar.gz with a single top folder, members sorted and timestamps zeroed, so the
    same pack gives the same bytes."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_file.parent, prefix=f".{out_file.name}.")
    os.close(fd)
    top = out_file.name.removesuffix(".tar.gz").removesuffix(".tgz")
    try:
        with open(tmp, "wb") as raw:
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
            with tarfile.open(fileobj=gz, mode="w") as tar:
                for path in sorted(p for p in pack_dir.rglob("*") if p.is_file()):
                    name = f"{top}/{path.relative_to(pack_dir).as_posix()}"
                    info = tar.gettarinfo(str(path), arcname=name)
                    info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
            gz.close()
        os.replace(tmp, out_file)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out_file
