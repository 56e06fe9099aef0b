"""The two mel-spectrogram formats of the platform, as torch modules.

Both share the STFT of the paper: 22050 Hz, n_fft 1024, hop 256, Hann window 1024, 80 Slaney mel
bands (Slaney-normalised filters, librosa's default). They differ in everything else:

=================  ======================================  =========================================
                   ``HifiganMel`` (vocoder input)           ``VasMel`` (RegNet / SpecVQGAN VAS files)
=================  ======================================  =========================================
band               0 - 8000 Hz                              125 - 7600 Hz
padding            reflect (n_fft - hop) / 2 = 384 each     librosa ``center=True``, reflect
                   side, ``center=False``
magnitude          sqrt(re^2 + im^2 + 1e-9)                 abs(stft)
compression        ln(max(x, 1e-5))                         clip((20 log10(max(x, 1e-5)) - 20 + 100)
                                                            / 100, 0, 1)
frames, 220500     861                                      862
samples
=================  ======================================  =========================================

**The documented trim.** A clip of ``n`` samples has ``floor(n / sr * 21.5)`` video frames (215 for
10 s) and exactly 4 mel frames per video frame, so both modules keep the first
``4 * floor(n / sr * 21.5)`` frames: 860 for 10 s (HiFi-GAN drops 1 frame, VAS drops 2). Both formats
always produce at least that many frames, so nothing is ever padded.

**Moving between the formats.** Never mix them silently: a VAS mel fed to the vocoder sounds wrong
without any error. The exact path is to recompute the other format from the waveform. When only a
mel exists (a VAS tree without audio), ``vas_to_hifigan_approx`` / ``hifigan_to_vas_approx`` undo the
compression, estimate the linear magnitude spectrum with the pseudo-inverse of the source filterbank
(clamped at 0, extended flat outside the source band), move it half a hop (the two formats' frame
centres differ by 128 samples) and apply the target filterbank and compression. Measured on SynthVAS
clips (tests/inference/test_mel.py): VAS -> HiFi-GAN has a mean absolute error of about 0.15 nats
(log-magnitude; up to ~2 nats in single cells), HiFi-GAN -> VAS about 0.01 on the [0, 1] scale. The
error concentrates where the formats' bands differ (HiFi-GAN's bands below 125 Hz and above 7.6 kHz,
which the VAS mel never saw) and on the clipped floor of the VAS format. Good enough to look
at, or to vocode a preview; not for training targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

VIDEO_FPS = 21.5
MEL_FRAMES_PER_VIDEO_FRAME = 4


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    # The trim ties mel frames to video frames (see the module docstring).
    video_fps: float = VIDEO_FPS
    mel_frames_per_video_frame: int = MEL_FRAMES_PER_VIDEO_FRAME


HIFIGAN_MEL = MelConfig(fmin=0.0, fmax=8000.0)
VAS_MEL = MelConfig(fmin=125.0, fmax=7600.0)


def video_frames_for(n_samples: int, *, sample_rate: int = 22050, fps: float = VIDEO_FPS) -> int:
    """Video frames covering ``n_samples`` of audio: 215 for 10 s at 21.5 fps."""
    # The epsilon absorbs float error in n / sr * fps when it is an exact integer (10 s -> 215.0).
    return math.floor(n_samples / sample_rate * fps + 1e-6)


def mel_frames_for(n_samples: int, config: MelConfig = HIFIGAN_MEL) -> int:
    """Mel frames kept after the documented trim: 860 for 220500 samples."""
    return config.mel_frames_per_video_frame * video_frames_for(
        n_samples, sample_rate=config.sample_rate, fps=config.video_fps
    )


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    logstep = math.log(6.4) / 27.0
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / logstep
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    logstep = math.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(logstep * (mel - 15.0)), mel * (200.0 / 3))


def slaney_mel_filterbank(config: MelConfig) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 triangular filters with Slaney area normalisation.

    Written out rather than taken from librosa so that the tests' librosa computation is an
    independent check, and so that workers do not import librosa just to build a matrix.
    """
    fft_freqs = np.linspace(0.0, config.sample_rate / 2, config.n_fft // 2 + 1)
    mel_edges = np.linspace(
        _hz_to_mel_slaney(np.array(config.fmin)), _hz_to_mel_slaney(np.array(config.fmax)), config.n_mels + 2
    )
    hz_edges = _mel_to_hz_slaney(mel_edges)
    widths = np.diff(hz_edges)
    ramps = hz_edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    return weights.astype(np.float32)


class _MelBase(nn.Module):
    """Shared STFT plumbing; subclasses define the padding and the compression."""

    mel_basis: Tensor
    window: Tensor

    def __init__(self, config: MelConfig) -> None:
        super().__init__()
        self.config = config
        # Buffers, not module-level constants: they follow .to(device) and cost nothing to rebuild.
        self.register_buffer("mel_basis", torch.from_numpy(slaney_mel_filterbank(config)), persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)

    def _stft_magnitude(self, wav: Tensor, *, center: bool, eps: float) -> Tensor:
        c = self.config
        spec = torch.stft(
            wav,
            n_fft=c.n_fft,
            hop_length=c.hop_length,
            win_length=c.win_length,
            window=self.window,
            center=center,
            pad_mode="reflect",
            return_complex=True,
        )  # (B, n_fft // 2 + 1, frames)
        if eps:
            return torch.sqrt(spec.real.square() + spec.imag.square() + eps)
        return spec.abs()

    def _as_batch(self, wav: Tensor) -> tuple[Tensor, bool]:
        if wav.dim() not in (1, 2):
            raise ValueError(f"expected a waveform (T,) or (B, T), got shape {tuple(wav.shape)}")
        if wav.shape[-1] <= self.config.n_fft // 2:  # reflect padding needs more samples than it adds
            raise ValueError(f"a waveform of {wav.shape[-1]} samples is too short for a mel spectrogram")
        return (wav.unsqueeze(0), True) if wav.dim() == 1 else (wav, False)

    def _trim(self, mel: Tensor, n_samples: int, trim: bool) -> Tensor:
        return mel[..., : mel_frames_for(n_samples, self.config)] if trim else mel


class HifiganMel(_MelBase):
    """HiFi-GAN's mel: the format the pretrained vocoder was trained on (natural log, 0-8 kHz)."""

    def __init__(self, config: MelConfig = HIFIGAN_MEL) -> None:
        super().__init__(config)

    def forward(self, wav: Tensor, trim: bool = True) -> Tensor:
        x, squeeze = self._as_batch(wav)  # (B, T)
        pad = (self.config.n_fft - self.config.hop_length) // 2
        x = F.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)  # (B, T + 768)
        magnitude = self._stft_magnitude(x, center=False, eps=1e-9)  # (B, 513, frames)
        mel = torch.log(torch.clamp(self.mel_basis @ magnitude, min=1e-5))  # (B, 80, frames)
        mel = self._trim(mel, wav.shape[-1], trim)
        return mel.squeeze(0) if squeeze else mel


