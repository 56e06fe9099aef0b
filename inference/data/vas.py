"""Importer of the real VAS dataset in RegNet / SpecVQGAN's on-disk layout.

Accepted layouts (``<base>`` is ``root``, ``root/features`` or ``root/data/features``)::

    <base>/<category>/feature_rgb_bninception_dim1024_21.5fps/<id>.pkl    (T, 1024) float32, T ~ 215
    <base>/<category>/feature_flow_bninception_dim1024_21.5fps/<id>.pkl   (T, 1024)
    <base>/<category>/melspec_10s_22050hz/<id>_mel.npy                    (80, 860) in [0, 1], VAS format
    <base>/<category>/audio_10s_22050hz/<id>.wav                          optional
    <base>/<category>/videos_10s_21.5fps/<id>.mp4                         optional

A clip needs both feature pickles and the mel; audio and video are optional. Outputs go under
``out_root`` (``ClipRecord.files`` are relative to it): ``<category>/features/<id>.npy`` (215, 2048)
rgb || flow, the VAS mel linked or copied to ``<category>/mel_vas/<id>_mel.npy``, the wav and mp4
linked or copied, and ``<category>/mel_hifigan/<id>.npy``: recomputed from the wav when there is
one (exact), otherwise ``vas_to_hifigan_approx`` of the VAS mel (approximate, recorded in
``meta["mel_hifigan_source"]``).

Splits: SpecVQGAN's filelists (``vas_train.txt``, ``vas_valid.txt``, rows ``<category>/video_NNNNN``)
when present in ``root``, ``root/filelists`` or ``root/data``. SpecVQGAN has no test list: its held-out
"valid" rows are divided per category in id order, first half val, second half test, so that
nothing it trained on becomes test data. A ``vas_test.txt`` beside them, if present, is used as is.
Clips in no list go to train. Without filelists, the paper's split (``inference.data.splits``).

Clip ids are the VAS ids (``video_02657``); if the same id occurs in two categories, every clip id
of the dataset becomes ``<category>_<id>`` so that ids stay unique.

Broken inputs are reported as ``ImportProblem`` and the rest imports: a clip with a broken pickle or
mel is skipped; a broken wav or mp4 is reported and the clip imported without it. Re-running is
idempotent: outputs newer than their sources are kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from inference.audio import load_audio
from inference.data.features import load_precomputed
from inference.data.outputs import ClipToolkit, Progress, link_or_copy, npy_ok, save_npy
from inference.data.records import ClipRecord, ImportProblem
from inference.data.splits import assign_splits
from inference.errors import MediaError
from inference.mel import vas_to_hifigan_approx
from inference.video import MediaLimits, probe

RGB_DIR = "feature_rgb_bninception_dim1024_21.5fps"
FLOW_DIR = "feature_flow_bninception_dim1024_21.5fps"
MEL_DIR = "melspec_10s_22050hz"
AUDIO_DIR = "audio_10s_22050hz"
VIDEO_DIR = "videos_10s_21.5fps"
FILELISTS = MappingProxyType({"train": "vas_train.txt", "valid": "vas_valid.txt", "test": "vas_test.txt"})
MEL_SHAPE = (80, 860)
MAX_FILELIST_BYTES = 16 * 1024**2  # VAS's lists are ~200 kB; anything far larger is not one
CLIP_SECONDS = 10.0


def find_base(root: Path) -> Path:
    """The folder holding the category folders (``root``, ``root/features`` or ``root/data/features``)."""
    for base in (root / "features", root / "data" / "features", root):
        if base.is_dir() and any(_is_category(d) for d in base.iterdir() if d.is_dir()):
            return base
    raise MediaError(root, f"no VAS category folders (with {RGB_DIR} or {MEL_DIR}) found")


def _is_category(folder: Path) -> bool:
    return (folder / RGB_DIR).is_dir() or (folder / MEL_DIR).is_dir()


def _clip_ids(folder: Path) -> list[str]:
    ids = {p.stem for p in (folder / RGB_DIR).glob("*.pkl")}
    ids |= {p.stem for p in (folder / FLOW_DIR).glob("*.pkl")}
    ids |= {p.stem.removesuffix("_mel") for p in (folder / MEL_DIR).glob("*_mel.npy")}
    return sorted(ids)


def read_filelists(root: Path) -> tuple[dict[str, str], Path] | None:
    """``{"<category>/<id>": split}`` from SpecVQGAN's filelists, and the folder they were in."""
    for folder in (root, root / "filelists", root / "data"):
        if not (folder / FILELISTS["train"]).is_file() and not (folder / FILELISTS["valid"]).is_file():
            continue
        rows: dict[str, list[str]] = {}
        for name, filename in FILELISTS.items():
            path = folder / filename
            try:
                if path.is_file() and path.stat().st_size > MAX_FILELIST_BYTES:
                    raise MediaError(path, f"over {MAX_FILELIST_BYTES} bytes: not a filelist")
                lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
            except (OSError, UnicodeDecodeError) as exc:
                raise MediaError(path, f"not a readable UTF-8 filelist ({exc})") from exc
            rows[name] = [line.strip().strip("/") for line in lines if line.strip()]
        splits = {row: "train" for row in rows["train"]}
        splits.update({row: "test" for row in rows["test"]})
        if rows["test"]:
            splits.update({row: "val" for row in rows["valid"]})
        else:
            by_category: dict[str, list[str]] = defaultdict(list)
            for row in rows["valid"]:
                by_category[row.split("/", 1)[0]].append(row)
            for category_rows in by_category.values():
                ordered = sorted(category_rows)
                half = len(ordered) // 2
                splits.update({row: "val" if i < half else "test" for i, row in enumerate(ordered)})
        return splits, folder
    return None


