"""VarietySound's generator: video features + reference mel (+ background mel) -> mel (paper Figure 3(a)).

Three encoders disentangle the target sound into temporal information (from the video), timbre (from
the reference audio, scrambled in time by R) and background (from the energy-masked target, silent at
inference); the mel decoder fuses them again. Shapes for a 10-s clip: video (B, 215, 2048), reference
(B, 80, 860) (any length works: only its timbre vector is used), output (B, 80, 860) in the HiFi-GAN
mel format.

Where the paper's text and Table 3 differ, we follow the table (as the issue does): the acoustic and
background encoders' BiLSTMs have 2 layers, not "a single layer". The paper concatenates the three
encodings "along the time dimension"; as the timbre and background vectors are first expanded to the
video's length, we read it as concatenating, at every time step, the three vectors' channels.

Inference-time ablations (paper Appendix E, Table 8 and Figure 5) are keyword switches of
``forward``: ``drop_temporal`` / ``drop_timbre`` replace that encoder's output with zeros or Gaussian
noise (``drop_with``), and passing a ``background_mel`` adds the background information that is
silent by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from inference.models.acoustic_encoder import AcousticEncoder, AcousticEncoderConfig
from inference.models.background_encoder import BackgroundEncoder, BackgroundEncoderConfig, silent_mel
from inference.models.config_io import check
from inference.models.mel_decoder import MelDecoder, MelDecoderConfig
from inference.models.temporal_encoder import TemporalEncoder, TemporalEncoderConfig

DropWith = Literal["zeros", "noise"]


@dataclass(frozen=True)
class VarietySoundConfig:
    temporal: TemporalEncoderConfig = field(default_factory=TemporalEncoderConfig)
    acoustic: AcousticEncoderConfig = field(default_factory=AcousticEncoderConfig)
    background: BackgroundEncoderConfig = field(default_factory=BackgroundEncoderConfig)
    decoder: MelDecoderConfig = field(default_factory=MelDecoderConfig)

    def __post_init__(self) -> None:
        check(
            self.acoustic.n_mels == self.background.n_mels == self.decoder.n_mels,
            "varietysound: the encoders and the decoder must agree on n_mels",
        )

    @property
    def n_mels(self) -> int:
        return self.decoder.n_mels

    @property
    def mel_frames_per_video_frame(self) -> int:
        return self.decoder.upsampling


class VarietySound(nn.Module):
    def __init__(self, config: VarietySoundConfig) -> None:
        super().__init__()
        self.config = config
        self.temporal_encoder = TemporalEncoder(config.temporal)
        self.acoustic_encoder = AcousticEncoder(config.acoustic)
        self.background_encoder = BackgroundEncoder(config.background)
        decoder_input = config.temporal.output_dim + config.acoustic.output_dim + config.background.output_dim
        self.mel_decoder = MelDecoder(config.decoder, decoder_input)

    def forward(
        self,
        video_features: Tensor,
        reference_mel: Tensor,
        background_mel: Tensor | None = None,
        *,
        drop_temporal: bool = False,
        drop_timbre: bool = False,
        drop_with: DropWith = "zeros",
        generator: torch.Generator | None = None,
    ) -> Tensor:
        batch, frames, _ = video_features.shape
        if background_mel is None:  # inference default: the background encoder hears silence
            mel_frames = frames * self.config.mel_frames_per_video_frame
            background_mel = silent_mel(
                batch,
                self.config.n_mels,
                mel_frames,
                silence=self.config.background.silence,
                like=reference_mel,
            )
        temporal = self.temporal_encoder(video_features)  # (B, T, 8)
        timbre = self.acoustic_encoder(reference_mel)  # (B, 512)
        background = self.background_encoder(background_mel)  # (B, 16)
        if drop_temporal:
            temporal = _dropped(temporal, drop_with, generator)
        if drop_timbre:
            timbre = _dropped(timbre, drop_with, generator)
        encodings = torch.cat(
            [
                temporal,
                timbre.unsqueeze(1).expand(-1, frames, -1),
                background.unsqueeze(1).expand(-1, frames, -1),
            ],
            dim=-1,
        )  # (B, T, 536)
        return self.mel_decoder(encodings)  # (B, 80, 4T)


def _dropped(encoding: Tensor, drop_with: DropWith, generator: torch.Generator | None) -> Tensor:
    if drop_with == "zeros":
        return torch.zeros_like(encoding)
    if drop_with == "noise":
        noise = torch.randn(
            encoding.shape, generator=generator, device=generator.device if generator else "cpu"
        )
        return noise.to(device=encoding.device, dtype=encoding.dtype)
    raise ValueError(f"drop_with must be 'zeros' or 'noise', not {drop_with!r}")
