"""Running the ffmpeg binary safely.

Command lines are built with ffmpeg-python (``ffmpeg.input(...).output(...).compile(cmd=...)``), but
the processes are run here rather than with ffmpeg-python's ``run()``: it has no time limit, and a
worker that waits forever on a hung decoder is worse than a clip reported as broken. Every process
started here is waited for, and killed first when it overruns or when the caller raises, so no
zombie or orphaned ffmpeg survives a call.

The binary is the system's ``ffmpeg`` when it is on PATH (Debian's build, with ffprobe beside it),
otherwise the static build shipped in the imageio-ffmpeg wheel (which has libx264 but no ffprobe).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from inference.errors import CorruptMediaError, FFmpegTimeoutError, MediaError

DEFAULT_TIMEOUT_S = 120.0


def ffmpeg_binary() -> str:
    """Path of the ffmpeg executable: the system's if installed, else imageio-ffmpeg's."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffprobe_binary() -> str | None:
    """Path of ffprobe, or None: imageio-ffmpeg does not ship one, so probing must not need it."""
    return shutil.which("ffprobe")


@dataclass(frozen=True)
class FFmpegResult:
    stdout: bytes
    stderr: str


def stderr_tail(stderr: str, lines: int = 4) -> str:
    """The last meaningful lines of ffmpeg's log: where it says what went wrong."""
    kept = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) if kept else "no output from ffmpeg"


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    # communicate() drains the pipes so the kill cannot deadlock on a full pipe buffer, and reaps.
    try:
        process.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        process.wait()


def _drain(stream: IO[bytes], sink: list[bytes]) -> None:
    sink.append(stream.read())
    stream.close()


def _feed(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
    except (BrokenPipeError, OSError):
        pass  # ffmpeg stopped reading (it failed): its exit status and log tell why
    finally:
        try:
            stream.close()
        except OSError:
            pass


def _communicate_bulk(process: subprocess.Popen[bytes], data: bytes, timeout_s: float) -> tuple[bytes, bytes]:
    """communicate() for large inputs: Popen.communicate writes 512 bytes per system call, which
    costs a third of a second per 10-s clip of raw frames; one blocking write in a thread does not."""
    assert process.stdin and process.stdout and process.stderr
    out: list[bytes] = []
    err: list[bytes] = []
    threads = [
        threading.Thread(target=_feed, args=(process.stdin, data), daemon=True),
        threading.Thread(target=_drain, args=(process.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, err), daemon=True),
    ]
    for thread in threads:
        thread.start()
    process.wait(timeout=timeout_s)  # raises TimeoutExpired; the caller kills, which ends the threads
    for thread in threads:
        thread.join(timeout=10)
    return (out[0] if out else b""), (err[0] if err else b"")


def run_ffmpeg(
    args: Sequence[str],
    *,
    path: str | Path | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    input_bytes: bytes | None = None,
    check: bool = True,
) -> FFmpegResult:
    """Run one ffmpeg command line to completion; ``path`` names the file in any error."""
    try:
        process = subprocess.Popen(
            list(args),
            stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise MediaError(path, f"cannot start ffmpeg ({exc})") from exc
    try:
        if input_bytes is None:
            stdout, stderr_bytes = process.communicate(timeout=timeout_s)
        else:
            stdout, stderr_bytes = _communicate_bulk(process, input_bytes, timeout_s)
    except subprocess.TimeoutExpired as exc:
        _kill(process)
        raise FFmpegTimeoutError(path, f"ffmpeg did not finish within {timeout_s:g} s") from exc
    except BaseException:
        _kill(process)
        raise
    stderr = stderr_bytes.decode("utf-8", errors="replace")
    if check and process.returncode != 0:
        raise CorruptMediaError(path, f"ffmpeg failed ({stderr_tail(stderr)})")
    return FFmpegResult(stdout=stdout, stderr=stderr)
