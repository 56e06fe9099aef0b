"""What importers and generators yield: one record per clip, or one problem per broken input.

File roles (keys of ``ClipRecord.files``), each present only when the file exists:

- ``video``: mp4 (H.264, with AAC audio when the clip has sound), 21.5 fps, 340x256
- ``audio``: wav, 22050 Hz mono 16-bit
- ``mel_hifigan``: .npy float32 (80, 860) in HiFi-GAN's format (natural log), the vocoder's input
- ``mel_vas``: .npy float32 (80, 860) in the VAS format, values in [0, 1]
- ``features``: .npy float32 (215, 2048), rgb || flow
- ``ground_truth``: .json (SynthVAS only): event onsets/offsets, timbre parameters, seed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("video", "audio", "mel_hifigan", "mel_vas", "features", "ground_truth")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ClipRecord:
    clip_id: str  # unique within a dataset: "dog_00012" (SynthVAS), "video_02657" (VAS)
    category: str
    split: str  # "train" | "val" | "test"
    files: dict[str, str]  # role -> path relative to the dataset root (see the module docstring)
    duration_s: float
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}")
        unknown = set(self.files) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown file roles {sorted(unknown)}")


@dataclass(frozen=True)
class ImportProblem:
    source: str  # the offending file (or clip id when no single file is to blame)
    reason: str


def clip_files(category: str, clip_id: str, roles: tuple[str, ...] = ROLES) -> dict[str, str]:
    """The one layout of a clip's files under a dataset root, for the roles asked for."""
    layout = {
        "video": f"{category}/video/{clip_id}.mp4",
        "audio": f"{category}/audio/{clip_id}.wav",
        "mel_hifigan": f"{category}/mel_hifigan/{clip_id}.npy",
        "mel_vas": f"{category}/mel_vas/{clip_id}_mel.npy",
        "features": f"{category}/features/{clip_id}.npy",
        "ground_truth": f"{category}/ground_truth/{clip_id}.json",
    }
    return {role: layout[role] for role in roles}
