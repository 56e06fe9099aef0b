"""Fake datasets in the real on-disk formats, shared by the inference and the platform tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import soundfile as sf

from inference.data.vas import FLOW_DIR, MEL_DIR, RGB_DIR
from inference.video import write_video

DOG = [f"video_{i:05d}" for i in range(1, 6)]
DRUM = [f"video_{i:05d}" for i in range(10, 14)]


def write_vas_clip(folder: Path, vas_id: str, seed: int, *, frames: int = 215) -> None:
    rng = np.random.default_rng(seed)
    for sub in (RGB_DIR, FLOW_DIR, MEL_DIR):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / RGB_DIR / f"{vas_id}.pkl").write_bytes(
        pickle.dumps(rng.random((frames, 1024), dtype=np.float32))
    )
    (folder / FLOW_DIR / f"{vas_id}.pkl").write_bytes(
        pickle.dumps(rng.random((frames - 1, 1024), dtype=np.float32))
    )
    np.save(folder / MEL_DIR / f"{vas_id}_mel.npy", rng.random((80, 860), dtype=np.float32))


def write_fake_vas(base: Path, *, filelists_in: Path | None) -> None:
    """Two categories in the RegNet layout; dog/video_00001 also has its wav, drum/video_00010 its mp4."""
    for seed, vas_id in enumerate(DOG):
        write_vas_clip(base / "dog", vas_id, seed, frames=216 if seed % 2 else 214)
    for seed, vas_id in enumerate(DRUM, start=100):
        write_vas_clip(base / "drum", vas_id, seed)
    audio = base / "dog" / "audio_10s_22050hz"
    audio.mkdir()
    noise = 0.1 * np.random.default_rng(7).standard_normal(220500).astype(np.float32)
    sf.write(audio / "video_00001.wav", noise, 22050, subtype="PCM_16")
    (base / "drum" / "videos_10s_21.5fps").mkdir()
    write_video(
        np.zeros((215, 48, 64, 3), np.uint8), 21.5, base / "drum" / "videos_10s_21.5fps" / "video_00010.mp4"
    )
    if filelists_in is not None:
        filelists_in.mkdir(parents=True, exist_ok=True)
        (filelists_in / "vas_train.txt").write_text(
            "\n".join([f"dog/{i}" for i in DOG[:3]] + [f"drum/{i}" for i in DRUM[:2]]) + "\n"
        )
        (filelists_in / "vas_valid.txt").write_text(
            "\n".join([f"dog/{i}" for i in DOG[3:]] + [f"drum/{i}" for i in DRUM[2:]]) + "\n"
        )
