"""VarietySound's generator at the paper's sizes (Table 3): shapes, parameter counts, ablation switches."""

from __future__ import annotations

import math

import pytest
import torch

from inference.models import VarietySound, VarietySoundConfig, build_model, generate
from inference.models.acoustic_encoder import AcousticEncoder, AcousticEncoderConfig
from inference.models.background_encoder import (
    BackgroundEncoder,
    BackgroundEncoderConfig,
    energy_mask,
    frame_energy,
)
from inference.models.mel_decoder import MelDecoder, MelDecoderConfig
from inference.models.temporal_encoder import TemporalEncoder, TemporalEncoderConfig
from inference.training.config import load_train_config
from tests.inference.models.helpers import MEL_FRAMES, VIDEO_FRAMES, report

SILENCE = math.log(1e-5)


@pytest.fixture(scope="module")
def paper_model() -> VarietySound:
    torch.manual_seed(0)
    return build_model("varietysound").eval()  # type: ignore[return-value]


@pytest.fixture(scope="module")
def tiny_model() -> VarietySound:
    torch.manual_seed(0)
    return VarietySound(load_train_config("varietysound_tiny").model).eval()  # type: ignore[arg-type]


def test_the_temporal_encoder_squeezes_each_video_frame_to_8_values(video: torch.Tensor) -> None:
    encoder = TemporalEncoder(TemporalEncoderConfig()).eval()
    count = report("temporal encoder", encoder)
    with torch.no_grad():
        assert encoder(video).shape == (1, VIDEO_FRAMES, 8)
    assert 17_000_000 < count < 18_000_000, count


def test_the_acoustic_encoder_gives_one_512_value_timbre_vector(mel: torch.Tensor) -> None:
    encoder = AcousticEncoder(AcousticEncoderConfig())
    count = report("acoustic encoder (5 SGAUs + BiLSTM)", encoder)
    assert len(encoder.units) == 5
    with torch.no_grad():
        assert encoder.eval()(mel).shape == (1, 512)
        assert encoder.train()(mel[..., :300]).shape == (1, 512)  # any reference length; R on in training
    assert 26_000_000 < count < 27_000_000, count


def test_the_background_encoder_gives_one_small_vector(mel: torch.Tensor) -> None:
    encoder = BackgroundEncoder(BackgroundEncoderConfig()).eval()
    report("background encoder", encoder)
    with torch.no_grad():
        assert encoder(mel).shape == (1, 16)


def test_the_mel_decoder_upsamples_215_video_frames_to_860_mel_frames() -> None:
    decoder = MelDecoder(MelDecoderConfig(), input_dim=8 + 512 + 16).eval()
    count = report("mel decoder", decoder)
    with torch.no_grad():
        assert decoder(torch.randn(1, VIDEO_FRAMES, 536)).shape == (1, 80, MEL_FRAMES)
    assert len(decoder.blocks) == 4
    assert decoder.blocks[0].attention.num_heads == 2
    assert 21_000_000 < count < 22_500_000, count


def test_the_generator_maps_video_and_reference_to_a_10_s_mel(
    paper_model: VarietySound, video: torch.Tensor, mel: torch.Tensor
) -> None:
    count = report("VarietySound generator", paper_model)
    with torch.no_grad():
        out = paper_model(video, mel)
    assert out.shape == (1, 80, MEL_FRAMES)
    assert torch.isfinite(out).all()
    assert 60_000_000 < count < 70_000_000, count


def test_energy_masking_silences_the_frames_louder_than_the_median() -> None:
    mel = torch.full((1, 80, 10), SILENCE)
    loudness = torch.arange(10, dtype=torch.float32)  # frame t is t nats above silence
    mel = mel + loudness
    masked = energy_mask(mel)
    energy = frame_energy(mel)[0]
    loud = energy > energy.median()
    assert loud.sum() == 5
    assert torch.all(masked[0][:, loud] == SILENCE)
    assert torch.equal(masked[0][:, ~loud], mel[0][:, ~loud])


def test_energy_masking_leaves_a_silent_clip_silent() -> None:
    silent = torch.full((2, 80, 50), SILENCE)
    assert torch.equal(energy_mask(silent), silent)


def test_dropping_timbre_makes_the_output_independent_of_the_reference(
    tiny_model: VarietySound, video: torch.Tensor, mel: torch.Tensor
) -> None:
    other = mel.flip(-1) + 3.0
    with torch.no_grad():
        assert not torch.allclose(tiny_model(video, mel), tiny_model(video, other))
        dropped = tiny_model(video, mel, drop_timbre=True)
        assert torch.equal(dropped, tiny_model(video, other, drop_timbre=True))


def test_dropping_temporal_information_makes_the_output_independent_of_the_video(
    tiny_model: VarietySound, video: torch.Tensor, mel: torch.Tensor
) -> None:
    other = torch.rand_like(video)
    with torch.no_grad():
        assert not torch.allclose(tiny_model(video, mel), tiny_model(other, mel))
        assert torch.equal(
            tiny_model(video, mel, drop_temporal=True), tiny_model(other, mel, drop_temporal=True)
        )


def test_the_background_is_silent_unless_asked_for(
    tiny_model: VarietySound, video: torch.Tensor, mel: torch.Tensor
) -> None:
    with torch.no_grad():
        default = tiny_model(video, mel)
        silent = tiny_model(video, mel, torch.full_like(mel, SILENCE))
        with_background = tiny_model(video, mel, mel)
    assert torch.equal(default, silent)
    assert not torch.allclose(default, with_background)
    assert torch.equal(generate(tiny_model, video, mel, variant="with_background"), with_background)


def test_noise_instead_of_zeros_is_reproducible_with_a_seed(
    tiny_model: VarietySound, video: torch.Tensor, mel: torch.Tensor
) -> None:
    from inference.models import Variant

    noisy = Variant(drop_timbre=True, drop_with="noise")
    a = generate(tiny_model, video, mel, variant=noisy, seed=5)
    b = generate(tiny_model, video, mel, variant=noisy, seed=5)
    zeros = generate(tiny_model, video, mel, variant="without_timbre")
    assert torch.equal(a, b) and not torch.allclose(a, zeros)


def test_generate_batches_and_broadcasts_one_reference_over_many_videos(
    tiny_model: VarietySound, mel: torch.Tensor
) -> None:
    videos = torch.rand(5, 43, 2048, generator=torch.Generator().manual_seed(3))
    reference = mel[0, :, :172]
    together = generate(tiny_model, videos, reference, batch_size=2)
    assert together.shape == (5, 80, 172)
    one = generate(tiny_model, videos[3].numpy(), reference.numpy())
    torch.testing.assert_close(together[3:4], one, atol=1e-5, rtol=1e-4)


def test_generate_refuses_an_unknown_variant(
    tiny_model: VarietySound, video: torch.Tensor, mel: torch.Tensor
) -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        generate(tiny_model, video, mel, variant="without_everything")


def test_the_config_refuses_encoders_that_disagree_on_mel_bins() -> None:
    from inference.models import ConfigError
    from inference.models.config_io import from_dict

    with pytest.raises(ConfigError, match="n_mels"):
        from_dict(VarietySoundConfig, {"decoder": {"n_mels": 64}})
