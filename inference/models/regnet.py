"""RegNet (Chen et al. 2020), the cascade's first stage: video features -> mel, with no timbre control.

Generator, following the official implementation's configuration (REFERENCE.md):

- encoder: features (2048) || noise z (512, repeated over frames) -> 3 x [Conv1d k5 2048, BatchNorm,
  ReLU, dropout 0.5] -> 2-layer BiLSTM (512 per direction) -> Linear 1024;
- auxiliary: a 2-layer BiLSTM over the ground-truth mel whose last backward state (32 dims, through
  a linear layer) is repeated over frames. It leaks the answer during training, which is RegNet's
  point (the video encoder learns only what the audio does not explain); it is **zeroed at inference**
  (and whenever no mel is given);
- decoder: ConvT k4 s2 (1024 + 32 -> 512), BN, ReLU, Conv k5 512, BN, ReLU, ConvT k4 s2 (-> 80), BN,
  ReLU, Conv k5 80: 215 -> 860 frames;
- postnet: 5 x Conv k5 (512 channels, BatchNorm, tanh but on the last), added to the decoder output.

``forward`` returns ``(mel, mel_before_postnet)``; RegNet's loss uses both.

The discriminator is RegNet's video-conditioned PatchGAN: the features upsampled by two transposed
convolutions (2048 -> 1024 -> 64), the mel by a 1x1 one (80 -> 64), concatenated and reduced by four
convolutions (256, 512, 1024, 1) to patch scores. RegNet ends with a sigmoid and ``BCELoss``; this
module returns the logits and the loss applies the sigmoid (``binary_cross_entropy_with_logits``, the
same function, but numerically stable and allowed under mixed precision).

Our mels are HiFi-GAN's (natural log), not RegNet's [0, 1] VAS format: the architecture is unchanged,
and the decoder's last layer is a plain convolution, so it produces any range.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass(frozen=True)
class RegNetConfig:
    video_dim: int = 2048
    noise_dim: int = 512
    encoder_convs: int = 3
    encoder_kernel: int = 5
    encoder_channels: int = 2048
    encoder_dropout: float = 0.5
    encoder_lstm_layers: int = 2
    encoder_lstm_hidden: int = 512
    auxiliary_dim: int = 32
    auxiliary_lstm_layers: int = 2
    decoder_channels: int = 512
    n_mels: int = 80
    postnet_layers: int = 5
    postnet_channels: int = 512
    postnet_kernel: int = 5


class RegNetGenerator(nn.Module):
    def __init__(self, config: RegNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        convs: list[nn.Module] = []
        channels = c.video_dim + c.noise_dim
        for _ in range(c.encoder_convs):
            convs.append(
                nn.Sequential(
                    nn.Conv1d(channels, c.encoder_channels, c.encoder_kernel, padding=c.encoder_kernel // 2),
                    nn.BatchNorm1d(c.encoder_channels),
                )
            )
            channels = c.encoder_channels
        self.encoder_convs = nn.ModuleList(convs)
        self.encoder_lstm = nn.LSTM(
            c.encoder_channels,
            c.encoder_lstm_hidden,
            c.encoder_lstm_layers,
            batch_first=True,
            bidirectional=True,
        )
        encoded = 2 * c.encoder_lstm_hidden
        self.encoder_projection = nn.Linear(encoded, encoded)
        self.auxiliary_lstm = nn.LSTM(
            c.n_mels, c.auxiliary_dim, c.auxiliary_lstm_layers, batch_first=True, bidirectional=True
        )
        self.auxiliary_projection = nn.Linear(c.auxiliary_dim, c.auxiliary_dim)
        self.decoder = nn.Sequential(
            nn.ConvTranspose1d(encoded + c.auxiliary_dim, c.decoder_channels, 4, 2, 1),
            nn.BatchNorm1d(c.decoder_channels),
            nn.ReLU(),
            nn.Conv1d(c.decoder_channels, c.decoder_channels, 5, padding=2),
            nn.BatchNorm1d(c.decoder_channels),
            nn.ReLU(),
            nn.ConvTranspose1d(c.decoder_channels, c.n_mels, 4, 2, 1),
            nn.BatchNorm1d(c.n_mels),
            nn.ReLU(),
            nn.Conv1d(c.n_mels, c.n_mels, 5, padding=2),
        )
        post: list[nn.Module] = []
        channels = c.n_mels
        for i in range(c.postnet_layers):
            out = c.n_mels if i == c.postnet_layers - 1 else c.postnet_channels
            post.append(
                nn.Sequential(
                    nn.Conv1d(channels, out, c.postnet_kernel, padding=c.postnet_kernel // 2),
                    nn.BatchNorm1d(out),
                )
            )
            channels = out
        self.postnet = nn.ModuleList(post)

    def forward(
        self, video_features: Tensor, mel: Tensor | None = None, *, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        batch, frames, _ = video_features.shape
        noise = torch.randn(
            batch, self.config.noise_dim, generator=generator, device=generator.device if generator else "cpu"
        ).to(video_features)
        x = torch.cat(
            [video_features.transpose(1, 2), noise.unsqueeze(-1).expand(-1, -1, frames)], dim=1
        )  # (B, 2048 + 512, T)
        for conv in self.encoder_convs:
            x = F.dropout(F.relu(conv(x)), self.config.encoder_dropout, self.training)  # (B, 2048, T)
        x, _ = self.encoder_lstm(x.transpose(1, 2))  # (B, T, 1024)
        x = self.encoder_projection(x)  # (B, T, 1024)
        x = torch.cat([x, self._auxiliary(mel, batch, frames, like=x)], dim=-1)  # (B, T, 1024 + 32)
        before_postnet = self.decoder(x.transpose(1, 2))  # (B, 80, 4T)
        y = before_postnet
        for i, layer in enumerate(self.postnet):
            y = layer(y)
            if i < len(self.postnet) - 1:
                y = torch.tanh(y)
        return before_postnet + y, before_postnet  # (B, 80, 4T) each

    def _auxiliary(self, mel: Tensor | None, batch: int, frames: int, *, like: Tensor) -> Tensor:
        if mel is None or not self.training:  # RegNet zeroes the ground-truth path at test time
            return like.new_zeros(batch, frames, self.config.auxiliary_dim)
        _, (hidden, _) = self.auxiliary_lstm(mel.transpose(1, 2))  # hidden: (layers * 2, B, 32)
        return self.auxiliary_projection(hidden[-1]).unsqueeze(1).expand(-1, frames, -1)  # (B, T, 32)


@dataclass(frozen=True)
class RegNetDiscriminatorConfig:
    video_dim: int = 2048
    n_mels: int = 80
    video_channels: int = 1024
    branch_channels: int = 64
    channels: tuple[int, int, int] = (256, 512, 1024)
    leaky_slope: float = 0.2


class RegNetDiscriminator(nn.Module):
    def __init__(self, config: RegNetDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        c, slope = config, config.leaky_slope
        self.video_upsample = nn.Sequential(
            nn.ConvTranspose1d(c.video_dim, c.video_channels, 4, 2, 1),
            nn.BatchNorm1d(c.video_channels),
            nn.LeakyReLU(slope),
            nn.ConvTranspose1d(c.video_channels, c.branch_channels, 4, 2, 1),
        )
        self.mel_conv = nn.ConvTranspose1d(c.n_mels, c.branch_channels, 1)
        c1, c2, c3 = c.channels
        self.down = nn.Sequential(
            nn.Conv1d(2 * c.branch_channels, c1, 4, 2, 1),
            nn.LeakyReLU(slope),
            nn.Conv1d(c1, c2, 4, 2, 1),
            nn.BatchNorm1d(c2),
            nn.LeakyReLU(slope),
            nn.Conv1d(c2, c3, 4, 1, 1),
            nn.BatchNorm1d(c3),
            nn.LeakyReLU(slope),
            nn.Conv1d(c3, 1, 4, 1, 1),
        )

    def forward(self, mel: Tensor, video_features: Tensor) -> Tensor:
        video = self.video_upsample(video_features.transpose(1, 2))  # (B, T, 2048) -> (B, 64, 4T)
        x = torch.cat([video, self.mel_conv(mel)], dim=1)  # (B, 128, 4T)
        return self.down(x)  # (B, 1, ~T - 2) logits
