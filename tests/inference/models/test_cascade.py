"""The cascade baseline: RegNet (with its discriminator) then the SpeechSplit-style sound converter."""

from __future__ import annotations

import pytest
import torch

from inference.models import Cascade, build_model, generate
from inference.models.regnet import RegNetDiscriminator, RegNetDiscriminatorConfig
from inference.models.sound_converter import downsample_codes
from inference.training.config import load_train_config
from tests.inference.models.helpers import MEL_FRAMES, report


@pytest.fixture(scope="module")
def paper_cascade() -> Cascade:
    torch.manual_seed(0)
    return build_model("cascade").eval()  # type: ignore[return-value]


def test_regnet_generates_a_10_s_mel_from_video_features(paper_cascade: Cascade, video: torch.Tensor) -> None:
    count = report("RegNet generator", paper_cascade.regnet)
    with torch.no_grad():
        mel, before_postnet = paper_cascade.regnet(video)
    assert mel.shape == before_postnet.shape == (1, 80, MEL_FRAMES)
    assert 90_000_000 < count < 98_000_000, f"RegNet's generator has about 94 M parameters, not {count:,}"


def test_regnet_ignores_the_ground_truth_mel_at_inference(
    paper_cascade: Cascade, video: torch.Tensor, mel: torch.Tensor
) -> None:
    regnet = paper_cascade.regnet
    with torch.no_grad():
        torch.manual_seed(3)
        with_mel, _ = regnet(video, mel)
        torch.manual_seed(3)
        without, _ = regnet(video, None)
    assert torch.equal(with_mel, without), "the auxiliary ground-truth path is zeroed in eval mode"


def test_regnets_discriminator_scores_patches(video: torch.Tensor, mel: torch.Tensor) -> None:
    discriminator = RegNetDiscriminator(RegNetDiscriminatorConfig()).eval()
    report("RegNet discriminator", discriminator)
    with torch.no_grad():
        assert discriminator(mel, video).shape == (1, 1, 213)


def test_the_converter_keeps_the_length_and_takes_any_reference_length(
    paper_cascade: Cascade, mel: torch.Tensor
) -> None:
    report("sound converter", paper_cascade.converter)
    with torch.no_grad():
        assert paper_cascade.converter(mel, mel[..., :400]).shape == (1, 80, MEL_FRAMES)


def test_the_cascade_maps_video_and_reference_to_a_mel(
    paper_cascade: Cascade, video: torch.Tensor, mel: torch.Tensor
) -> None:
    report("cascade (RegNet + converter)", paper_cascade)
    out = generate(paper_cascade, video, mel, seed=1)
    assert out.shape == (1, 80, MEL_FRAMES) and torch.isfinite(out).all()
    assert torch.equal(out, generate(paper_cascade, video, mel, seed=1)), "a seed fixes RegNet's noise"


def test_the_cascade_has_no_ablation_switches(
    paper_cascade: Cascade, video: torch.Tensor, mel: torch.Tensor
) -> None:
    with pytest.raises(ValueError, match="cascade"):
        generate(paper_cascade, video, mel, variant="without_timbre")


def test_the_converters_timbre_comes_from_the_reference() -> None:
    torch.manual_seed(0)
    cascade = Cascade(load_train_config("cascade_tiny").model).eval()  # type: ignore[arg-type]
    source = torch.randn(1, 80, 172) - 5
    with torch.no_grad():
        a = cascade.converter(source, torch.randn(1, 80, 172) - 5)
        b = cascade.converter(source, torch.randn(1, 80, 172) - 2)
    assert not torch.allclose(a, b)


def test_codes_are_downsampled_by_8_and_repeated_back_to_every_frame() -> None:
    frames, neck = 20, 2
    outputs = torch.arange(frames, dtype=torch.float32)[None, :, None].expand(1, frames, 2 * neck)
    codes = downsample_codes(outputs, neck, 8)[0]
    assert codes.shape == (frames, 2 * neck)
    forward, backward = codes[:, 0].tolist(), codes[:, neck].tolist()
    assert forward == [7.0] * 8 + [15.0] * 8 + [19.0] * 4  # the end of each block (the last one short)
    assert backward == [0.0] * 8 + [8.0] * 8 + [16.0] * 4  # the start of each block
