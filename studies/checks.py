"""Media for attention checks (no Django, no torch): broken gold clips and spoken trap clips.

- A *broken* clip keeps the source's loudness envelope but replaces its content with clipped noise
  (realism: clearly unreal), or plays the source audio reversed and shifted against its video
  (alignment: clearly misaligned). Raters who give such a clip a high score were not listening.
- A *trap* speaks an instruction ("please select the score two") with espeak-ng, as ITU-T P.808's
  trapping questions do, so that it can only be passed by listening, not by reading the page.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from inference.audio import SAMPLE_RATE, fit_length, load_audio, save_wav
from inference.video import mux

NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


class CheckMediaError(RuntimeError):
    pass


def espeak_binary() -> str:
    binary = shutil.which("espeak-ng") or shutil.which("espeak")
    if binary is None:
        raise CheckMediaError("espeak-ng is not installed (Debian package espeak-ng): trap clips need it")
    return binary


def trap_text(score: int) -> str:
    word = NUMBER_WORDS[score]
    return f"This is an attention check. Please select the score {word}. I repeat: select {word}."


def speak(text: str, out_path: Path, *, duration_s: float = 10.0, timeout_s: float = 30.0) -> Path:
    """Speak `text` into a mono 22050 Hz wav of exactly `duration_s` (padded with quiet noise)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        try:
            subprocess.run(
                [espeak_binary(), "-s", "140", "-w", str(raw), text],
                check=True,
                capture_output=True,
                timeout=timeout_s,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise CheckMediaError(f"espeak-ng failed: {exc}") from exc
        speech = load_audio(raw, sample_rate=SAMPLE_RATE)
    n = int(round(duration_s * SAMPLE_RATE))
    speech = fit_length(speech / max(1e-6, float(np.abs(speech).max())) * 0.8, n, mode="pad")
    # A faint noise floor so the clip does not look like an obvious silent file to a script.
    rng = np.random.default_rng(len(text))
    return save_wav(out_path, speech + rng.normal(0.0, 0.003, size=n).astype(np.float32))


def broken_audio(source_wav: Path, out_path: Path, *, seed: int = 0) -> Path:
    """Clipped white noise under the source's loudness envelope: clearly not a real recording."""
    audio = load_audio(source_wav, sample_rate=SAMPLE_RATE)
    hop = 512
    frames = max(1, len(audio) // hop)
    envelope = np.sqrt(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1) + 1e-8)
    envelope = np.repeat(envelope, hop)
    envelope = fit_length(envelope / max(1e-6, float(envelope.max())), len(audio), mode="pad")
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-1.0, 1.0, size=len(audio)).astype(np.float32)
    crushed = np.clip(noise * (0.3 + 2.0 * envelope), -0.6, 0.6)
    crushed = np.round(crushed * 8) / 8  # 4-bit quantisation: harsh and obviously synthetic
    return save_wav(out_path, crushed.astype(np.float32))


def misaligned_video(video: Path, source_wav: Path, out_path: Path) -> Path:
    """The source audio reversed and rotated by 40 % of its length, muxed onto the video."""
    audio = load_audio(source_wav, sample_rate=SAMPLE_RATE)[::-1]
    audio = np.roll(audio, int(0.4 * len(audio))).copy()
    with tempfile.TemporaryDirectory() as tmp:
        wav = save_wav(Path(tmp) / "shifted.wav", audio)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        return mux(video, wav, out_path)


def trap_video(video: Path, score: int, out_path: Path) -> Path:
    """A video whose soundtrack is the spoken trap instruction."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = speak(trap_text(score), Path(tmp) / "trap.wav")
        out_path.parent.mkdir(parents=True, exist_ok=True)
        return mux(video, wav, out_path)
