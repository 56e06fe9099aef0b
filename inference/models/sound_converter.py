"""The cascade's second stage: a SpeechSplit-style sound converter (Qian et al. 2020; paper Appendix C).

It re-voices a mel with the timbre of a reference sound. Following the official SpeechSplit
configuration (REFERENCE.md), with the changes the VarietySound paper and our sounds call for:

- **content encoder**: 3 x [Conv1d k5 512, GroupNorm (16 channels a group), ReLU, random resampling]
  on a randomly resampled input, a 2-layer BiLSTM with an 8-dimensional neck per direction, and
  downsampling by 8 (forward states at the end of each 8-frame block, backward states at its start);
- **rhythm encoder**: Conv1d k5 128, GroupNorm, ReLU, a 1-layer BiLSTM with a neck of 1, downsampled
  by 8, reading the *unresampled* mel: timing must come from here;
- **timbre**: instead of SpeechSplit's speaker one-hot, "a sound embedding obtained from a learnable
  LSTM network" (Appendix C): a 2-layer LSTM (256) over the reference mel whose last hidden state is
  projected to 82 dimensions (the width of SpeechSplit's one-hot, so the decoder keeps its input
  size) and repeated over frames. The paper gives no more detail; we do not scramble the reference
  here (in training it is the clip itself, as the one-hot would be the clip's own speaker);
- **no pitch encoder**: SpeechSplit's third code is F0 (from a pitch tracker, quantised to 257 bins).
  Barks, gunshots and fireworks have no well-defined fundamental frequency, and the mel passed to the
  converter at inference is RegNet's output, from which no reliable F0 can be tracked either. We drop
  the F0 encoder and its code: whatever pitch-like information remains travels with the content code;
- **decoder**: 3-layer BiLSTM (512 per direction) -> Linear 1024 -> 80.

Random resampling is SpeechSplit's ``InterpLnr`` (segments of 19-31 frames, factors in [0.5, 1.5),
no swapping), active in training only. Training is SpeechSplit's: reconstruct the input mel with MSE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from inference.models.config_io import check
from inference.models.resampling import RandomResampling, ResamplingConfig


@dataclass(frozen=True)
class SoundConverterConfig:
    n_mels: int = 80
    content_convs: int = 3
    content_channels: int = 512
    content_neck: int = 8
    content_lstm_layers: int = 2
    rhythm_convs: int = 1
    rhythm_channels: int = 128
    rhythm_neck: int = 1
    rhythm_lstm_layers: int = 1
    kernel: int = 5
    channels_per_group: int = 16
    downsample: int = 8
    timbre_lstm_layers: int = 2
    timbre_lstm_hidden: int = 256
    timbre_dim: int = 82
    decoder_lstm_layers: int = 3
    decoder_hidden: int = 512
    resampling: ResamplingConfig = field(default_factory=lambda: ResamplingConfig(swap=False))

    def __post_init__(self) -> None:
        check(self.kernel % 2 == 1, "sound converter: kernel must be odd")
        for name in ("content_channels", "rhythm_channels"):
            check(
                getattr(self, name) % self.channels_per_group == 0,
                f"sound converter: {name} must be a multiple of channels_per_group",
            )


def _conv_stack(in_channels: int, channels: int, layers: int, config: SoundConverterConfig) -> nn.ModuleList:
    return nn.ModuleList(
        nn.Sequential(
            nn.Conv1d(
                in_channels if i == 0 else channels, channels, config.kernel, padding=config.kernel // 2
            ),
            nn.GroupNorm(channels // config.channels_per_group, channels),
            nn.ReLU(),
        )
        for i in range(layers)
    )


def downsample_codes(outputs: Tensor, neck: int, factor: int) -> Tensor:
    """SpeechSplit's downsampling of BiLSTM outputs (B, T, 2 * neck), then repeated back to (B, T, 2 * neck).

    Forward states are taken at the last frame of each ``factor``-frame block, backward states at its
    first, so each code summarises its block from both sides. Any T works: the last block may be short.
    """
    frames = outputs.shape[1]
    starts = torch.arange(0, frames, factor, device=outputs.device)
    ends = torch.clamp(starts + factor - 1, max=frames - 1)
    codes = torch.cat([outputs[:, ends, :neck], outputs[:, starts, neck:]], dim=-1)  # (B, ceil(T / f), 2n)
    return codes.repeat_interleave(factor, dim=1)[:, :frames]  # (B, T, 2 * neck)


class SoundConverter(nn.Module):
    def __init__(self, config: SoundConverterConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.resample = RandomResampling(c.resampling)
        self.content_convs = _conv_stack(c.n_mels, c.content_channels, c.content_convs, c)
        self.content_lstm = nn.LSTM(
            c.content_channels, c.content_neck, c.content_lstm_layers, batch_first=True, bidirectional=True
        )
        self.rhythm_convs = _conv_stack(c.n_mels, c.rhythm_channels, c.rhythm_convs, c)
        self.rhythm_lstm = nn.LSTM(
            c.rhythm_channels, c.rhythm_neck, c.rhythm_lstm_layers, batch_first=True, bidirectional=True
        )
        self.timbre_lstm = nn.LSTM(c.n_mels, c.timbre_lstm_hidden, c.timbre_lstm_layers, batch_first=True)
        self.timbre_projection = nn.Linear(c.timbre_lstm_hidden, c.timbre_dim)
        decoder_input = 2 * c.content_neck + 2 * c.rhythm_neck + c.timbre_dim
        self.decoder_lstm = nn.LSTM(
            decoder_input, c.decoder_hidden, c.decoder_lstm_layers, batch_first=True, bidirectional=True
        )
        self.output = nn.Linear(2 * c.decoder_hidden, c.n_mels)

    def timbre(self, reference_mel: Tensor) -> Tensor:
        _, (hidden, _) = self.timbre_lstm(reference_mel.transpose(1, 2))  # hidden: (layers, B, 256)
        return self.timbre_projection(hidden[-1])  # (B, 82)

    def forward(self, mel: Tensor, reference_mel: Tensor) -> Tensor:
        frames = mel.shape[-1]
        content = self.resample(mel)  # (B, 80, T), scrambled in training
        for conv in self.content_convs:
            content = self.resample(conv(content))  # (B, 512, T)
        content, _ = self.content_lstm(content.transpose(1, 2))  # (B, T, 2 * 8)
        rhythm = mel
        for conv in self.rhythm_convs:
            rhythm = conv(rhythm)  # (B, 128, T)
        rhythm, _ = self.rhythm_lstm(rhythm.transpose(1, 2))  # (B, T, 2 * 1)
        codes = torch.cat(
            [
                downsample_codes(content, self.config.content_neck, self.config.downsample),
                downsample_codes(rhythm, self.config.rhythm_neck, self.config.downsample),
                self.timbre(reference_mel).unsqueeze(1).expand(-1, frames, -1),
            ],
            dim=-1,
        )  # (B, T, 16 + 2 + 82)
        decoded, _ = self.decoder_lstm(codes)  # (B, T, 1024)
        return self.output(decoded).transpose(1, 2)  # (B, 80, T)
