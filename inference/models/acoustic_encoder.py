"""VarietySound's acoustic encoder (Figure 3(c), Appendix A, Table 3): the timbre of the reference.

Five self-gated acoustic units (SGAU), then a 2-layer BiLSTM (256 per direction) whose last layer's
final hidden states (forward and backward, 512 values) are the timbre vector, later repeated over
every video frame. Each SGAU follows equations 8 and 9 of the paper::

    x_o = R[ tanh(W_s * c_i + V_i * x_i)  (.)  sigmoid(W_o * c_i + V_i * x_i) ]
    c_o = R[ W_s * c_i ]

with the input gate ``V_i`` = Conv1D k5 512 -> Conv1D k7 512 -> InstanceNorm, the output gate
``W_o`` = Conv1D k3 512 -> GroupNorm and the skip gate ``W_s`` = Conv1D k5 512 -> GroupNorm. The first
unit receives the reference mel on both inputs ("self-gated").

Choices where the paper is silent:

- no activation between the input gate's two convolutions (the equations write ``V_i *`` as one
  operator and the text names none);
- GroupNorm with 32 groups (16 channels a group, SpeechSplit's ``chs_grp``), InstanceNorm affine;
- the two outputs of a unit share one draw of R, so that ``x_o`` and ``c_o`` stay frame-aligned when
  the next unit adds their convolutions; R is active in training only (``resampling.py``);
- the BiLSTM reads the last unit's feature output ``x_o``; its condition output is unused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from inference.models.config_io import check
from inference.models.resampling import ResamplingConfig, plan_resampling


@dataclass(frozen=True)
class AcousticEncoderConfig:
    n_mels: int = 80
    sgau_layers: int = 5
    channels: int = 512  # input, output and skip gates: Table 3 gives 512 for each
    input_gate_kernels: tuple[int, int] = (5, 7)
    output_gate_kernel: int = 3
    skip_gate_kernel: int = 5
    group_norm_groups: int = 32
    lstm_layers: int = 2
    lstm_hidden: int = 256
    resampling: ResamplingConfig = field(default_factory=ResamplingConfig)

    def __post_init__(self) -> None:
        kernels = (*self.input_gate_kernels, self.output_gate_kernel, self.skip_gate_kernel)
        check(all(k % 2 == 1 for k in kernels), "acoustic encoder: kernels must be odd (length-preserving)")
        check(self.channels % self.group_norm_groups == 0, "acoustic encoder: channels % groups != 0")
        check(self.sgau_layers >= 1, "acoustic encoder: needs at least one SGAU")

    @property
    def output_dim(self) -> int:
        return 2 * self.lstm_hidden


def _conv(in_channels: int, out_channels: int, kernel: int) -> nn.Conv1d:
    return nn.Conv1d(in_channels, out_channels, kernel, padding=kernel // 2)


class SelfGatedAcousticUnit(nn.Module):
    """One SGAU (equations 8-9); ``forward`` takes R's plan so that both outputs share it."""

    def __init__(self, in_channels: int, config: AcousticEncoderConfig) -> None:
        super().__init__()
        self.resampling = config.resampling
        c = config.channels
        k1, k2 = config.input_gate_kernels
        self.input_gate = nn.Sequential(
            _conv(in_channels, c, k1), _conv(c, c, k2), nn.InstanceNorm1d(c, affine=True)
        )
        self.output_gate = nn.Sequential(
            _conv(in_channels, c, config.output_gate_kernel), nn.GroupNorm(config.group_norm_groups, c)
        )
        self.skip_gate = nn.Sequential(
            _conv(in_channels, c, config.skip_gate_kernel), nn.GroupNorm(config.group_norm_groups, c)
        )

    def forward(self, x: Tensor, c: Tensor, resample: bool) -> tuple[Tensor, Tensor]:
        v = self.input_gate(x)  # (B, C_in, T) -> (B, 512, T)
        skip = self.skip_gate(c)  # (B, 512, T)
        gated = torch.tanh(skip + v) * torch.sigmoid(self.output_gate(c) + v)  # (B, 512, T)
        if not resample:
            return gated, skip
        plan = plan_resampling(x.shape[0], x.shape[-1], self.resampling, device=x.device)
        return plan.apply(gated), plan.apply(skip)  # (B, 512, T) each, time scrambled alike


class AcousticEncoder(nn.Module):
    def __init__(self, config: AcousticEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.units = nn.ModuleList(
            SelfGatedAcousticUnit(config.n_mels if i == 0 else config.channels, config)
            for i in range(config.sgau_layers)
        )
        self.lstm = nn.LSTM(
            config.channels, config.lstm_hidden, config.lstm_layers, batch_first=True, bidirectional=True
        )

    def forward(self, reference_mel: Tensor) -> Tensor:
        x = c = reference_mel  # (B, 80, T_ref): the same vector on both inputs of the first unit
        for unit in self.units:
            x, c = unit(x, c, resample=self.training)  # (B, 512, T_ref) each
        _, (hidden, _) = self.lstm(x.transpose(1, 2))  # hidden: (layers * 2, B, 256)
        return torch.cat([hidden[-2], hidden[-1]], dim=-1)  # (B, 512): last layer, both directions
