"""The CPU vocoder runtime: OpenVINO serves the pretrained HiFi-GAN with PyTorch's output, converts
once into its cache, rebuilds a damaged cache, and never reaches for the network."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
import torch

from inference.mel import HifiganMel
from inference.metrics.mcd import log_mel_from_wave, mcd
from inference.metrics.timbre import TimbreEncoder, cosine_similarity
from inference.models import Vocoder
from inference.models import hifigan_openvino as hov
from tests.inference.models.test_vocoder import real_clip


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("vocoder-cache")


@pytest.fixture(scope="module")
def torch_vocoder():
    return Vocoder(runtime="torch")


@pytest.fixture(scope="module")
def fast_vocoder(cache_dir):
    return Vocoder(cache_dir=cache_dir)  # auto, on the CPU


def short_mel(frames: int = 40, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, 80, frames)) * 2.0 - 5.0).astype(np.float32)


def test_auto_picks_openvino_on_the_cpu_and_names_it(fast_vocoder, torch_vocoder):
    assert fast_vocoder.runtime == "openvino" and fast_vocoder.precision == "f32"
    assert "OpenVINO" in fast_vocoder.describe() and "f32" in fast_vocoder.describe()
    assert torch_vocoder.runtime == "torch" and "PyTorch" in torch_vocoder.describe()
    # Same weights, same precision: the same vocoder for the ground-truth cache.
    assert fast_vocoder.key == torch_vocoder.key == "hifigan-universal-f32"


def test_openvino_matches_pytorch_on_any_length_and_batch(fast_vocoder, torch_vocoder):
    for frames in (1, 7, 40, 123):
        mel = short_mel(frames)
        expected, got = torch_vocoder(mel), fast_vocoder(mel)
        assert got.shape == expected.shape == (2, frames * 256) and got.dtype == np.float32
        assert float(np.abs(got - expected).max()) <= 1e-3


@pytest.mark.slow
def test_on_a_real_10_s_clip_the_waveform_and_the_metrics_are_the_same(fast_vocoder, torch_vocoder):
    """The issue's bar: max abs difference <= 1e-3 on the waveform, and MCD / mel to 3 decimals."""
    wave = real_clip()
    mel = HifiganMel()(torch.from_numpy(wave)).numpy()
    expected, got = torch_vocoder(mel), fast_vocoder(mel)
    diff = float(np.abs(got - expected).max())
    print(f"\nOpenVINO vs PyTorch on a real 10-s clip: max abs difference {diff:.2e}")
    assert diff <= 1e-3
    truth = log_mel_from_wave(wave)
    ours, theirs = mcd(log_mel_from_wave(got), truth), mcd(log_mel_from_wave(expected), truth)
    assert (round(ours.plain, 3), round(ours.dtw, 3)) == (round(theirs.plain, 3), round(theirs.dtw, 3))
    encoder = TimbreEncoder("cpu")
    reference = encoder.embed(wave)
    cosines = [cosine_similarity(encoder.embed(w), reference) for w in (got, expected)]
    assert round(cosines[0], 3) == round(cosines[1], 3)


def test_a_second_process_compiles_the_cached_model_instead_of_converting(
    cache_dir, fast_vocoder, monkeypatch
):
    folders = list((cache_dir / "openvino").iterdir())
    assert (
        len(folders) == 1
        and (folders[0] / "hifigan.xml").is_file()
        and (folders[0] / "hifigan.bin").is_file()
    )

    def no_conversion(self, generator):
        raise AssertionError("converted again although the cache holds the model")

    monkeypatch.setattr(hov.OpenvinoHifigan, "_convert", no_conversion)
    again = Vocoder(cache_dir=cache_dir)
    assert again.runtime == "openvino"
    assert float(np.abs(again(short_mel()) - fast_vocoder(short_mel())).max()) <= 1e-6


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong weights"])
def test_a_damaged_cached_model_is_rebuilt_not_used(tmp_path, torch_vocoder, damage, caplog):
    Vocoder(cache_dir=tmp_path)
    (folder,) = (tmp_path / "openvino").iterdir()
    weights = folder / "hifigan.bin"
    raw = bytearray(weights.read_bytes())
    if damage == "truncate":
        weights.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        (folder / "hifigan.xml").write_text("<net><layers>not a model")
    else:  # a well-formed file with other numbers: only the check against PyTorch can tell
        whole = len(raw) // 4 * 4
        values = np.frombuffer(bytes(raw[:whole]), dtype=np.float32).copy()
        values[::7] *= 1.5
        weights.write_bytes(values.tobytes() + bytes(raw[whole:]))
    with caplog.at_level(logging.WARNING, logger=hov.__name__):
        rebuilt = Vocoder(cache_dir=tmp_path)
    assert "rebuilding the cached OpenVINO HiFi-GAN" in caplog.text
    assert rebuilt.runtime == "openvino"
    assert float(np.abs(rebuilt(short_mel()) - torch_vocoder(short_mel())).max()) <= 1e-3
    fresh = Vocoder(cache_dir=tmp_path)  # the rebuilt cache is good again
    assert float(np.abs(fresh(short_mel()) - torch_vocoder(short_mel())).max()) <= 1e-3


def test_an_unwritable_cache_still_vocodes(tmp_path, torch_vocoder):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    vocoder = Vocoder(cache_dir=blocked)
    assert vocoder.runtime == "openvino"
    assert float(np.abs(vocoder(short_mel()) - torch_vocoder(short_mel())).max()) <= 1e-3


def test_without_openvino_auto_falls_back_to_pytorch_and_an_explicit_request_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(hov, "available", lambda: False)
    assert Vocoder(cache_dir=tmp_path).runtime == "torch"
    with pytest.raises(hov.RuntimeUnavailable, match="not installed"):
        Vocoder(runtime="openvino", cache_dir=tmp_path)


def test_bad_settings_are_refused_with_their_reason(tmp_path):
    with pytest.raises(ValueError, match="unknown vocoder runtime"):
        Vocoder(runtime="tensorrt", cache_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown vocoder precision"):
        Vocoder(precision="int8", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="needs the OpenVINO runtime"):
        Vocoder(runtime="torch", precision="bf16")


def test_bf16_is_a_different_vocoder_with_its_own_key(tmp_path, torch_vocoder):
    """bfloat16 trades exactness for speed: it must never share cached ground truth with f32."""
    draft = Vocoder(precision="bf16", cache_dir=tmp_path)
    if draft.precision != "bf16":
        pytest.skip("this CPU has no bfloat16: OpenVINO runs f32")
    assert draft.key == "hifigan-universal-bf16" != torch_vocoder.key
    assert "bf16" in draft.describe()
    diff = float(np.abs(draft(short_mel()) - torch_vocoder(short_mel())).max())
    assert 1e-4 < diff < hov.CHECK_TOLERANCE["bf16"]


def test_conversion_sends_no_telemetry(fast_vocoder):
    assert sys.modules.get("openvino_telemetry") is None, "OpenVINO's usage telemetry was imported"
