"""The two mel formats: shapes, agreement with librosa, buffers, and the measured cost of converting."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from inference.mel import (
    HIFIGAN_MEL,
    VAS_MEL,
    HifiganMel,
    VasMel,
    hifigan_to_vas_approx,
    mel_frames_for,
    slaney_mel_filterbank,
    vas_to_hifigan_approx,
)

TEN_SECONDS = 220500


def _noise(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy((0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32))


@pytest.mark.parametrize("module", [HifiganMel(), VasMel()], ids=["hifigan", "vas"])
def test_a_ten_second_clip_gives_80_by_860_after_the_documented_trim(module: torch.nn.Module) -> None:
    assert module(_noise(TEN_SECONDS)).shape == (80, 860)
    assert module(_noise(TEN_SECONDS).unsqueeze(0).repeat(2, 1)).shape == (2, 80, 860)


def test_untrimmed_frame_counts_are_861_for_hifigan_and_862_for_vas() -> None:
    assert HifiganMel()(_noise(TEN_SECONDS), trim=False).shape[-1] == 861
    assert VasMel()(_noise(TEN_SECONDS), trim=False).shape[-1] == 862
    assert mel_frames_for(TEN_SECONDS) == 860 and mel_frames_for(2 * 22050) == 172


def test_the_filterbank_and_window_are_buffers_that_follow_the_module() -> None:
    module = HifiganMel().to(torch.float64)
    buffers = dict(module.named_buffers())
    assert set(buffers) == {"mel_basis", "window"}
    assert buffers["mel_basis"].shape == (80, 513) and buffers["mel_basis"].dtype == torch.float64
    assert "mel_basis" not in module.state_dict()  # derived from the config, not saved in checkpoints


@pytest.mark.parametrize("config", [HIFIGAN_MEL, VAS_MEL], ids=["hifigan", "vas"])
def test_our_slaney_filterbank_equals_librosas(config) -> None:
    ours = slaney_mel_filterbank(config)
    theirs = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=config.fmin, fmax=config.fmax)
    assert np.abs(ours - theirs).max() < 1e-7


def test_the_hifigan_mel_of_a_synthvas_clip_matches_an_independent_librosa_computation(tiny_synthvas) -> None:
    record = tiny_synthvas.record("dog")
    samples, sr = sf.read(str(tiny_synthvas.path(record, "audio")), dtype="float32")
    padded = np.pad(samples, (384, 384), mode="reflect")
    spec = librosa.stft(padded, n_fft=1024, hop_length=256, win_length=1024, window="hann", center=False)
    magnitude = np.sqrt(spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2 + 1e-9)
    basis = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=80, fmin=0.0, fmax=8000.0)
    expected = np.log(np.maximum(basis @ magnitude, 1e-5))[:, : mel_frames_for(len(samples))]
    stored = np.load(tiny_synthvas.path(record, "mel_hifigan"))
    error = float(np.abs(stored - expected).max())
    assert stored.shape == expected.shape == (80, 172)
    assert error < 1e-4, f"max abs error {error:.2e} between our HiFi-GAN mel and librosa's"


def test_the_vas_mel_of_a_synthvas_clip_matches_librosas_melspectrogram(tiny_synthvas) -> None:
    record = tiny_synthvas.record("drum")
    samples, sr = sf.read(str(tiny_synthvas.path(record, "audio")), dtype="float32")
    mel = librosa.feature.melspectrogram(
        y=samples,
        sr=sr,
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        center=True,
        pad_mode="reflect",
        power=1.0,
        n_mels=80,
        fmin=125.0,
        fmax=7600.0,
    )
    expected = np.clip((20 * np.log10(np.maximum(1e-5, mel)) - 20 + 100) / 100, 0, 1)[:, :172]
    stored = np.load(tiny_synthvas.path(record, "mel_vas"))
    error = float(np.abs(stored - expected).max())
    assert stored.min() >= 0 and stored.max() <= 1
    assert error < 1e-4, f"max abs error {error:.2e} between our VAS mel and librosa's"


def test_the_approximate_conversions_have_the_documented_error(tiny_synthvas) -> None:
    """The numbers quoted in inference/mel.py's docstring come from here."""
    to_hifigan, to_vas = [], []
    for category in ("baby", "dog", "drum", "gun", "fireworks"):
        hifigan = np.load(tiny_synthvas.path(tiny_synthvas.record(category), "mel_hifigan"))
        vas = np.load(tiny_synthvas.path(tiny_synthvas.record(category), "mel_vas"))
        to_hifigan.append(np.abs(vas_to_hifigan_approx(vas) - hifigan).mean())
        to_vas.append(np.abs(hifigan_to_vas_approx(hifigan) - vas).mean())
    vas_to_hifigan_error, hifigan_to_vas_error = float(np.mean(to_hifigan)), float(np.mean(to_vas))
    message = f"VAS->HiFi-GAN {vas_to_hifigan_error:.3f} nats, HiFi-GAN->VAS {hifigan_to_vas_error:.4f}"
    assert vas_to_hifigan_error < 0.25, message
    assert hifigan_to_vas_error < 0.02, message
    # Far better than pretending the formats were the same (which is what a silent mix-up does).
    assert np.abs(np.log(np.maximum(vas, 1e-5)) - hifigan).mean() > 3 * vas_to_hifigan_error, message


def test_conversions_keep_numpy_and_torch_types() -> None:
    mel = np.random.default_rng(0).uniform(0.2, 0.8, (80, 12)).astype(np.float32)
    assert isinstance(vas_to_hifigan_approx(mel), np.ndarray)
    assert isinstance(hifigan_to_vas_approx(torch.from_numpy(mel) - 5), torch.Tensor)
    assert vas_to_hifigan_approx(mel).shape == (80, 12)
