"""Small random clips on disk, in the files' real formats: features (T, 2048), HiFi-GAN mels (80, 4T)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.training import ClipExample


def write_clips(
    folder: Path, count: int, *, video_frames: int = 64, category: str = "dog", seed: int = 0
) -> list[ClipExample]:
    """``count`` clips whose mels have a loud event where the features have one, like real pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(count):
        features = rng.random((video_frames, 2048), dtype=np.float32) * 0.1
        mel = np.full((80, 4 * video_frames), np.log(1e-5), dtype=np.float32) + rng.random(
            (80, 4 * video_frames), dtype=np.float32
        )
        onset = int(rng.integers(0, video_frames - 4))
        features[onset : onset + 2] += 1.0
        mel[:, 4 * onset : 4 * onset + 8] += 8.0
        clip_id = f"{category}_{seed}_{i:03d}"
        np.save(folder / f"{clip_id}_features.npy", features)
        np.save(folder / f"{clip_id}_mel.npy", mel)
        examples.append(
            ClipExample(
                clip_id, category, str(folder / f"{clip_id}_features.npy"), str(folder / f"{clip_id}_mel.npy")
            )
        )
    return examples
