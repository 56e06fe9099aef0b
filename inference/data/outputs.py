"""Writing a clip's derived files: atomic writes, both mels, features, and checks of existing files.

Shared by the SynthVAS generator and the importers. Every write goes to a temporary sibling and is
renamed into place, so an interrupted import never leaves a half-written file that a re-run would
mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.data.features import FeatureExtractor, MotionAppearanceExtractor
from inference.mel import HifiganMel, VasMel

Progress = Callable[[int, int], None]


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_npy(path: Path, array: np.ndarray) -> Path:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.save(handle, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)

    return _atomic(path, write)


def save_json(path: Path, data: dict[str, Any]) -> Path:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def link_or_copy(source: Path, target: Path) -> Path:
    """Hard-link (no extra space, same bytes) and fall back to copying across file systems."""
    if target.exists() and (
        target.samefile(source)
        or (
            target.stat().st_size == source.stat().st_size
            and target.stat().st_mtime_ns >= source.stat().st_mtime_ns
        )
    ):
        return target  # already there from an earlier run

    def write(tmp: Path) -> None:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)

    return _atomic(target, write)


def npy_ok(path: Path, shape: tuple[int, ...]) -> bool:
    """Whether ``path`` is a readable float32 .npy of ``shape`` (header only: cheap)."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return array.shape == shape and array.dtype == np.float32


class ClipToolkit:
    """The models one process needs to derive a clip's files, built once and reused across clips."""

    def __init__(self, extractor: FeatureExtractor | None = None) -> None:
        self.hifigan_mel = HifiganMel()
        self.vas_mel = VasMel()
        self.extractor = extractor or MotionAppearanceExtractor()

    def mels(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 waveform -> (HiFi-GAN mel, VAS mel), each (80, 4 * video frames)."""
        with torch.no_grad():
            wav = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
            return self.hifigan_mel(wav).numpy(), self.vas_mel(wav).numpy()

    def features(self, frames: np.ndarray) -> np.ndarray:
        return self.extractor.extract(frames).astype(np.float32)
