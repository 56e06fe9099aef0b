"""The random resampling transform R: segment, stretch or shrink each segment, swap segments.

VarietySound (section "Timbre Information", Appendix A) applies R inside every self-gated acoustic
unit to destroy the temporal structure of the reference audio, so that only timbre survives to the
acoustic encoder's output. SpeechSplit applies the same kind of transform, without the swapping, to
the input of its content encoder. One implementation serves both:

1. cut the sequence into consecutive segments of ``min_segment`` to ``max_segment - 1`` frames
   (SpeechSplit: 19-31);
2. resample each segment by a factor drawn from ``[min_scale, max_scale)`` (SpeechSplit: [0.5, 1.5))
   with linear interpolation: output frame ``j`` of a segment reads source position ``j / factor``,
   so a factor of 0.5 shrinks the segment to half its frames and 1.5 stretches it;
3. if ``swap``, shuffle the order of the segments (VarietySound's "random swapping");
4. concatenate, repeat from the first resampled segment while shorter than the input, and cut to
   the input length.

Step 4 is our choice: SpeechSplit zero-pads to a fixed maximum length instead. Keeping the length
lets the two outputs of a self-gated unit (which share one draw of R so that they stay aligned for
the next unit's sum) and the padding-free LSTM that follows see sequences of the input's length.

Interpolation never crosses a segment boundary. R is a training-time disruption: modules apply it
only in training mode, as SpeechSplit's ``InterpLnr`` does, so inference is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from inference.models.config_io import check


@dataclass(frozen=True)
class ResamplingConfig:
    min_segment: int = 19
    max_segment: int = 32  # exclusive, as SpeechSplit's randint
    min_scale: float = 0.5
    max_scale: float = 1.5  # exclusive
    swap: bool = True

    def __post_init__(self) -> None:
        check(1 <= self.min_segment < self.max_segment, "resampling: need 1 <= min_segment < max_segment")
        check(0.0 < self.min_scale <= self.max_scale, "resampling: need 0 < min_scale <= max_scale")


@dataclass(frozen=True)
class ResamplingPlan:
    """Where each output frame reads: ``(1 - weight) * x[low] + weight * x[high]``, all (B, T)."""

    low: Tensor
    high: Tensor
    weight: Tensor

    def apply(self, x: Tensor) -> Tensor:
        """(B, C, T_in) -> (B, C, T) with the plan's T (the input length when planned for it)."""
        channels = x.shape[1]
        low = self.low.unsqueeze(1).expand(-1, channels, -1)
        high = self.high.unsqueeze(1).expand(-1, channels, -1)
        weight = self.weight.unsqueeze(1).to(x.dtype)
        return torch.lerp(x.gather(2, low), x.gather(2, high), weight)


def _positions_for_one(length: int, config: ResamplingConfig, rng: np.random.Generator) -> np.ndarray:
    """(length, 3): low index, high index, weight for one sequence."""
    segments = []
    start = 0
    while start < length:
        seg_len = min(int(rng.integers(config.min_segment, config.max_segment)), length - start)
        factor = float(rng.uniform(config.min_scale, config.max_scale))
        n_out = int(np.floor((seg_len - 1) * factor)) + 1  # output frames j with j / factor <= seg_len - 1
        position = np.arange(n_out) / factor
        low = np.minimum(np.floor(position), seg_len - 1)
        high = np.minimum(low + 1, seg_len - 1)  # stays inside the segment
        segments.append(np.stack([start + low, start + high, position - low], axis=1))
        start += seg_len
    if config.swap:
        segments = [segments[i] for i in rng.permutation(len(segments))]
    plan = np.concatenate(segments)
    while len(plan) < length:  # shrunk overall: keep reading the resampled sequence from its start
        plan = np.concatenate([plan, plan])
    return plan[:length]


def plan_resampling(
    batch: int,
    length: int,
    config: ResamplingConfig,
    *,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> ResamplingPlan:
    """Draw one independent R per sequence of a batch of ``length``-frame sequences.

    The draws come from torch's RNG (``generator`` or the global one), so ``torch.manual_seed``
    makes them reproducible; the index arithmetic runs in numpy, where small per-segment arrays are
    cheap, and only the final (B, T) plan moves to ``device``.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    rng = np.random.default_rng(seed)
    plans = np.stack([_positions_for_one(length, config, rng) for _ in range(batch)])  # (B, T, 3)
    as_tensor = torch.from_numpy(plans).to(device)
    return ResamplingPlan(
        low=as_tensor[..., 0].long(), high=as_tensor[..., 1].long(), weight=as_tensor[..., 2].float()
    )


def random_resample(x: Tensor, config: ResamplingConfig, generator: torch.Generator | None = None) -> Tensor:
    """Apply a fresh R to (B, C, T): the pure-function form of ``RandomResampling``."""
    return plan_resampling(x.shape[0], x.shape[-1], config, device=x.device, generator=generator).apply(x)


class RandomResampling(nn.Module):
    """R as a module: active in training mode, the identity in eval mode."""

    def __init__(self, config: ResamplingConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        return random_resample(x, self.config)  # (B, C, T) -> (B, C, T)
