"""Batched generation: a job spec in, wav and mel files out. No Django.

A GPU worker receives a `GenerationJob` (plain data: paths, a checkpoint hash, a variant) and runs it
with a `ModelCache` it owns for the life of its process, so each checkpoint is loaded once per process
however many batches it serves. Items are independent: a missing or corrupt input fails that item
with its reason and the rest of the batch still runs. Outputs are written atomically and an item whose
files already exist is not generated again, so a job delivered twice leaves one result.

Ground truth is a system too: it vocodes the ground-truth mel of the video clip (never the raw
recording), through the same vocoder as the generated mels, so vocoder quality does not separate
them (paper, Evaluation Metrics). A ground-truth mel is vocoded once: the waveform is kept in the
worker's cache under the mel's sha256 and the vocoder's key (``GroundTruthCache``), and every later
task, run or study of the same dataset that needs it copies the file instead of vocoding it again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inference.audio import SAMPLE_RATE, save_wav
from inference.data.outputs import save_npy
from inference.models import ALL_VARIANTS, Vocoder, generate, load_checkpoint
from inference.systems import kind_of_model

GROUND_TRUTH = "ground_truth"
MEL_BINS = 80


@dataclass(frozen=True)
class GenerationItem:
    key: str  # the caller's id for this output (a Sample id)
    features_path: str  # (T, 2048) video features of the video clip
    reference_mel_path: str  # HiFi-GAN mel of the reference audio (for ground truth: the video clip's own)
    out_wav: str
    out_mel: str


@dataclass(frozen=True)
class GenerationJob:
    system: str  # GROUND_TRUTH, or a label for a model system
    items: tuple[GenerationItem, ...]
    checkpoint_path: str | None = None
    checkpoint_sha256: str | None = None
    variant: str = "proposed"
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.system != GROUND_TRUTH and not (self.checkpoint_path and self.checkpoint_sha256):
            raise ValueError(f"system {self.system!r} needs a checkpoint path and its sha256")
        if self.variant not in ALL_VARIANTS:  # the model's kind checks it once loaded
            raise ValueError(f"unknown variant {self.variant!r} (known: {', '.join(sorted(ALL_VARIANTS))})")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")


@dataclass(frozen=True)
class ItemOutcome:
    key: str
    ok: bool
    error: str = ""
    skipped: bool = False  # the outputs already existed (a redelivered job)
    vocoder: str = ""  # what made the waveform (describe() of the vocoder; empty when skipped)
    reused: bool = False  # ground truth copied from the cache instead of vocoded again


@dataclass
class JobReport:
    outcomes: list[ItemOutcome] = field(default_factory=list)
    seconds_model: float = 0.0
    seconds_vocoder: float = 0.0
    device: str = "cpu"
    vocoded: int = 0  # clips that went through the vocoder
    reused: int = 0  # ground-truth clips copied from the cache

    @property
    def failed(self) -> list[ItemOutcome]:
        return [o for o in self.outcomes if not o.ok]


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


class GroundTruthCache:
    """Vocoded ground truth by (vocoder key, sha256 of the mel): ``<folder>/vocoded/<key>/ab/<sha>.wav``.

    The files are the exact wavs a generation wrote, so a copy is byte-for-byte what vocoding again
    would write. Writes are atomic; a damaged entry (unreadable header) is ignored and replaced. The
    folder holds nothing that cannot be made again and may be deleted at any time."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder) / "vocoded"

    @staticmethod
    def mel_sha256(mel: np.ndarray) -> str:
        mel = np.ascontiguousarray(mel, dtype=np.float32)
        return hashlib.sha256(f"{mel.shape}".encode() + mel.tobytes()).hexdigest()

    def path(self, vocoder_key: str, mel_sha256: str) -> Path:
        return self.folder / vocoder_key / mel_sha256[:2] / f"{mel_sha256}.wav"

    def get(self, vocoder_key: str, mel_sha256: str, out: Path) -> bool:
        """Copy the cached wav to ``out`` (atomically); False when there is none or it is damaged."""
        source = self.path(vocoder_key, mel_sha256)
        try:
            with source.open("rb") as handle:
                if handle.read(4) != b"RIFF" or source.stat().st_size <= 44:
                    return False
            _copy_atomic(source, out)
        except OSError:
            return False
        return True

    def put(self, vocoder_key: str, mel_sha256: str, wav: Path) -> None:
        try:
            _copy_atomic(wav, self.path(vocoder_key, mel_sha256))
        except OSError:  # a full or read-only cache only costs a later vocoding
            pass


