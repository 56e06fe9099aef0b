"""The cascade baseline of the paper (Appendix C): RegNet, then a SpeechSplit-style sound converter.

RegNet turns the video into a mel with whatever timbre it learnt for the category; the converter then
re-voices that mel with the reference's timbre. Both stages work in the HiFi-GAN mel format, so the
cascade's output goes to the same vocoder as VarietySound's.

How the two stages are trained (``inference.training``): on the same clips and in the same loop, but
with separate losses and optimizers, as the two official implementations were trained separately.
RegNet learns video -> ground-truth mel adversarially; the converter learns to reconstruct
*ground-truth* mels (SpeechSplit's self-reconstruction), never RegNet's outputs, so no gradient
crosses between the stages and training them jointly equals training them one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from inference.models.config_io import check
from inference.models.regnet import RegNetConfig, RegNetGenerator
from inference.models.sound_converter import SoundConverter, SoundConverterConfig


@dataclass(frozen=True)
class CascadeConfig:
    regnet: RegNetConfig = field(default_factory=RegNetConfig)
    converter: SoundConverterConfig = field(default_factory=SoundConverterConfig)

    def __post_init__(self) -> None:
        check(self.regnet.n_mels == self.converter.n_mels, "cascade: the two stages must agree on n_mels")

    @property
    def n_mels(self) -> int:
        return self.regnet.n_mels

    @property
    def mel_frames_per_video_frame(self) -> int:
        return 4  # RegNet's decoder: two stride-2 transposed convolutions


class Cascade(nn.Module):
    def __init__(self, config: CascadeConfig) -> None:
        super().__init__()
        self.config = config
        self.regnet = RegNetGenerator(config.regnet)
        self.converter = SoundConverter(config.converter)

    def forward(
        self, video_features: Tensor, reference_mel: Tensor, *, generator: torch.Generator | None = None
    ) -> Tensor:
        coarse, _ = self.regnet(video_features, None, generator=generator)  # (B, 80, 4T), category timbre
        return self.converter(coarse, reference_mel)  # (B, 80, 4T), the reference's timbre
