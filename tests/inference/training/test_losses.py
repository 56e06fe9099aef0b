"""The losses are pure functions: equations 1-7 of the paper, RegNet's and SpeechSplit's terms."""

from __future__ import annotations

import torch

from inference.training import losses as L


def test_the_time_shift_rolls_each_mel_by_its_reported_shift() -> None:
    mel = torch.arange(3 * 2 * 100, dtype=torch.float32).reshape(3, 2, 100)
    shifted, shifts = L.time_shift(mel, min_shift=10, generator=torch.Generator().manual_seed(0))
    assert shifted.shape == mel.shape
    for i in range(3):
        s = int(shifts[i])
        assert 10 <= s <= 90
        assert torch.equal(shifted[i], torch.roll(mel[i], s, dims=-1))
        assert not torch.equal(shifted[i], mel[i]), "a shifted negative must not be the aligned real mel"


def test_the_time_shift_keeps_a_minimum_on_short_crops_and_respects_a_maximum() -> None:
    mel = torch.randn(64, 80, 20)
    _, shifts = L.time_shift(mel, min_shift=43, generator=torch.Generator().manual_seed(1))
    assert shifts.min() >= 1 and shifts.max() <= 19
    _, bounded = L.time_shift(torch.randn(64, 80, 860), min_shift=43, max_shift=50)
    assert bounded.min() >= 43 and bounded.max() <= 50


def test_a_perfect_alignment_discriminator_has_zero_loss_and_fools_nobody() -> None:
    ones, zeros = torch.ones(2, 1, 10), torch.zeros(2, 1, 10)
    assert L.alignment_discriminator_loss(real=ones, fake=zeros, shifted=zeros) == 0
    assert (
        L.alignment_discriminator_loss(real=zeros, fake=ones, shifted=ones) == 3
    )  # eq. 5 + both terms of eq. 6
    assert L.generator_adversarial(zeros, None) == 1  # eq. 3: the generator wants D_t(m^|v) = 1


def test_the_mel_discriminator_loss_sums_its_windows() -> None:
    real = [torch.ones(2, 1)] * 3
    fake = [torch.full((2, 1), 0.5)] * 3
    assert torch.isclose(L.mel_discriminator_loss(real, fake), torch.tensor(3 * 0.25))
    assert torch.isclose(L.generator_adversarial(None, fake), torch.tensor(3 * 0.25))


def test_the_generator_loss_weighs_mel_and_adversarial_terms() -> None:
    generated, real = torch.zeros(1, 80, 8), torch.ones(1, 80, 8)
    mel = L.mel_l1(generated, real)
    assert mel == 1
    total = L.varietysound_generator_loss(mel, torch.tensor(0.5), lambda_mel=10000.0, lambda_adv=1.0)
    assert total == 10000.5
    assert L.varietysound_generator_loss(mel, None, lambda_mel=10000.0, lambda_adv=1.0) == 10000


def test_regnets_losses() -> None:
    real = torch.zeros(1, 80, 8)
    assert L.regnet_mel_loss(real + 1, real + 2, real) == 1 + 4
    logits = torch.full((1, 1, 5), 20.0)
    assert L.bce_gan(logits, True) < 1e-6 and L.bce_gan(logits, False) > 19
    total = L.regnet_generator_loss(real + 1, real + 1, real, logits, lambda_mel=10.0, lambda_adv=1.0)
    assert torch.isclose(total, torch.tensor(20.0), atol=1e-5)
    assert torch.isclose(L.regnet_discriminator_loss(logits, -logits), torch.tensor(0.0), atol=1e-6)


def test_the_converter_reconstructs_with_mse() -> None:
    assert L.converter_loss(torch.zeros(1, 80, 4), torch.full((1, 80, 4), 2.0)) == 4
