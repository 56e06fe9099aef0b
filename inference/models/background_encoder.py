"""VarietySound's background encoder (Figure 3(d), Table 3): what is left once the events are gone.

Energy masking, then a 2-layer BiLSTM (128 per direction); the last layer's final hidden states go
through a linear layer and are repeated over every video frame. The paper's energy masking "masks
the mel-spectrogram of the part of the energy larger than the median energy of the whole
mel-spectrogram along the time dimension": we compute each frame's energy (the log of its summed
mel power, ``logsumexp(2 * mel)`` over bins, for the HiFi-GAN format's natural-log magnitudes), take
the median over the clip's frames and replace every frame above it with silence. What remains is
the quieter half of the clip: background noise, not events.

In training the encoder reads the target mel; at inference it reads silence (the paper sets its input
to "silent audio"), so generated sound comes out clean. Silence is ``ln(1e-5)``, the floor of
HiFi-GAN's mel (``silence`` in the config).

Not in the paper: the size of the linear layer's output. We use 16: background is a slowly varying
colour and level, and a small bottleneck keeps it from carrying timbre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

HIFIGAN_SILENCE = math.log(1e-5)


@dataclass(frozen=True)
class BackgroundEncoderConfig:
    n_mels: int = 80
    lstm_layers: int = 2
    lstm_hidden: int = 128
    output_dim: int = 16
    silence: float = HIFIGAN_SILENCE


def frame_energy(mel: Tensor) -> Tensor:
    """(B, n_mels, T) natural-log magnitudes -> (B, T) log power per frame."""
    return torch.logsumexp(2.0 * mel, dim=1)


def energy_mask(mel: Tensor, silence: float = HIFIGAN_SILENCE) -> Tensor:
    """Replace the frames whose energy exceeds the clip's median frame energy with ``silence``."""
    energy = frame_energy(mel)  # (B, T)
    median = energy.median(dim=1, keepdim=True).values  # (B, 1)
    loud = (energy > median).unsqueeze(1)  # (B, 1, T); strict, so a constant clip keeps every frame
    return mel.masked_fill(loud, silence)


def silent_mel(
    batch: int, n_mels: int, frames: int, *, silence: float = HIFIGAN_SILENCE, like: Tensor
) -> Tensor:
    """The mel of silent audio, the background encoder's input at inference."""
    return torch.full((batch, n_mels, frames), silence, dtype=like.dtype, device=like.device)


class BackgroundEncoder(nn.Module):
    def __init__(self, config: BackgroundEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            config.n_mels, config.lstm_hidden, config.lstm_layers, batch_first=True, bidirectional=True
        )
        self.projection = nn.Linear(2 * config.lstm_hidden, config.output_dim)

    def forward(self, mel: Tensor) -> Tensor:
        masked = energy_mask(mel, self.config.silence)  # (B, 80, T)
        _, (hidden, _) = self.lstm(masked.transpose(1, 2))  # hidden: (layers * 2, B, 128)
        return self.projection(torch.cat([hidden[-2], hidden[-1]], dim=-1))  # (B, 16)
