"""Describing media files with ffmpeg: streams, duration, size, and the limits inputs must respect.

Probing needs no ffprobe: imageio-ffmpeg's static build has none, so without it the banner that
``ffmpeg -i`` prints is parsed; ffprobe's JSON is used when Debian's ffmpeg package is installed.
Both give the same ``MediaInfo``. Every input is checked against ``MediaLimits`` before anything
decodes it, so a 4-hour 8K upload is refused in milliseconds rather than filling memory or disk, and
every failure is a ``MediaError`` naming the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from inference.errors import CorruptMediaError, EmptyMediaError, MediaError, MediaTooLargeError
from inference.ffmpeg_run import DEFAULT_TIMEOUT_S, ffmpeg_binary, ffprobe_binary, run_ffmpeg, stderr_tail

QUIET = ("-nostdin", "-hide_banner", "-loglevel", "error")


@dataclass(frozen=True)
class MediaLimits:
    """What an input may be before anything decodes it. The defaults admit any ordinary upload."""

    max_file_bytes: int = 2 * 1024**3
    max_duration_s: float = 3600.0
    max_width: int = 7680
    max_height: int = 4320
    # Cap on the raw RGB bytes one read_frames call may hold in memory.
    max_decoded_bytes: int = 4 * 1024**3
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video" | "audio" | "subtitle" | "data" | ...
    codec: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class MediaInfo:
    path: str
    size_bytes: int
    duration_s: float | None
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return any(s.kind == "audio" for s in self.streams)

    @property
    def fps(self) -> float | None:
        return self.video.fps if self.video else None

    @property
    def width(self) -> int | None:
        return self.video.width if self.video else None

    @property
    def height(self) -> int | None:
        return self.video.height if self.video else None


_CHANNELS = MappingProxyType(
    {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}
)


def _parse_rate(text: str | None) -> float | None:
    if not text or text in ("0/0", "N/A"):
        return None
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den) if float(den) else None
    return float(text)


def _parse_banner(path: Path, stderr: str) -> tuple[float | None, tuple[StreamInfo, ...]]:
    """Read duration and streams from the banner ``ffmpeg -i`` prints about its input."""
    if "Input #0" not in stderr:
        raise CorruptMediaError(path, f"ffmpeg cannot read the file ({stderr_tail(stderr)})")
    section = stderr.split("Input #0", 1)[1].split("At least one output", 1)[0]
    duration = None
    match = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", section)
    if match:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    streams = []
    for index, (kind, desc) in enumerate(re.findall(r"Stream #0:\d+\S*: (\w+): (.*)", section)):
        kind = kind.lower()
        codec = desc.split(",")[0].split(" ")[0]
        info = StreamInfo(index=index, kind=kind, codec=codec)
        if kind == "video":
            size = re.search(r", (\d{1,5})x(\d{1,5})[\s,\[]", desc + " ")
            rate = re.search(r"([\d.]+k?) fps", desc) or re.search(r"([\d.]+k?) tbr", desc)
            fps = None
            if rate:
                value = rate.group(1)
                fps = float(value[:-1]) * 1000 if value.endswith("k") else float(value)
            info = StreamInfo(
                index=index,
                kind=kind,
                codec=codec,
                width=int(size.group(1)) if size else None,
                height=int(size.group(2)) if size else None,
                fps=fps,
            )
        elif kind == "audio":
            rate = re.search(r"(\d+) Hz", desc)
            layout = desc.split(",")[2].strip().split(" ")[0] if desc.count(",") >= 2 else ""
            count = re.search(r"(\d+) channels", desc)
            channels = int(count.group(1)) if count else _CHANNELS.get(layout.split("(")[0])
            info = StreamInfo(
                index=index,
                kind=kind,
                codec=codec,
                sample_rate=int(rate.group(1)) if rate else None,
                channels=channels,
            )
        streams.append(info)
    return duration, tuple(streams)


def _probe_with_ffprobe(
    path: Path, ffprobe: str, timeout_s: float
) -> tuple[float | None, tuple[StreamInfo, ...]]:
    args = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    result = run_ffmpeg(args, path=path, timeout_s=timeout_s)
    try:
        data = json.loads(result.stdout or b"{}")
    except json.JSONDecodeError as exc:
        raise CorruptMediaError(path, "ffprobe returned no readable description") from exc
    fmt = data.get("format") or {}
    duration = float(fmt["duration"]) if fmt.get("duration") not in (None, "N/A") else None
    streams = tuple(
        StreamInfo(
            index=i,
            kind=str(s.get("codec_type", "unknown")),
            codec=str(s.get("codec_name", "unknown")),
            width=s.get("width"),
            height=s.get("height"),
            fps=_parse_rate(s.get("avg_frame_rate")) or _parse_rate(s.get("r_frame_rate"))
            if s.get("codec_type") == "video"
            else None,
            sample_rate=int(s["sample_rate"]) if s.get("sample_rate") else None,
            channels=s.get("channels"),
        )
        for i, s in enumerate(data.get("streams") or [])
    )
    return duration, streams


def probe(path: str | Path, *, limits: MediaLimits | None = None) -> MediaInfo:
    """Describe a media file; raise ``MediaError`` if it is missing, empty, unreadable or too large."""
    limits = limits or MediaLimits()
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "no such file")
    size = path.stat().st_size
    if size == 0:
        raise EmptyMediaError(path, "the file is empty")
    if size > limits.max_file_bytes:
        raise MediaTooLargeError(path, f"the file is {size} bytes, over the limit of {limits.max_file_bytes}")
    ffprobe = ffprobe_binary()
    if ffprobe:
        duration, streams = _probe_with_ffprobe(path, ffprobe, limits.timeout_s)
    else:
        # ffmpeg exits with an error when given no output; the banner on stderr is what we want.
        result = run_ffmpeg(
            [ffmpeg_binary(), "-nostdin", "-hide_banner", "-i", str(path)],
            path=path,
            timeout_s=limits.timeout_s,
            check=False,
        )
        duration, streams = _parse_banner(path, result.stderr)
    if not streams:
        raise CorruptMediaError(path, "the file has no audio or video stream")
    info = MediaInfo(path=str(path), size_bytes=size, duration_s=duration, streams=streams)
    if duration is not None and duration > limits.max_duration_s:
        raise MediaTooLargeError(
            path, f"{duration:.1f} s long, over the limit of {limits.max_duration_s:g} s"
        )
    if info.width and info.height and (info.width > limits.max_width or info.height > limits.max_height):
        raise MediaTooLargeError(
            path, f"{info.width}x{info.height}, over the limit of {limits.max_width}x{limits.max_height}"
        )
    return info


def video_stream_duration(path: str | Path, *, limits: MediaLimits | None = None) -> float:
    """Duration of the first video stream alone (the container's may include a longer audio track)."""
    limits = limits or MediaLimits()
    path = Path(path)
    # framecrc lists every packet's pts and duration without decoding anything: the exact end of
    # the last frame, where the null muxer's "time=" reports a decode timestamp frames early.
    result = run_ffmpeg(
        [ffmpeg_binary(), *QUIET, "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"],
        path=path,
        timeout_s=limits.timeout_s,
    )
    text = result.stdout.decode("ascii", errors="replace")
    base = re.search(r"^#tb 0: (\d+)/(\d+)", text, flags=re.MULTILINE)
    packets = re.findall(r"^0,\s*-?\d+,\s*(-?\d+),\s*(\d+),", text, flags=re.MULTILINE)
    if not base or not packets:
        raise CorruptMediaError(path, "cannot tell the duration of the video stream")
    starts = [int(pts) for pts, _ in packets]
    end = max(int(pts) + int(dur) for pts, dur in packets)
    return (end - min(starts)) * int(base.group(1)) / int(base.group(2))
