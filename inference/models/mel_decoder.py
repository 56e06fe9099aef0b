"""VarietySound's mel decoder (Figure 3(e), Table 3): the three encodings back to a mel spectrogram.

Per video frame, the temporal (8), timbre (512) and background (16) vectors are concatenated, then:
2 x ConvT1D k4 s2 1024 (215 -> 430 -> 860 frames, ReLU after each), a linear map to the FFT width,
sinusoidal positional encoding, 4 FFT blocks (FastSpeech 2: self-attention with 2 heads and a conv
network k9 512, each followed by dropout, a residual connection and LayerNorm) and a linear layer to
80 mel bins. The output is in the vocoder's (HiFi-GAN) mel format.

Choices where the paper is silent: ReLU after each transposed convolution; a Linear 1024 -> 512
between the upsampler (1024 filters) and the FFT blocks (hidden 512); FastSpeech 2's conv network
(Conv k9 -> ReLU -> Conv k1) and its decoder dropout of 0.2; positional encodings computed for any
length, so clips other than 10 s decode too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from inference.models.config_io import check


@dataclass(frozen=True)
class MelDecoderConfig:
    n_mels: int = 80
    upsample_layers: int = 2
    upsample_kernel: int = 4
    upsample_stride: int = 2
    upsample_channels: int = 1024
    fft_blocks: int = 4
    hidden: int = 512
    heads: int = 2
    conv_kernel: int = 9
    conv_channels: int = 512
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check(self.hidden % self.heads == 0, "mel decoder: hidden must be divisible by heads")
        check(self.conv_kernel % 2 == 1, "mel decoder: conv_kernel must be odd")
        check(
            (self.upsample_kernel - self.upsample_stride) % 2 == 0,
            "mel decoder: upsample_kernel - upsample_stride must be even for an exact x stride upsampling",
        )

    @property
    def upsampling(self) -> int:
        return self.upsample_stride**self.upsample_layers


def sinusoidal_positions(length: int, channels: int, *, device: torch.device, dtype: torch.dtype) -> Tensor:
    """(length, channels) Transformer positional encodings."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(
        torch.arange(0, channels, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / channels)
    )
    table = torch.zeros(length, channels, device=device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: channels // 2])
    return table.to(dtype)


class FFTBlock(nn.Module):
    """Feed-forward Transformer block of FastSpeech 2 (post-norm, as the paper describes)."""

    def __init__(self, config: MelDecoderConfig) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(
            config.hidden, config.heads, dropout=config.dropout, batch_first=True
        )
        self.attention_norm = nn.LayerNorm(config.hidden)
        self.conv = nn.Sequential(
            nn.Conv1d(
                config.hidden, config.conv_channels, config.conv_kernel, padding=config.conv_kernel // 2
            ),
            nn.ReLU(),
            nn.Conv1d(config.conv_channels, config.hidden, 1),
        )
        self.conv_norm = nn.LayerNorm(config.hidden)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        attended, _ = self.attention(x, x, x, need_weights=False)  # (B, T, 512)
        x = self.attention_norm(x + self.dropout(attended))
        convolved = self.conv(x.transpose(1, 2)).transpose(1, 2)  # (B, T, 512)
        return self.conv_norm(x + self.dropout(convolved))


class MelDecoder(nn.Module):
    def __init__(self, config: MelDecoderConfig, input_dim: int) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = input_dim
        padding = (config.upsample_kernel - config.upsample_stride) // 2
        for _ in range(config.upsample_layers):
            layers += [
                nn.ConvTranspose1d(
                    channels,
                    config.upsample_channels,
                    config.upsample_kernel,
                    config.upsample_stride,
                    padding,
                ),
                nn.ReLU(),
            ]
            channels = config.upsample_channels
        self.upsample = nn.Sequential(*layers)
        self.input_projection = nn.Linear(config.upsample_channels, config.hidden)
        self.blocks = nn.ModuleList(FFTBlock(config) for _ in range(config.fft_blocks))
        self.output = nn.Linear(config.hidden, config.n_mels)

    def forward(self, encodings: Tensor) -> Tensor:
        x = self.upsample(encodings.transpose(1, 2))  # (B, T, 536) -> (B, 1024, 4T)
        x = self.input_projection(x.transpose(1, 2))  # (B, 4T, 512)
        x = x + sinusoidal_positions(x.shape[1], x.shape[2], device=x.device, dtype=x.dtype)
        for block in self.blocks:
            x = block(x)  # (B, 4T, 512)
        return self.output(x).transpose(1, 2)  # (B, 80, 4T)
