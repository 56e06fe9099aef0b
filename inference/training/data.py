"""Training data: clips described by plain records, loaded from .npy files, batched per step.

The caller (a CLI, a Celery task, a test) passes a list of ``ClipExample`` - one category's clips for
per-category training as in the paper, or several categories' for all-category training. Each points
at two float32 .npy files: the video features (T, 2048) and the HiFi-GAN mel (80, 4T) of the clip
((215, 2048) and (80, 860) for 10 s).

Batches are a pure function of (seed, step): ``StepBatchSampler`` shuffles the clips once per epoch
with a generator seeded by (seed, epoch) and draws crop offsets from (seed, step), so a resumed run
sees exactly the batches an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

MEL_FRAMES_PER_VIDEO_FRAME = 4


@dataclass(frozen=True)
class ClipExample:
    clip_id: str
    category: str
    features_path: str
    mel_path: str


@dataclass(frozen=True)
class ClipItem:
    index: int
    video_start: int | None  # crop offset in video frames; None: the whole clip


class DataError(ValueError):
    """A clip's files are missing, unreadable or of the wrong shape; the message names the file."""


def _open(path: str, what: str) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc})") from exc
    if array.dtype != np.float32:
        raise DataError(f"{path}: the {what} must be float32, not {array.dtype}")
    return array


class ClipDataset(Dataset[dict[str, Tensor]]):
    """Map-style dataset over ``ClipExample``s; ``dataset[ClipItem(i, start)]`` loads one (cropped) clip."""

    def __init__(
        self,
        examples: Sequence[ClipExample],
        *,
        video_dim: int = 2048,
        n_mels: int = 80,
        crop_video_frames: int | None = None,
    ) -> None:
        if not examples:
            raise DataError("no clips to train on")
        self.examples = list(examples)
        self.video_dim = video_dim
        self.n_mels = n_mels
        self.crop_video_frames = crop_video_frames

    def __len__(self) -> int:
        return len(self.examples)

    def video_frames(self, index: int) -> int:
        return int(_open(self.examples[index].features_path, "video features").shape[0])

    def validate(self) -> None:
        """Check every clip's shapes from the .npy headers (cheap), failing on the first bad file."""
        for example in self.examples:
            features = _open(example.features_path, "video features")
            mel = _open(example.mel_path, "mel")
            if features.ndim != 2 or features.shape[1] != self.video_dim:
                raise DataError(
                    f"{example.features_path}: expected (T, {self.video_dim}), got {features.shape}"
                )
            expected = (self.n_mels, MEL_FRAMES_PER_VIDEO_FRAME * features.shape[0])
            if mel.shape != expected:
                raise DataError(
                    f"{example.mel_path}: expected {expected} to match its features, got {mel.shape}"
                )
            if self.crop_video_frames and features.shape[0] < self.crop_video_frames:
                raise DataError(
                    f"{example.features_path}: {features.shape[0]} frames, shorter than the crop of "
                    f"{self.crop_video_frames}"
                )

    def __getitem__(self, item: ClipItem | int) -> dict[str, Tensor]:
        if isinstance(item, int):
            item = ClipItem(item, None)
        example = self.examples[item.index]
        features = _open(example.features_path, "video features")
        mel = _open(example.mel_path, "mel")
        if item.video_start is not None and self.crop_video_frames:
            start, length = item.video_start, self.crop_video_frames
            features = features[start : start + length]
            mel = mel[:, MEL_FRAMES_PER_VIDEO_FRAME * start : MEL_FRAMES_PER_VIDEO_FRAME * (start + length)]
        return {
            "video": torch.from_numpy(np.array(features, dtype=np.float32)),  # (T, 2048)
            "mel": torch.from_numpy(np.array(mel, dtype=np.float32)),  # (80, 4T)
            "index": torch.tensor(item.index),
        }


class StepBatchSampler(Sampler[list[ClipItem]]):
    """Yields the batches of steps ``start_step`` .. ``total_steps - 1``, each a function of (seed, step)."""

    def __init__(
        self,
        dataset: ClipDataset,
        *,
        batch_size: int,
        seed: int,
        start_step: int,
        total_steps: int,
    ) -> None:
        self.dataset = dataset
        self.batch_size = min(batch_size, len(dataset))
        self.seed = seed
        self.start_step = start_step
        self.total_steps = total_steps
        self.frames = (
            [dataset.video_frames(i) for i in range(len(dataset))] if dataset.crop_video_frames else []
        )

    @property
    def steps_per_epoch(self) -> int:
        return len(self.dataset) // self.batch_size  # drop the last partial batch, as RegNet

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)

    def batch_for_step(self, step: int) -> list[ClipItem]:
        epoch, position = divmod(step, self.steps_per_epoch)
        order = torch.randperm(
            len(self.dataset), generator=torch.Generator().manual_seed(self.seed * 100003 + epoch)
        )
        indices = order[position * self.batch_size : (position + 1) * self.batch_size].tolist()
        crop = self.dataset.crop_video_frames
        if not crop:
            return [ClipItem(i, None) for i in indices]
        rng = np.random.default_rng([self.seed, step])
        return [ClipItem(i, int(rng.integers(0, self.frames[i] - crop + 1))) for i in indices]

    def __iter__(self) -> Iterator[list[ClipItem]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch_for_step(step)


def collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def dataset_fingerprint(examples: Sequence[ClipExample]) -> str:
    """SHA-256 over the clips' ids, categories, file names and sizes, in a fixed order.

    Cheap (no file contents are read, which for VAS would be tens of GB) yet it changes when a clip is
    added, removed, renamed or rewritten with another shape. Checkpoints record it, and a resumed run
    refuses to continue on different data.
    """
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: (e.category, e.clip_id)):
        sizes = []
        for path in (example.features_path, example.mel_path):
            file = Path(path)
            sizes.append(f"{file.name}:{file.stat().st_size if file.exists() else -1}")
        digest.update(f"{example.category}/{example.clip_id}|{'|'.join(sizes)}\n".encode())
    return digest.hexdigest()
