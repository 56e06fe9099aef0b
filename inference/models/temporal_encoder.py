"""VarietySound's temporal encoder (paper Figure 3(b), Table 3): where in time the sound events are.

Video features -> 8 x [Conv1D k5 512, BatchNorm, leaky ReLU] -> 2-layer BiLSTM (256 per direction)
-> Linear bottleneck to 8 dimensions per video frame. The narrow bottleneck is the point: the video
may tell the decoder *when* something sounds, not *what* it sounds like.

The paper does not give the leaky ReLU slope; we use 0.2, the usual GAN-era value (RegNet's
discriminator uses it too).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from inference.models.config_io import check


@dataclass(frozen=True)
class TemporalEncoderConfig:
    input_dim: int = 2048
    conv_layers: int = 8
    conv_kernel: int = 5
    conv_channels: int = 512
    lstm_layers: int = 2
    lstm_hidden: int = 256
    output_dim: int = 8
    leaky_slope: float = 0.2

    def __post_init__(self) -> None:
        check(self.conv_kernel % 2 == 1, "temporal encoder: conv_kernel must be odd (length-preserving)")
        check(self.conv_layers >= 1 and self.lstm_layers >= 1, "temporal encoder: needs layers")


class TemporalEncoder(nn.Module):
    def __init__(self, config: TemporalEncoderConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = config.input_dim
        for _ in range(config.conv_layers):
            layers += [
                nn.Conv1d(
                    channels, config.conv_channels, config.conv_kernel, padding=config.conv_kernel // 2
                ),
                nn.BatchNorm1d(config.conv_channels),
                nn.LeakyReLU(config.leaky_slope),
            ]
            channels = config.conv_channels
        self.convs = nn.Sequential(*layers)
        self.lstm = nn.LSTM(
            config.conv_channels, config.lstm_hidden, config.lstm_layers, batch_first=True, bidirectional=True
        )
        self.bottleneck = nn.Linear(2 * config.lstm_hidden, config.output_dim)

    def forward(self, video_features: Tensor) -> Tensor:
        x = self.convs(video_features.transpose(1, 2))  # (B, T, 2048) -> (B, 512, T)
        x, _ = self.lstm(x.transpose(1, 2))  # (B, T, 2 * 256)
        return self.bottleneck(x)  # (B, T, 8)
