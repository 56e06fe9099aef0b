"""The time-domain alignment and multi-window mel discriminators at the paper's sizes."""

from __future__ import annotations

import torch

from inference.models.discriminators import (
    AlignmentDiscriminatorConfig,
    MelDiscriminatorConfig,
    MultiWindowMelDiscriminator,
    TimeDomainAlignmentDiscriminator,
)
from tests.inference.models.helpers import report


def test_the_alignment_discriminator_scores_patches_of_a_mel_given_its_video(
    video: torch.Tensor, mel: torch.Tensor
) -> None:
    tdad = TimeDomainAlignmentDiscriminator(AlignmentDiscriminatorConfig()).eval()
    report("time-domain alignment discriminator", tdad)
    convs = [m for m in tdad.convs if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [512, 512, 512, 1] and all(c.kernel_size == (4,) for c in convs)
    assert len([m for m in tdad.convs if isinstance(m, torch.nn.BatchNorm1d)]) == 3  # none after the last
    upsample = [m for m in tdad.video_upsample if isinstance(m, torch.nn.ConvTranspose1d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in upsample] == [(1024, (4,), (2,))] * 2
    with torch.no_grad():
        scores = tdad(mel, video)
    assert scores.shape[:2] == (1, 1) and scores.shape[2] > 100
    assert ((scores > 0) & (scores < 1)).all(), "a sigmoid ends the discriminator"


def test_the_mel_discriminator_judges_three_windows_at_the_same_place_for_real_and_fake(
    mel: torch.Tensor,
) -> None:
    md = MultiWindowMelDiscriminator(MelDiscriminatorConfig()).eval()
    report("multi-window mel discriminator", md)
    assert len(md.discriminators) == 3
    with torch.no_grad():
        real, starts = md(mel)
        fake, same = md(mel + 1.0, starts)
    assert [s.shape for s in real] == [(1, 1)] * 3 and [s.shape for s in fake] == [(1, 1)] * 3
    assert same == starts
    assert all(0 <= s <= 860 - w for s, w in zip(starts, (32, 64, 128), strict=True))
    convs = [m for m in md.discriminators[0].convs if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3


def test_the_mel_discriminator_skips_windows_longer_than_the_mel() -> None:
    md = MultiWindowMelDiscriminator(MelDiscriminatorConfig(windows=(32, 64, 128))).eval()
    with torch.no_grad():
        scores, starts = md(torch.randn(2, 80, 100))
    assert len(scores) == 2 and starts[2] is None
