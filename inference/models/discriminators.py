"""VarietySound's two discriminators: time-domain alignment (TDAD) and multi-window mel (MD).

**TDAD** (Figure 3(f), Table 3) judges whether a mel fits a video *in time*. The video features are
upsampled to the mel's frame rate by 2 x ConvT1D k4 s2 1024; the mel goes through one Conv1D; the two
are concatenated on channels and reduced by 4 x Conv1D k4 512 with BatchNorm and leaky ReLU after
every layer but the last; a sigmoid gives patch scores in (0, 1). Its negatives include real mels
shifted in time (``inference.training.losses.time_shift``), so it learns alignment, not only realism.

**MD** (SyntaSpeech's multi-window discriminator) judges realism: three sub-discriminators look at
random windows of 32, 64 and 128 frames; each is three Conv2D k3 s2 layers (128 channels, leaky
ReLU, Dropout2d, BatchNorm but on the last) and a linear layer to one score. Real and generated mels
of a batch are cropped at the same window start (``forward`` returns the starts for reuse).

Choices where the paper is silent (all in the configs):

- TDAD: BatchNorm + leaky ReLU (0.2) between the two transposed convolutions, none after the second;
  the mel's conv is k3 with 512 filters; the four convs have strides 2, 2, 1, 1 (RegNet's
  discriminator, whose design TDAD extends) and the last has one output channel (a score per patch);
- MD: BatchNorm with the default epsilon (SyntaSpeech passes 0.8 as ``eps``, a common slip for
  momentum); a window longer than the mel is skipped, as SyntaSpeech does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from inference.models.config_io import check


@dataclass(frozen=True)
class AlignmentDiscriminatorConfig:
    video_dim: int = 2048
    n_mels: int = 80
    upsample_layers: int = 2
    upsample_kernel: int = 4
    upsample_stride: int = 2
    upsample_channels: int = 1024
    mel_conv_channels: int = 512
    mel_conv_kernel: int = 3
    conv_layers: int = 4
    conv_kernel: int = 4
    conv_channels: int = 512
    conv_strides: tuple[int, ...] = (2, 2, 1, 1)
    leaky_slope: float = 0.2

    def __post_init__(self) -> None:
        check(len(self.conv_strides) == self.conv_layers, "TDAD: one stride per conv layer")
        check(self.mel_conv_kernel % 2 == 1, "TDAD: mel_conv_kernel must be odd")


class TimeDomainAlignmentDiscriminator(nn.Module):
    def __init__(self, config: AlignmentDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        padding = (config.upsample_kernel - config.upsample_stride) // 2
        upsample: list[nn.Module] = []
        channels = config.video_dim
        for i in range(config.upsample_layers):
            upsample.append(
                nn.ConvTranspose1d(
                    channels,
                    config.upsample_channels,
                    config.upsample_kernel,
                    config.upsample_stride,
                    padding,
                )
            )
            if i < config.upsample_layers - 1:
                upsample += [nn.BatchNorm1d(config.upsample_channels), nn.LeakyReLU(config.leaky_slope)]
            channels = config.upsample_channels
        self.video_upsample = nn.Sequential(*upsample)
        self.mel_conv = nn.Conv1d(
            config.n_mels,
            config.mel_conv_channels,
            config.mel_conv_kernel,
            padding=config.mel_conv_kernel // 2,
        )
        layers: list[nn.Module] = []
        channels = config.upsample_channels + config.mel_conv_channels
        for i, stride in enumerate(config.conv_strides):
            last = i == config.conv_layers - 1
            out = 1 if last else config.conv_channels
            layers.append(nn.Conv1d(channels, out, config.conv_kernel, stride, padding=1))
            if not last:
                layers += [nn.BatchNorm1d(out), nn.LeakyReLU(config.leaky_slope)]
            channels = out
        self.convs = nn.Sequential(*layers)

    def forward(self, mel: Tensor, video_features: Tensor) -> Tensor:
        video = self.video_upsample(video_features.transpose(1, 2))  # (B, T, 2048) -> (B, 1024, 4T)
        x = torch.cat([self.mel_conv(mel), video], dim=1)  # (B, 512 + 1024, 4T)
        return torch.sigmoid(self.convs(x))  # (B, 1, ~T - 2): a score per patch


@dataclass(frozen=True)
class MelDiscriminatorConfig:
    n_mels: int = 80
    windows: tuple[int, ...] = (32, 64, 128)
    layers: int = 3
    channels: int = 128
    kernel: int = 3
    dropout: float = 0.25
    leaky_slope: float = 0.2

    def __post_init__(self) -> None:
        check(len(self.windows) >= 1, "mel discriminator: needs at least one window")
        check(
            all(w >= 2**self.layers for w in self.windows), "mel discriminator: window shorter than 2**layers"
        )


class SingleWindowDiscriminator(nn.Module):
    def __init__(self, window: int, config: MelDiscriminatorConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        time, freq = window, config.n_mels
        for i in range(config.layers):
            layers += [
                nn.Conv2d(channels, config.channels, config.kernel, stride=2, padding=config.kernel // 2),
                nn.LeakyReLU(config.leaky_slope),
                nn.Dropout2d(config.dropout),
            ]
            if i < config.layers - 1:
                layers.append(nn.BatchNorm2d(config.channels))
            channels = config.channels
            time, freq = (time - 1) // 2 + 1, (freq - 1) // 2 + 1  # k3 s2 p1 halves, rounding up
        self.convs = nn.Sequential(*layers)
        self.score = nn.Linear(config.channels * time * freq, 1)

    def forward(self, window: Tensor) -> Tensor:
        x = self.convs(window.unsqueeze(1))  # (B, 80, W) -> (B, 128, 80 / 8, W / 8)
        return self.score(x.flatten(1))  # (B, 1)


class MultiWindowMelDiscriminator(nn.Module):
    def __init__(self, config: MelDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.discriminators = nn.ModuleList(SingleWindowDiscriminator(w, config) for w in config.windows)

    def draw_starts(self, frames: int, generator: torch.Generator | None = None) -> list[int | None]:
        """A random window start per sub-discriminator; None where the mel is shorter than the window."""
        return [
            int(torch.randint(0, frames - w + 1, (1,), generator=generator).item()) if frames >= w else None
            for w in self.config.windows
        ]

    def forward(
        self, mel: Tensor, starts: list[int | None] | None = None
    ) -> tuple[list[Tensor], list[int | None]]:
        if starts is None:
            starts = self.draw_starts(mel.shape[-1])
        scores = []
        for discriminator, window, start in zip(
            self.discriminators, self.config.windows, starts, strict=True
        ):
            if start is None:
                continue
            scores.append(discriminator(mel[:, :, start : start + window]))  # (B, 80, W) -> (B, 1)
        return scores, starts