class VasMel(_MelBase):
    """RegNet/SpecVQGAN's mel, the format of the VAS ``melspec_10s_22050hz`` files: values in [0, 1]."""

    def __init__(self, config: MelConfig = VAS_MEL) -> None:
        super().__init__(config)

    def forward(self, wav: Tensor, trim: bool = True) -> Tensor:
        x, squeeze = self._as_batch(wav)  # (B, T)
        magnitude = self._stft_magnitude(x, center=True, eps=0.0)  # (B, 513, 1 + T // 256)
        mel = vas_compress(self.mel_basis @ magnitude)  # (B, 80, frames)
        mel = self._trim(mel, wav.shape[-1], trim)
        return mel.squeeze(0) if squeeze else mel


def vas_compress(mel_magnitude: Tensor) -> Tensor:
    db = 20.0 * torch.log10(torch.clamp(mel_magnitude, min=1e-5)) - 20.0
    return torch.clamp((db + 100.0) / 100.0, 0.0, 1.0)


def vas_decompress(mel_vas: Tensor) -> Tensor:
    """Inverse of ``vas_compress`` where it is invertible (values clipped at 0 or 1 stay clipped)."""
    return 10.0 ** ((mel_vas * 100.0 - 100.0 + 20.0) / 20.0)


def _linear_from_mel(mel_magnitude: Tensor, basis: Tensor) -> Tensor:
    """Least-norm linear spectrum whose mel projection is ``mel_magnitude``; flat outside the band."""
    spectrum = torch.clamp(torch.linalg.pinv(basis.double()).to(basis.dtype) @ mel_magnitude, min=0.0)
    # FFT bins outside the source band carry no information: copy the bin at the peak of the
    # outermost filter (the band edges themselves get almost no weight, so are poorly estimated)
    # rather than leave them at zero, which would read as silence (-11.5 nats) in the target format.
    low, high = int(basis[0].argmax()), int(basis[-1].argmax())
    spectrum[..., :low, :] = spectrum[..., low : low + 1, :]
    spectrum[..., high + 1 :, :] = spectrum[..., high : high + 1, :]
    return spectrum


def _half_hop_shift(spectrum: Tensor, *, later: bool) -> Tensor:
    """Average neighbouring frames: HiFi-GAN frame k is centred half a hop after VAS frame k."""
    if later:
        following = torch.cat([spectrum[..., 1:], spectrum[..., -1:]], dim=-1)
        return 0.5 * (spectrum + following)
    preceding = torch.cat([spectrum[..., :1], spectrum[..., :-1]], dim=-1)
    return 0.5 * (spectrum + preceding)


def _as_tensor(mel: Tensor | np.ndarray) -> tuple[Tensor, bool]:
    if isinstance(mel, np.ndarray):
        return torch.from_numpy(np.asarray(mel, dtype=np.float32)), True
    return mel.float(), False


def vas_to_hifigan_approx(mel_vas: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Approximate HiFi-GAN mel (..., 80, F) from a VAS-format mel (..., 80, F); see the module docstring.

    Prefer ``HifiganMel()(waveform)`` whenever the audio exists.
    """
    mel, numpy_in = _as_tensor(mel_vas)
    source = torch.from_numpy(slaney_mel_filterbank(VAS_MEL))
    target = torch.from_numpy(slaney_mel_filterbank(HIFIGAN_MEL))
    spectrum = _half_hop_shift(_linear_from_mel(vas_decompress(mel), source), later=True)
    out = torch.log(torch.clamp(target @ spectrum, min=1e-5))
    return out.numpy() if numpy_in else out


def hifigan_to_vas_approx(mel_hifigan: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Approximate VAS-format mel (..., 80, F) from a HiFi-GAN mel (..., 80, F); see the module docstring.

    Prefer ``VasMel()(waveform)`` whenever the audio exists.
    """
    mel, numpy_in = _as_tensor(mel_hifigan)
    source = torch.from_numpy(slaney_mel_filterbank(HIFIGAN_MEL))
    target = torch.from_numpy(slaney_mel_filterbank(VAS_MEL))
    spectrum = _half_hop_shift(_linear_from_mel(torch.exp(mel), source), later=False)
    out = vas_compress(target @ spectrum)
    return out.numpy() if numpy_in else out
