"""Waveform loading: any file becomes validated float32 mono at 22050 Hz, or a MediaError naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from inference.audio import fit_length, load_audio, loudness_normalise, peak_normalise, save_wav
from inference.errors import EmptyMediaError, InvalidSamplesError, MediaError
from inference.ffmpeg_run import ffmpeg_binary, run_ffmpeg


def _tone(seconds: float, sr: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_it_resamples_and_downmixes_to_22050_hz_mono(tmp_path: Path) -> None:
    stereo = np.stack([_tone(1.0, 44100), _tone(1.0, 44100)], axis=1)
    sf.write(tmp_path / "stereo.wav", stereo, 44100)
    samples = load_audio(tmp_path / "stereo.wav")
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 22050) <= 1
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 22050 / len(samples) - 440) < 2  # the tone survived resampling


def test_it_pads_loops_and_trims_to_a_duration(tmp_path: Path) -> None:
    sf.write(tmp_path / "short.wav", _tone(0.5, 22050), 22050)
    padded = load_audio(tmp_path / "short.wav", duration_s=2.0)
    looped = load_audio(tmp_path / "short.wav", duration_s=2.0, fit="loop")
    trimmed = load_audio(tmp_path / "short.wav", duration_s=0.25)
    assert len(padded) == len(looped) == 44100 and len(trimmed) == 5512
    assert np.all(padded[11025:] == 0)
    assert np.allclose(looped[11025:22050], looped[:11025])
    assert len(fit_length(np.ones(10, np.float32), 4)) == 4


def test_it_decodes_formats_soundfile_cannot_read_through_ffmpeg(tmp_path: Path) -> None:
    save_wav(tmp_path / "tone.wav", _tone(1.0, 22050))
    m4a = tmp_path / "tone.m4a"
    run_ffmpeg(
        [
            ffmpeg_binary(),
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(tmp_path / "tone.wav"),
            "-c:a",
            "aac",
            str(m4a),
        ],
        path=m4a,
    )
    samples = load_audio(m4a)
    assert abs(len(samples) - 22050) < 2048  # AAC pads to whole frames
    assert 0.3 < np.max(np.abs(samples)) < 0.7


def test_it_rejects_audio_containing_nan(tmp_path: Path) -> None:
    samples = _tone(0.2, 22050)
    samples[100] = np.nan
    sf.write(tmp_path / "nan.wav", samples, 22050, subtype="FLOAT")
    with pytest.raises(InvalidSamplesError, match="nan.wav"):
        load_audio(tmp_path / "nan.wav")


def test_it_rejects_audio_containing_infinity(tmp_path: Path) -> None:
    samples = _tone(0.2, 22050)
    samples[5] = np.inf
    sf.write(tmp_path / "inf.wav", samples, 22050, subtype="FLOAT")
    with pytest.raises(InvalidSamplesError, match="inf.wav"):
        load_audio(tmp_path / "inf.wav")


def test_it_rejects_an_empty_file_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(EmptyMediaError, match="empty.wav"):
        load_audio(tmp_path / "empty.wav")


def test_it_rejects_a_wav_without_samples(tmp_path: Path) -> None:
    sf.write(tmp_path / "nothing.wav", np.zeros(0, np.float32), 22050)
    with pytest.raises(EmptyMediaError, match="nothing.wav"):
        load_audio(tmp_path / "nothing.wav")


def test_it_rejects_an_unreadable_file_naming_it(tmp_path: Path) -> None:
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(MediaError, match="noise.wav"):
        load_audio(tmp_path / "noise.wav")


def test_it_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="absent.wav"):
        load_audio(tmp_path / "absent.wav")


def test_peak_and_loudness_normalisation_set_the_level_without_clipping() -> None:
    quiet = 0.01 * _tone(1.0, 22050)
    assert np.isclose(np.max(np.abs(peak_normalise(quiet, peak=0.9))), 0.9, atol=1e-4)
    loud = loudness_normalise(quiet, target_dbfs=-20.0)
    assert np.isclose(20 * np.log10(np.sqrt(np.mean(loud**2))), -20.0, atol=0.05)
    assert np.max(np.abs(loudness_normalise(quiet, target_dbfs=0.0))) <= 0.99 + 1e-6
    silence = np.zeros(100, np.float32)
    assert np.all(peak_normalise(silence) == 0) and np.all(loudness_normalise(silence) == 0)


def test_saved_wavs_are_16_bit_mono_and_clipped(tmp_path: Path) -> None:
    path = save_wav(tmp_path / "out.wav", np.array([0.0, 2.0, -2.0, 0.5], np.float32))
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    assert np.max(np.abs(sf.read(str(path))[0])) <= 1.0
