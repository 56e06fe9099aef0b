"""Video I/O through ffmpeg: read frames, extract audio, mux a sound onto a video, write a video.

Command lines are built with ffmpeg-python and run by ``inference.ffmpeg_run`` (time limits, no
zombies). Inputs are probed and checked against ``MediaLimits`` first (``inference.probe``, whose
``probe`` and ``MediaInfo`` are re-exported here), so every failure is a ``MediaError`` naming the file.

RegNet's preprocessing is the reference for reading: 21.5 fps, 340x256 (aspect ratio not kept), clips
looped when shorter than 10 s and trimmed when longer, so a 10-s read gives exactly 215 frames.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from types import MappingProxyType

import numpy as np

from inference.audio import SAMPLE_RATE, decode_with_ffmpeg, fit_length, validate_samples
from inference.errors import CorruptMediaError, MediaError, MediaTooLargeError, MissingAudioError
from inference.ffmpeg_run import DEFAULT_TIMEOUT_S, ffmpeg_binary, run_ffmpeg
from inference.probe import (  # noqa: F401  (MediaInfo, StreamInfo re-exported for callers)
    QUIET,
    MediaInfo,
    MediaLimits,
    StreamInfo,
    probe,
    video_stream_duration,
)

VIDEO_FPS = 21.5
VIDEO_SIZE = (340, 256)  # (width, height), as RegNet

# ---------------------------------------------------------------------------------------- reading


def read_frames(
    path: str | Path,
    *,
    fps: float = VIDEO_FPS,
    size: tuple[int, int] = VIDEO_SIZE,
    max_seconds: float | None = 10.0,
    loop: bool = True,
    limits: MediaLimits | None = None,
) -> np.ndarray:
    """Decode to uint8 RGB frames (T, H, W, 3) at ``fps``, resized to ``size`` = (width, height).

    With ``max_seconds`` the result has exactly ``floor(max_seconds * fps)`` frames (215 for 10 s):
    shorter videos are looped (``loop=True``, as RegNet does) or padded with their last frame.
    """
    import ffmpeg

    limits = limits or MediaLimits()
    path = Path(path)
    info = probe(path, limits=limits)
    if not info.has_video:
        raise MediaError(path, "the file has no video stream")
    width, height = size
    frame_bytes = width * height * 3
    target = math.floor(max_seconds * fps + 1e-6) if max_seconds is not None else None
    expected = target if target is not None else math.ceil((info.duration_s or limits.max_duration_s) * fps)
    if expected * frame_bytes > limits.max_decoded_bytes:
        raise MediaTooLargeError(path, f"decoding {expected} frames would exceed the memory limit")
    input_args: dict[str, object] = {}
    if loop and target is not None and info.duration_s and info.duration_s < max_seconds:
        input_args["stream_loop"] = math.ceil(max_seconds / info.duration_s)
    output_args: dict[str, object] = {"format": "rawvideo", "pix_fmt": "rgb24"}
    if target is not None:
        output_args["frames:v"] = target
    args = (
        ffmpeg.input(str(path), **input_args)
        .video.filter("fps", fps=fps)
        .filter("scale", width, height)
        .output("pipe:", **output_args)
        .global_args(*QUIET)
        .compile(cmd=ffmpeg_binary())
    )
    result = run_ffmpeg(args, path=path, timeout_s=limits.timeout_s)
    count = len(result.stdout) // frame_bytes
    if count == 0:
        raise CorruptMediaError(path, "no decodable video frames")
    frames = np.frombuffer(result.stdout, dtype=np.uint8, count=count * frame_bytes)
    frames = frames.reshape(count, height, width, 3)
    if target is not None and count < target:
        return np.concatenate([frames, np.repeat(frames[-1:], target - count, axis=0)])
    return frames[:target].copy()  # a writable array, not a view of ffmpeg's output buffer


def extract_audio(
    path: str | Path,
    *,
    sr: int = SAMPLE_RATE,
    duration_s: float | None = None,
    loop: bool = True,
    limits: MediaLimits | None = None,
) -> np.ndarray:
    """The first audio stream as float32 mono at ``sr`` Hz; ``MissingAudioError`` if none.

    With ``duration_s`` the audio is looped (or padded with silence) and trimmed to that length.
    """
    limits = limits or MediaLimits()
    path = Path(path)
    info = probe(path, limits=limits)
    if not info.has_audio:
        raise MissingAudioError(path, "the file has no audio stream")
    samples = validate_samples(decode_with_ffmpeg(path, sr, limits.timeout_s), path=path)
    if duration_s is not None:
        samples = fit_length(samples, round(duration_s * sr), mode="loop" if loop else "pad")
    return samples


# ---------------------------------------------------------------------------------------- writing


def _temporary_sibling(out_path: Path) -> Path:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.stem}.", suffix=out_path.suffix)
    os.close(fd)
    return Path(tmp)


def _finish(tmp: Path, out_path: Path) -> Path:
    if tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise MediaError(out_path, "ffmpeg wrote an empty file")
    os.replace(tmp, out_path)
    return out_path


# Keep output byte-identical between runs: no encoder version strings or creation times.
_BITEXACT = MappingProxyType(
    {"fflags": "+bitexact", "flags:v": "+bitexact", "flags:a": "+bitexact", "map_metadata": -1}
)


def mux(
    video_path: str | Path,
    wav_path: str | Path,
    out_path: str | Path,
    *,
    audio_bitrate: str = "128k",
    limits: MediaLimits | None = None,
) -> Path:
    """Put a sound onto a video: video stream copied untouched, audio encoded as AAC, padded with
    silence or trimmed so that the result lasts exactly as long as the video stream."""
    import ffmpeg

    limits = limits or MediaLimits()
    video_path, wav_path, out_path = Path(video_path), Path(wav_path), Path(out_path)
    if not probe(video_path, limits=limits).has_video:
        raise MediaError(video_path, "the file has no video stream")
    if not probe(wav_path, limits=limits).has_audio:
        raise MissingAudioError(wav_path, "the file has no audio stream")
    duration = video_stream_duration(video_path, limits=limits)
    tmp = _temporary_sibling(out_path)
    try:
        video = ffmpeg.input(str(video_path)).video
        audio = ffmpeg.input(str(wav_path)).audio.filter("apad")
        args = (
            ffmpeg.output(
                video,
                audio,
                str(tmp),
                vcodec="copy",
                acodec="aac",
                audio_bitrate=audio_bitrate,
                t=f"{duration:.6f}",
                movflags="+faststart",
                format="mp4",
                **_BITEXACT,
            )
            .global_args(*QUIET, "-y")
            .compile(cmd=ffmpeg_binary())
        )
        run_ffmpeg(args, path=out_path, timeout_s=limits.timeout_s)
        return _finish(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)


def write_video(
    frames: np.ndarray,
    fps: float,
    out_path: str | Path,
    *,
    wav: str | Path | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    threads: int = 0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Encode uint8 RGB frames (T, H, W, 3) as H.264/yuv420p mp4, with ``wav`` as AAC audio if given.

    One ffmpeg process per call, frames piped on stdin. The duration is exactly T / fps; the audio
    is padded or trimmed to it. ``threads=0`` lets x264 choose; pass 1 when running many in parallel.
    """
    import ffmpeg

    out_path = Path(out_path)
    frames = np.ascontiguousarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    count, height, width, _ = frames.shape
    video = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
    if width % 2 or height % 2:
        video = video.filter("pad", "ceil(iw/2)*2", "ceil(ih/2)*2")  # yuv420p needs even sizes
    streams = [video]
    options: dict[str, object] = {
        "vcodec": "libx264",
        "pix_fmt": "yuv420p",
        "crf": crf,
        "preset": preset,
        "threads": threads,
        "t": f"{count / fps:.6f}",
        "movflags": "+faststart",
        "format": "mp4",
        **_BITEXACT,
    }
    if wav is not None:
        streams.append(ffmpeg.input(str(wav)).audio.filter("apad"))
        options.update(acodec="aac", audio_bitrate="128k")
    tmp = _temporary_sibling(out_path)
    try:
        args = (
            ffmpeg.output(*streams, str(tmp), **options)
            .global_args(*QUIET, "-y")
            .compile(cmd=ffmpeg_binary())
        )
        run_ffmpeg(args, path=out_path, timeout_s=timeout_s, input_bytes=frames.tobytes())
        return _finish(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)


def strip_audio(video_path: str | Path, out_path: str | Path, *, limits: MediaLimits | None = None) -> Path:
    """The video stream alone, copied untouched (no re-encoding, so frames and timing stay exact)."""
    import ffmpeg

    limits = limits or MediaLimits()
    video_path, out_path = Path(video_path), Path(out_path)
    if not probe(video_path, limits=limits).has_video:
        raise MediaError(video_path, "the file has no video stream")
    tmp = _temporary_sibling(out_path)
    try:
        args = (
            ffmpeg.input(str(video_path))
            .output(
                str(tmp),
                map="0:v:0",
                vcodec="copy",
                an=None,
                movflags="+faststart",
                format="mp4",
                **_BITEXACT,
            )
            .global_args(*QUIET, "-y")
            .compile(cmd=ffmpeg_binary())
        )
        run_ffmpeg(args, path=out_path, timeout_s=limits.timeout_s)
        return _finish(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