def _copy_atomic(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelCache:
    """What a worker process loads once: models by checkpoint hash (least recently used evicted beyond
    `capacity`), one vocoder, and the cache of vocoded ground truth under `cache_dir`."""

    def __init__(
        self,
        device: str = "auto",
        capacity: int = 3,
        *,
        vocoder_runtime: str = "auto",
        vocoder_precision: str = "f32",
        cache_dir: str | Path | None = None,
    ) -> None:
        from inference.models.vocoder import default_cache_dir

        self.device = resolve_device(device)
        self.capacity = capacity
        self.vocoder_runtime = vocoder_runtime
        self.vocoder_precision = vocoder_precision
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.ground_truth = GroundTruthCache(self.cache_dir)
        self._models: OrderedDict[str, nn.Module] = OrderedDict()
        self._vocoder: Vocoder | None = None
        self.loads = 0  # how many times a checkpoint was read from disk (for tests and logs)

    def model(self, path: str, sha256: str) -> nn.Module:
        if sha256 in self._models:
            self._models.move_to_end(sha256)
            return self._models[sha256]
        model = load_checkpoint(path, map_location=self.device).model
        self.loads += 1
        self._models[sha256] = model
        while len(self._models) > self.capacity:
            self._models.popitem(last=False)
        return model

    def vocoder(self) -> Vocoder:
        if self._vocoder is None:
            self._vocoder = Vocoder(
                device=self.device,
                runtime=self.vocoder_runtime,  # type: ignore[arg-type]
                precision=self.vocoder_precision,
                cache_dir=self.cache_dir,
            )
        return self._vocoder


def _load_array(path: str, what: str, *, rows: int | None = None) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the {what} ({exc})") from None
    if array.ndim != 2 or (rows is not None and array.shape[0] != rows):
        raise ValueError(f"{path}: the {what} has shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{path}: the {what} contains NaN or infinity")
    return array.astype(np.float32, copy=False)


def _done(item: GenerationItem) -> bool:
    """Both outputs in place (the wav is written last, so its presence means the item finished)."""
    wav = Path(item.out_wav)
    if not wav.is_file() or wav.stat().st_size <= 44:  # a bare WAV header holds no samples
        return False
    try:
        mel = np.load(item.out_mel, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return mel.ndim == 2 and mel.shape[0] == MEL_BINS


def run_job(
    job: GenerationJob, cache: ModelCache, *, progress: Callable[[int, int], None] | None = None
) -> JobReport:
    report = JobReport(device=str(cache.device))
    pending: list[GenerationItem] = []
    for item in job.items:
        if _done(item):
            report.outcomes.append(ItemOutcome(item.key, ok=True, skipped=True))
        else:
            pending.append(item)
    total, finished = len(job.items), len(report.outcomes)
    for start in range(0, len(pending), job.batch_size):
        chunk = pending[start : start + job.batch_size]
        inputs: list[tuple[GenerationItem, np.ndarray, np.ndarray]] = []
        for item in chunk:
            try:
                reference = _load_array(item.reference_mel_path, "reference mel", rows=MEL_BINS)
                features = (
                    None if job.system == GROUND_TRUTH else _load_array(item.features_path, "video features")
                )
                inputs.append((item, features, reference))
            except ValueError as exc:
                report.outcomes.append(ItemOutcome(item.key, ok=False, error=str(exc)))
        if inputs:
            report.outcomes.extend(_run_batch(job, cache, inputs, report))
        finished += len(chunk)
        if progress:
            progress(finished, total)
    return report


def _vocoder_batch(job: GenerationJob, cache: ModelCache) -> int:
    """HiFi-GAN on a CPU is slower per clip in large batches (its activations outgrow the caches:
    docs/benchmarks.md measured 3.3 s per 10-s clip at batch 1, 6.4 s at batch 16); a GPU wants them."""
    return job.batch_size if cache.device.type == "cuda" else 1


def _run_batch(job: GenerationJob, cache: ModelCache, inputs: list, report: JobReport) -> list[ItemOutcome]:
    """Generate a chunk. A kind whose output is a mel goes through the vocoder; one whose output is a
    waveform skips it, and its mel (for MCD and the mel files) is the HiFi-GAN mel of the waveform."""
    started = time.perf_counter()
    mels: list[np.ndarray | None] = [None] * len(inputs)
    waves: list[np.ndarray | None] = [None] * len(inputs)
    if job.system == GROUND_TRUTH:
        mels = [reference for _, _, reference in inputs]
    else:
        model = cache.model(job.checkpoint_path, job.checkpoint_sha256)
        waveform_out = kind_of_model(model).output == "waveform"
        # Clips of one dataset share a length; group by it so each forward pass is one batch.
        by_length: dict[tuple[int, int], list[int]] = {}
        for index, (_, features, reference) in enumerate(inputs):
            by_length.setdefault((features.shape[0], reference.shape[1]), []).append(index)
        for indices in by_length.values():
            video = np.stack([inputs[i][1] for i in indices])
            reference = np.stack([inputs[i][2] for i in indices])
            generated = generate(
                model, video, reference, variant=job.variant, batch_size=job.batch_size, seed=job.seed
            )
            for i, out in zip(indices, generated.numpy(), strict=True):
                if waveform_out:
                    waves[i] = out
                    mels[i] = _mel_of(out) if np.isfinite(out).all() else np.full((MEL_BINS, 1), np.nan)
                else:
                    mels[i] = out
    report.seconds_model += time.perf_counter() - started
    started = time.perf_counter()
    outcomes: list[ItemOutcome | None] = [None] * len(inputs)
    ground_truth = job.system == GROUND_TRUTH
    # A waveform system's batch never loads the vocoder.
    vocoder = cache.vocoder() if ground_truth or any(wave is None for wave in waves) else None
    hashes: dict[int, str] = {}
    if ground_truth:  # vocoded once per mel and vocoder: copy what an earlier task made
        for index, ((item, _, _), mel) in enumerate(zip(inputs, mels, strict=True)):
            hashes[index] = digest = GroundTruthCache.mel_sha256(mel)
            if cache.ground_truth.get(vocoder.key, digest, Path(item.out_wav)):
                try:
                    save_npy(Path(item.out_mel), mel)
                    outcomes[index] = ItemOutcome(item.key, ok=True, vocoder=vocoder.describe(), reused=True)
                    report.reused += 1
                except (OSError, ValueError) as exc:
                    outcomes[index] = ItemOutcome(item.key, ok=False, error=str(exc))
    by_frames: dict[int, list[int]] = {}
    first_of: dict[str, int] = {}  # one vocoding for ground truth that appears twice in a batch
    copies: list[tuple[int, int]] = []
    for index, mel in enumerate(mels):
        if waves[index] is None and outcomes[index] is None:
            if index in hashes and hashes[index] in first_of:
                copies.append((index, first_of[hashes[index]]))
                continue
            if index in hashes:
                first_of[hashes[index]] = index
            by_frames.setdefault(mel.shape[1], []).append(index)
    for indices in by_frames.values():
        assert vocoder is not None
        vocoded = vocoder(np.stack([mels[i] for i in indices]), batch_size=_vocoder_batch(job, cache))
        report.vocoded += len(indices)
        for i, wave in zip(indices, vocoded, strict=True):
            waves[i] = wave
    for index, first in copies:
        waves[index] = waves[first]
        report.reused += 1
    made_by = vocoder.describe() if vocoder is not None and by_frames else ""
    for index, ((item, _, _), mel, wave) in enumerate(zip(inputs, mels, waves, strict=True)):
        if outcomes[index] is not None:
            continue
        try:
            if not np.isfinite(mel).all() or not np.isfinite(wave).all():
                raise ValueError("the model produced NaN or infinity")
            save_npy(Path(item.out_mel), mel)
            save_wav(item.out_wav, wave, sample_rate=SAMPLE_RATE)
            if ground_truth:
                cache.ground_truth.put(vocoder.key, hashes[index], Path(item.out_wav))
            reused = any(index == copy for copy, _ in copies)
            made = made_by or "the model (a waveform)"
            outcomes[index] = ItemOutcome(item.key, ok=True, vocoder=made, reused=reused)
        except (OSError, ValueError) as exc:
            outcomes[index] = ItemOutcome(item.key, ok=False, error=str(exc))
    report.seconds_vocoder += time.perf_counter() - started
    return [outcome for outcome in outcomes if outcome is not None]


def _mel_of(wave: np.ndarray) -> np.ndarray:
    from inference.metrics.mcd import log_mel_from_wave

    return log_mel_from_wave(wave).astype(np.float32)
