"""Mel -> waveform: the pretrained HiFi-GAN where it fits the mel format, Griffin-Lim otherwise.

The platform's generated mels are in HiFi-GAN's format end to end (``inference.mel.HIFIGAN_MEL``), so
``Vocoder()`` uses the pretrained universal HiFi-GAN V1 (``hifigan.py``). Any other mel config (a VAS
mel, another band or hop) cannot go through those weights; ``griffin_lim`` then inverts it: undo the
compression, map mel bands back to a linear spectrum with the filterbank's pseudo-inverse (clamped at
zero), and run fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99) for ``n_iter`` iterations.
It is slow to converge and sounds phasey, but needs no weights and works for any STFT setting.

On the CPU the HiFi-GAN runs in OpenVINO (``hifigan_openvino.py``: the same weights, the waveform
within about 5e-6 of PyTorch's, about 1.4x faster on 2 cores); on CUDA, and where OpenVINO is missing
or fails to build the model, in PyTorch. ``runtime`` forces one.

Both return ``frames * hop`` samples (220160 for 860 frames). HiFi-GAN's frame ``k`` is centred on
sample ``k * hop + 128`` (reflect padding of 384 with ``center=False``), Griffin-Lim's ISTFT on
``k * hop``: ``griffin_lim`` delays its output by the difference so that both align with the video.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from inference.mel import HIFIGAN_MEL, MelConfig, slaney_mel_filterbank, vas_decompress
from inference.models import hifigan_openvino
from inference.models.hifigan import HifiganGenerator, load_pretrained_hifigan, pretrained_weights_path

Compression = Literal["hifigan", "vas"]
Backend = Literal["auto", "hifigan", "griffin_lim"]
Runtime = Literal["auto", "torch", "openvino"]
RUNTIMES = ("auto", "torch", "openvino")
PRECISIONS = hifigan_openvino.PRECISIONS

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """Where derived files (the converted vocoder, vocoded ground truth) are kept when the caller names
    no folder: ``$INFERENCE_CACHE_DIR``, else ``~/.cache/varietysound``."""
    configured = os.environ.get("INFERENCE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "varietysound"


def hifigan_fits(config: MelConfig, compression: Compression = "hifigan") -> bool:
    """Whether the pretrained HiFi-GAN was trained on mels of this config and compression."""
    h = HIFIGAN_MEL
    same = (config.sample_rate, config.n_fft, config.hop_length, config.win_length, config.n_mels)
    return (
        compression == "hifigan"
        and same == (h.sample_rate, h.n_fft, h.hop_length, h.win_length, h.n_mels)
        and (config.fmin, config.fmax) == (h.fmin, h.fmax)
    )


def mel_to_magnitude(mel: Tensor, config: MelConfig, compression: Compression = "hifigan") -> Tensor:
    """(B, n_mels, F) compressed mel -> (B, n_fft // 2 + 1, F) non-negative linear magnitudes."""
    mel_magnitude = torch.exp(mel) if compression == "hifigan" else vas_decompress(mel)
    basis = torch.from_numpy(slaney_mel_filterbank(config)).to(mel.device, torch.float64)
    inverse = torch.linalg.pinv(basis).to(mel.dtype)  # (513, 80)
    return torch.clamp(inverse @ mel_magnitude, min=0.0)


def griffin_lim(
    mel: Tensor | np.ndarray,
    config: MelConfig = HIFIGAN_MEL,
    *,
    compression: Compression = "hifigan",
    n_iter: int = 32,
    momentum: float = 0.99,
    seed: int = 0,
) -> Tensor:
    """(n_mels, F) or (B, n_mels, F) mel -> (F * hop,) or (B, F * hop) float32 waveform in [-1, 1]."""
    x = torch.as_tensor(np.asarray(mel) if isinstance(mel, np.ndarray) else mel, dtype=torch.float32)
    squeeze = x.dim() == 2
    x = x.unsqueeze(0) if squeeze else x
    magnitude = mel_to_magnitude(x, config, compression)  # (B, 513, F)
    frames = magnitude.shape[-1]
    window = torch.hann_window(config.win_length, device=x.device)
    length = frames * config.hop_length
    stft_args = dict(
        n_fft=config.n_fft, hop_length=config.hop_length, win_length=config.win_length, window=window
    )
    generator = torch.Generator().manual_seed(seed)
    phase = torch.rand(magnitude.shape, generator=generator).to(x.device) * 2 * torch.pi
    angles = torch.polar(torch.ones_like(magnitude), phase)
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        wave = torch.istft(magnitude * angles, length=length, **stft_args)  # (B, F * hop)
        rebuilt = torch.stft(wave, return_complex=True, pad_mode="reflect", **stft_args)  # (B, 513, F + 1)
        rebuilt = rebuilt[..., :frames]
        angles = rebuilt - (momentum / (1 + momentum)) * previous  # fast Griffin-Lim's momentum step
        previous = rebuilt
        angles = angles / angles.abs().clamp(min=1e-8)
    wave = torch.istft(magnitude * angles, length=length, **stft_args)
    if compression == "hifigan":  # HiFi-GAN's frame k is centred on sample k * hop + 128, not k * hop
        shift = config.n_fft // 2 - (config.n_fft - config.hop_length) // 2
        wave = torch.nn.functional.pad(wave, (shift, 0))[..., :length]
    wave = wave.clamp(-1.0, 1.0)
    return wave.squeeze(0) if squeeze else wave


class Vocoder:
    """Batched mel -> waveform; ``backend="auto"`` picks HiFi-GAN when ``hifigan_fits``."""

    def __init__(
        self,
        mel_config: MelConfig = HIFIGAN_MEL,
        *,
        compression: Compression = "hifigan",
        backend: Backend = "auto",
        device: str | torch.device = "cpu",
        weights: str = "universal",
        griffin_lim_iters: int = 32,
        runtime: Runtime = "auto",
        precision: str = "f32",
        cache_dir: str | Path | None = None,
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown vocoder runtime {runtime!r} (known: {', '.join(RUNTIMES)})")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown vocoder precision {precision!r} (known: {', '.join(PRECISIONS)})")
        fits = hifigan_fits(mel_config, compression)
        if backend == "hifigan" and not fits:
            raise ValueError(
                "the pretrained HiFi-GAN needs HiFi-GAN's mel format (inference.mel.HIFIGAN_MEL)"
            )
        self.backend: Literal["hifigan", "griffin_lim"] = (
            "hifigan" if backend == "hifigan" or (backend == "auto" and fits) else "griffin_lim"
        )
        self.mel_config = mel_config
        self.compression = compression
        self.device = torch.device(device)
        self.griffin_lim_iters = griffin_lim_iters
        self.generator: HifiganGenerator | None = (
            load_pretrained_hifigan(weights, map_location=self.device) if self.backend == "hifigan" else None
        )
        self.weights = weights
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.runtime: Literal["torch", "openvino", "griffin_lim"] = "griffin_lim"
        self.precision = "f32"
        self._fast = None  # the OpenVINO model, when it serves
        if self.backend == "hifigan":
            self.runtime = "torch"
            wants = runtime if runtime != "auto" else ("openvino" if self.device.type == "cpu" else "torch")
            if wants == "openvino" and self.device.type != "cpu":
                raise ValueError("the OpenVINO vocoder runs on the CPU; use runtime='torch' on CUDA")
            if precision != "f32" and wants != "openvino":
                raise ValueError(f"precision {precision!r} needs the OpenVINO runtime on the CPU")
            if wants == "openvino":
                try:
                    self._fast = hifigan_openvino.build(
                        self.generator,
                        weights_path=pretrained_weights_path(weights),
                        cache_dir=self.cache_dir,
                        precision=precision,
                    )
                    self.runtime, self.precision = "openvino", self._fast.actual_precision
                except hifigan_openvino.RuntimeUnavailable as exc:
                    if runtime == "openvino":
                        raise
                    log.warning("vocoding in PyTorch: %s", exc)

    @property
    def key(self) -> str:
        """Names what this vocoder turns a mel into: outputs of two vocoders with one key are the same
        (PyTorch and OpenVINO in f32 agree within 1e-5, below a 16-bit sample's step)."""
        if self.backend == "griffin_lim":
            return f"griffin_lim-{self.griffin_lim_iters}"
        return f"hifigan-{self.weights}-{'f32' if self.precision in ('f32', 'float32') else self.precision}"

    def describe(self) -> str:
        if self.backend == "griffin_lim":
            return f"Griffin-Lim, {self.griffin_lim_iters} iterations"
        where = (
            f"OpenVINO {hifigan_openvino.version()} ({self.precision}, {self._fast.threads} threads)"
            if self._fast is not None
            else f"PyTorch on {self.device}"
        )
        return f"HiFi-GAN V1 {self.weights}, {where}"

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.mel_config.hop_length

    def __call__(self, mel: Tensor | np.ndarray, *, batch_size: int = 8) -> np.ndarray:
        """(n_mels, F) -> (F * hop,) or (B, n_mels, F) -> (B, F * hop) float32 samples."""
        x = torch.as_tensor(np.asarray(mel) if isinstance(mel, np.ndarray) else mel, dtype=torch.float32)
        squeeze = x.dim() == 2
        x = x.unsqueeze(0) if squeeze else x
        if x.dim() != 3 or x.shape[1] != self.mel_config.n_mels:
            raise ValueError(
                f"expected a mel ({self.mel_config.n_mels}, F) or (B, {self.mel_config.n_mels}, F)"
            )
        waves = []
        with torch.inference_mode():
            for chunk in x.split(batch_size):
                if self._fast is not None:
                    waves.append(torch.from_numpy(self._fast(chunk.numpy())))
                    continue
                chunk = chunk.to(self.device)
                if self.generator is not None:
                    waves.append(self.generator(chunk).float().cpu())
                else:
                    waves.append(
                        griffin_lim(
                            chunk,
                            self.mel_config,
                            compression=self.compression,
                            n_iter=self.griffin_lim_iters,
                        ).cpu()
                    )
        out = torch.cat(waves).numpy().astype(np.float32, copy=False)
        return out[0] if squeeze else out
