"""Losses as pure functions: VarietySound's equations 1-7, RegNet's and SpeechSplit's objectives.

VarietySound (paper, "Training Losses"), with m the real mel, m^ the generated one, v the video:

- (2) ``L_mel = ||m^ - m||_1``                                         -> ``mel_l1``
- (3) ``L_adv = E[(1 - D_t(m^|v))^2 + (1 - D_m(m^))^2]``              -> ``generator_adversarial``
- (1) ``L_G = lambda_m L_mel + lambda_a L_adv``                        -> ``varietysound_generator_loss``
- (4-6) ``L_Dt = E[(1 - D_t(m|v))^2] + E[D_t(m^|v)^2 + D_t(S[m]|v)^2]`` -> ``alignment_discriminator_loss``
- (7) ``L_Dm = E[(1 - D_m(m))^2 + D_m(m^)^2]``                         -> ``mel_discriminator_loss``

Readings of the notation: ``||.||_1`` is the mean absolute error over mel cells; ``||.||_2`` in
equations 3-7 is read as the least-squares GAN objective (mean of squares), the form of the
discriminators the paper builds on (SyntaSpeech's multi-window discriminator is trained with it). A
multi-window discriminator's terms are summed over its windows.

``S[.]`` (equation 6) is a time shift. Equation 6 writes it on the generated mel but the text says
"a generated sample of the generator and a real sample after time-shifting": we shift the real mel,
as the issue specifies, so the discriminator must reject real sound that is merely misplaced in time.
``time_shift`` rolls each mel circularly by a random number of frames in
``[min_shift, frames - min_shift]``: the content is intact, the alignment to the video is not.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def mel_l1(generated: Tensor, real: Tensor) -> Tensor:
    """Equation 2."""
    return F.l1_loss(generated, real)


def _real(score: Tensor) -> Tensor:
    return (1.0 - score).square().mean()


def _fake(score: Tensor) -> Tensor:
    return score.square().mean()


def generator_adversarial(alignment_fake: Tensor | None, mel_fake: list[Tensor] | None) -> Tensor:
    """Equation 3; a disabled discriminator (None) contributes nothing (the Table 7 ablations)."""
    terms = []
    if alignment_fake is not None:
        terms.append(_real(alignment_fake))
    if mel_fake is not None:
        terms.extend(_real(score) for score in mel_fake)
    if not terms:
        raise ValueError("generator_adversarial needs at least one discriminator's scores")
    return torch.stack(terms).sum()


def varietysound_generator_loss(
    mel_loss: Tensor, adversarial: Tensor | None, *, lambda_mel: float, lambda_adv: float
) -> Tensor:
    """Equation 1 (without an adversarial term when both discriminators are off)."""
    total = lambda_mel * mel_loss
    return total if adversarial is None else total + lambda_adv * adversarial


def alignment_discriminator_loss(real: Tensor, fake: Tensor, shifted: Tensor) -> Tensor:
    """Equations 4-6: real pairs toward 1; generated mels and time-shifted real mels toward 0."""
    return _real(real) + _fake(fake) + _fake(shifted)


def mel_discriminator_loss(real: list[Tensor], fake: list[Tensor]) -> Tensor:
    """Equation 7, summed over the windows of the multi-window discriminator."""
    return torch.stack([_real(r) + _fake(f) for r, f in zip(real, fake, strict=True)]).sum()


def time_shift(
    mel: Tensor,
    *,
    min_shift: int,
    max_shift: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """S[.]: roll each (80, F) mel of a batch by its own random shift; returns (shifted, shifts (B,)).

    Shifts lie in ``[min_shift, max_shift]`` (default ``F - min_shift``); a roll by ``s`` moves frame
    ``t`` to ``(t + s) mod F``. ``min_shift`` is clamped so that a short crop still gets a shift >= 1.
    """
    batch, frames = mel.shape[0], mel.shape[-1]
    low = max(1, min(min_shift, frames // 2))
    high = frames - low if max_shift is None else max(low, min(max_shift, frames - 1))
    shifts = torch.randint(low, high + 1, (batch,), generator=generator)
    index = (torch.arange(frames).unsqueeze(0) - shifts.unsqueeze(1)) % frames  # (B, F): source of each frame
    index = index.to(mel.device).unsqueeze(1).expand(-1, mel.shape[1], -1)
    return mel.gather(2, index), shifts


def regnet_mel_loss(mel: Tensor, mel_before_postnet: Tensor, real: Tensor) -> Tensor:
    """RegNet's reconstruction term: MSE after and before the postnet."""
    return F.mse_loss(mel, real) + F.mse_loss(mel_before_postnet, real)


def bce_gan(logits: Tensor, is_real: bool) -> Tensor:
    """RegNet's GAN loss, ``BCELoss(sigmoid(logits), label)`` written in its stable logits form."""
    target = torch.ones_like(logits) if is_real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def regnet_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """RegNet: the mean of the real and fake BCE terms."""
    return 0.5 * (bce_gan(real_logits, True) + bce_gan(fake_logits, False))


def regnet_generator_loss(
    mel: Tensor,
    mel_before_postnet: Tensor,
    real: Tensor,
    fake_logits: Tensor | None,
    *,
    lambda_mel: float,
    lambda_adv: float,
) -> Tensor:
    """RegNet: ``lambda_mel * MSE + GAN``; no GAN term when its discriminator is off."""
    total = lambda_mel * regnet_mel_loss(mel, mel_before_postnet, real)
    return total if fake_logits is None else total + lambda_adv * bce_gan(fake_logits, True)


def converter_loss(reconstructed: Tensor, real: Tensor) -> Tensor:
    """SpeechSplit's identity-mapping loss: MSE between the reconstruction and the input mel."""
    return F.mse_loss(reconstructed, real)