def _load_mel(path: Path) -> np.ndarray:
    # Memory-mapped: only the header is read here, so a header claiming a huge array costs nothing;
    # the 860 frames kept are copied below.
    try:
        mel = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError as exc:
        raise MediaError(path, "no such file") from exc
    except (OSError, ValueError) as exc:
        raise MediaError(path, f"not a readable .npy file ({exc})") from exc
    if (
        mel.dtype.kind not in "fiu"
        or mel.ndim != 2
        or mel.shape[0] != MEL_SHAPE[0]
        or mel.shape[1] < MEL_SHAPE[1]
    ):
        raise MediaError(path, f"expected a numeric (80, >= 860) mel, found {mel.dtype} {mel.shape}")
    mel = np.array(mel[:, : MEL_SHAPE[1]], dtype=np.float32)
    if not np.all(np.isfinite(mel)):
        raise MediaError(path, "the mel contains NaN or infinite values")
    if mel.min() < -1e-4 or mel.max() > 1 + 1e-4:
        raise MediaError(path, f"VAS mels lie in [0, 1], found [{mel.min():.3g}, {mel.max():.3g}]")
    return mel


def _fresh(output: Path, *sources: Path) -> bool:
    """Whether ``output`` exists and is at least as new as every source (so a re-run can keep it)."""
    if not output.is_file():
        return False
    newest = max(s.stat().st_mtime_ns for s in sources)
    return output.stat().st_mtime_ns >= newest


