"""Importing a folder of raw videos per category: normalised like RegNet's VAS, broken files reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from inference.audio import save_wav
from inference.data.records import ClipRecord, ImportProblem
from inference.data.videos import videos_scan
from inference.video import probe, write_video


def _raw_video(
    path: Path,
    *,
    seconds: float = 1.5,
    fps: float = 25.0,
    size: tuple[int, int] = (160, 120),
    event_s: float = 0.5,
    sound: bool = True,
) -> Path:
    """A still scene where a white block appears at ``event_s`` with a click, at its own fps and size."""
    width, height = size
    n = round(seconds * fps)
    frames = np.full((n, height, width, 3), 50, np.uint8)
    frames[round(event_s * fps) :, height // 4 : height // 2, width // 4 : width // 2] = 230
    wav = None
    if sound:
        samples = 0.001 * np.random.default_rng(0).standard_normal(round(seconds * 22050)).astype(np.float32)
        start = round(event_s * 22050)
        samples[start : start + 2000] += 0.5 * np.exp(-np.arange(2000) / 300).astype(np.float32)
        wav = save_wav(path.with_suffix(".source.wav"), samples)
    write_video(frames, fps, path, wav=wav)
    if wav is not None:
        wav.unlink()
    return path


class ConstantExtractor:
    """A stand-in for a BN-Inception extractor: anything with name, dim and extract() plugs in."""

    name = "constant"
    dim = 2048

    def extract(self, frames: np.ndarray) -> np.ndarray:
        return np.ones((len(frames), self.dim), np.float32)


def _tree(root: Path) -> None:
    _raw_video(root / "dog" / "bark one.mp4")
    _raw_video(root / "dog" / "bark_two.mov", fps=30.0, size=(200, 150), seconds=12.0)
    _raw_video(root / "drum" / "hit.mkv", fps=24.0)
    (root / "drum" / "broken.mp4").write_bytes(np.random.default_rng(3).bytes(5000))
    _raw_video(root / "drum" / "mute.mp4", sound=False)
    (root / "drum" / "notes.txt").write_text("not a video")


def test_raw_videos_are_normalised_into_clips_and_broken_ones_reported(tmp_path: Path) -> None:
    _tree(tmp_path / "raw")
    items = list(videos_scan(tmp_path / "raw", out_root=tmp_path / "out"))
    records = {i.clip_id: i for i in items if isinstance(i, ClipRecord)}
    problems = {Path(i.source).name: i.reason for i in items if isinstance(i, ImportProblem)}
    assert sorted(records) == ["dog_bark-one", "dog_bark_two", "drum_hit"]
    assert set(problems) == {"broken.mp4", "mute.mp4"} and "no audio" in problems["mute.mp4"]
    for record in records.values():
        out = {role: tmp_path / "out" / path for role, path in record.files.items()}
        assert set(out) == {"video", "audio", "mel_hifigan", "mel_vas", "features"}
        info = probe(out["video"])
        assert (info.width, info.height, info.fps, info.has_audio) == (340, 256, 21.5, True)
        assert abs(info.duration_s - 10.0) <= 1 / 21.5
        assert sf.info(str(out["audio"])).frames == 220500
        assert np.load(out["mel_hifigan"]).shape == np.load(out["mel_vas"]).shape == (80, 860)
        assert np.load(out["features"]).shape == (215, 2048)
    assert records["dog_bark_two"].meta["looped"] is False and records["drum_hit"].meta["looped"] is True


def test_the_visual_event_of_a_raw_video_lands_on_its_frame_at_21_5_fps(tmp_path: Path) -> None:
    _raw_video(tmp_path / "raw" / "gun" / "shot.mp4", seconds=1.5, event_s=0.5)
    [record] = list(videos_scan(tmp_path / "raw", out_root=tmp_path / "out"))
    motion = np.load(tmp_path / "out" / record.files["features"])[:, 1024:].sum(axis=1)
    # 0.5 s -> frame 10.75 at 21.5 fps; the clip loops every 1.5 s (32.25 frames).
    assert int(np.argmax(motion[:30])) in (10, 11, 12)
    audio, _ = sf.read(str(tmp_path / "out" / record.files["audio"]))
    assert abs(int(np.argmax(np.abs(audio[:22050]))) / 22050 - 0.5) < 0.01


def test_a_feature_extractor_can_be_plugged_in(tmp_path: Path) -> None:
    _raw_video(tmp_path / "raw" / "dog" / "a.mp4", seconds=1.0)
    [record] = list(videos_scan(tmp_path / "raw", out_root=tmp_path / "out", extractor=ConstantExtractor()))
    assert record.meta["feature_extractor"] == "constant"
    assert np.all(np.load(tmp_path / "out" / record.files["features"]) == 1)


def test_reimporting_skips_unchanged_videos(tmp_path: Path) -> None:
    _raw_video(tmp_path / "raw" / "dog" / "a.mp4", seconds=1.0)
    _raw_video(tmp_path / "raw" / "dog" / "b.mp4", seconds=1.0)
    first = list(videos_scan(tmp_path / "raw", out_root=tmp_path / "out"))
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*") if p.is_file()}
    progress: list[tuple[int, int]] = []
    again = list(
        videos_scan(
            tmp_path / "raw", out_root=tmp_path / "out", progress=lambda d, t: progress.append((d, t))
        )
    )
    assert again == first and progress == [(1, 2), (2, 2)]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*") if p.is_file()} == mtimes