class _ClipImport:
    """Imports one VAS clip; collects the problems with its optional files on the way."""

    def __init__(self, folder: Path, vas_id: str, out_root: Path, category: str, clip_id: str) -> None:
        self.folder, self.vas_id, self.out_root = folder, vas_id, out_root
        self.category, self.clip_id = category, clip_id
        self.problems: list[ImportProblem] = []
        self.files: dict[str, str] = {}
        self.meta: dict[str, Any] = {"vas_id": vas_id, "source": {}}

    def _out(self, role: str, name: str) -> Path:
        relative = f"{self.category}/{role}/{name}"
        self.files[role] = relative
        return self.out_root / relative

    def run(self, toolkit: ClipToolkit, limits: MediaLimits) -> None:
        rgb = self.folder / RGB_DIR / f"{self.vas_id}.pkl"
        flow = self.folder / FLOW_DIR / f"{self.vas_id}.pkl"
        mel_path = self.folder / MEL_DIR / f"{self.vas_id}_mel.npy"
        self.meta["source"].update(rgb=str(rgb), flow=str(flow), mel=str(mel_path))
        features_out = self._out("features", f"{self.clip_id}.npy")
        features = load_precomputed(rgb, flow)  # validates even when the output is fresh
        if not (_fresh(features_out, rgb, flow) and npy_ok(features_out, (215, 2048))):
            save_npy(features_out, features)
        mel = _load_mel(mel_path)
        mel_out = self._out("mel_vas", f"{self.clip_id}_mel.npy")
        if npy_ok(mel_path, MEL_SHAPE):
            link_or_copy(mel_path, mel_out)
        elif not (_fresh(mel_out, mel_path) and npy_ok(mel_out, MEL_SHAPE)):
            save_npy(mel_out, mel)
        self._audio(mel, toolkit)
        self._video(limits)

    def _audio(self, mel_vas: np.ndarray, toolkit: ClipToolkit) -> None:
        wav = self.folder / AUDIO_DIR / f"{self.vas_id}.wav"
        mel_out = self._out("mel_hifigan", f"{self.clip_id}.npy")
        if wav.is_file():
            self.meta["source"]["audio"] = str(wav)
            try:
                samples = load_audio(wav, duration_s=CLIP_SECONDS)
            except MediaError as exc:
                self.problems.append(ImportProblem(source=str(wav), reason=exc.reason))
            else:
                link_or_copy(wav, self._out("audio", f"{self.clip_id}.wav"))
                self.meta["mel_hifigan_source"] = "audio"
                if not (_fresh(mel_out, wav) and npy_ok(mel_out, MEL_SHAPE)):
                    save_npy(mel_out, toolkit.mels(samples)[0])
                return
        # No usable audio: the documented approximation, flagged so nobody mistakes it for exact.
        self.meta["mel_hifigan_source"] = "approx_from_vas"
        mel_path = self.folder / MEL_DIR / f"{self.vas_id}_mel.npy"
        if not (_fresh(mel_out, mel_path) and npy_ok(mel_out, MEL_SHAPE)):
            save_npy(mel_out, np.asarray(vas_to_hifigan_approx(mel_vas)))

    def _video(self, limits: MediaLimits) -> None:
        video = self.folder / VIDEO_DIR / f"{self.vas_id}.mp4"
        if not video.is_file():
            return
        self.meta["source"]["video"] = str(video)
        try:
            probe(video, limits=limits)
        except MediaError as exc:
            self.problems.append(ImportProblem(source=str(video), reason=exc.reason))
            return
        link_or_copy(video, self._out("video", f"{self.clip_id}.mp4"))


def vas_scan(
    root: Path,
    *,
    out_root: Path,
    progress: Progress | None = None,
    limits: MediaLimits | None = None,
) -> Iterator[ClipRecord | ImportProblem]:
    """Validate and import a VAS tree; yield a record per good clip and a problem per broken file."""
    root, out_root = Path(root), Path(out_root)
    limits = limits or MediaLimits()
    base = find_base(root)
    categories = {d.name: d for d in sorted(base.iterdir()) if d.is_dir() and _is_category(d)}
    clips = [(category, vas_id) for category, folder in categories.items() for vas_id in _clip_ids(folder)]
    seen: dict[str, int] = defaultdict(int)
    for _, vas_id in clips:
        seen[vas_id] += 1
    prefixed = any(count > 1 for count in seen.values())
    listed = read_filelists(root)
    if listed is not None:
        splits, list_folder = listed
        split_source = f"filelists in {list_folder}"
        on_disk = {f"{category}/{vas_id}" for category, vas_id in clips}
        for row in sorted(set(splits) - on_disk):
            if row.split("/", 1)[0] in categories:
                yield ImportProblem(
                    source=f"{list_folder}/{row}", reason="listed in a filelist but not on disk"
                )
    else:
        split_source = "paper (32 val + 32 test per category, scaled)"
        splits = {}
        for category in categories:
            ids = [vas_id for c, vas_id in clips if c == category]
            splits.update({f"{category}/{k}": v for k, v in assign_splits(ids).items()})

    toolkit = ClipToolkit()
    out_root.mkdir(parents=True, exist_ok=True)
    for done, (category, vas_id) in enumerate(clips, start=1):
        clip_id = f"{category}_{vas_id}" if prefixed else vas_id
        job = _ClipImport(categories[category], vas_id, out_root, category, clip_id)
        try:
            job.run(toolkit, limits)
        except MediaError as exc:
            yield ImportProblem(source=exc.path or f"{category}/{vas_id}", reason=exc.reason)
        except Exception as exc:  # an unexpected failure on one clip must not stop the import
            yield ImportProblem(source=f"{category}/{vas_id}", reason=f"{type(exc).__name__}: {exc}")
        else:
            yield from job.problems
            job.meta["split_source"] = split_source
            yield ClipRecord(
                clip_id=clip_id,
                category=category,
                split=splits.get(f"{category}/{vas_id}", "train"),
                files=job.files,
                duration_s=CLIP_SECONDS,
                meta=job.meta,
            )
        if progress is not None:
            progress(done, len(clips))
