"""What differs between the two systems during training, behind one small interface.

The training loop (``trainer.py``) is the same for both: forward the generator, take a discriminator
step, take a generator step. A ``System`` supplies the networks, the optimisers and the loss terms:

- ``VarietySoundSystem``: the generator of ``inference.models.varietysound`` reads the clip's video, its
  own mel as the timbre reference and its own mel as the background (the paper's training setup); the
  time-domain alignment and multi-window mel discriminators give equations 1-7. Either discriminator
  can be switched off (Table 7's ablations).
- ``CascadeSystem``: RegNet learns video -> mel against its discriminator, and the sound converter
  learns to reconstruct the *ground-truth* mel (SpeechSplit), both from the same batch, each with its
  own optimiser; no gradient crosses the stages (see ``inference.models.cascade``).

Validation reports ``mel_l1`` for both systems the same way: the full model at inference settings
(eval mode, the clip's own mel as reference, silent background) against the ground truth.
"""

from __future__ import annotations

import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from inference.models.cascade import Cascade, CascadeConfig
from inference.models.discriminators import MultiWindowMelDiscriminator, TimeDomainAlignmentDiscriminator
from inference.models.regnet import RegNetDiscriminator
from inference.models.varietysound import VarietySound, VarietySoundConfig
from inference.training import losses as L
from inference.training.config import (
    CascadeDiscriminators,
    CascadeLosses,
    OptimizerConfig,
    TrainConfig,
    VarietySoundDiscriminators,
    VarietySoundLosses,
)

Batch = dict[str, Tensor]  # "video": (B, T, 2048), "mel": (B, 80, 4T)
Losses = dict[str, Tensor]  # always with "total", the term that is backpropagated


class CompiledOrEager:
    """``torch.compile(module)`` that falls back to the eager module if compilation fails.

    The generators mix convolutions with LSTMs and numpy-planned resampling (graph breaks); a
    compiler error on some GPU or driver should cost speed, not the training run.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        with warnings.catch_warnings():  # importing the compiler stack warns about torch.jit
            warnings.simplefilter("ignore", DeprecationWarning)
            self.compiled: Callable[..., Any] | None = torch.compile(module)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # any compiler failure: run eagerly from now on
                warnings.warn(
                    f"torch.compile failed ({type(exc).__name__}: {exc}); running eagerly", stacklevel=2
                )
                self.compiled = None
        return self.module(*args, **kwargs)


def make_optimizer(parameters: Any, config: OptimizerConfig) -> Optimizer:
    kind = torch.optim.AdamW if config.name == "adamw" else torch.optim.Adam
    return kind(
        parameters, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay
    )


class System(nn.Module, metaclass=ABCMeta):
    """A generator (what checkpoints keep for inference) plus its training-only discriminators."""

    kind: str
    generator: nn.Module
    discriminators: nn.ModuleDict

    @abstractmethod
    def optimizers(self, config: TrainConfig) -> dict[str, list[Optimizer]]:
        """``{"generator": [...], "discriminator": [...]}``; the discriminator list may be empty."""

    @abstractmethod
    def forward_generator(self, batch: Batch) -> dict[str, Tensor]:
        """The generator's training-mode outputs, shared by the two steps."""

    @abstractmethod
    def discriminator_losses(self, batch: Batch, outputs: dict[str, Tensor]) -> Losses:
        """The discriminators' loss terms on real data and on ``outputs`` cut from their graph."""

    @abstractmethod
    def generator_losses(self, batch: Batch, outputs: dict[str, Tensor]) -> Losses:
        """The generator's loss terms, adversarial ones included."""

    @abstractmethod
    def infer(self, video: Tensor, reference_mel: Tensor) -> Tensor:
        """The generator at inference settings (the caller sets eval mode and no_grad)."""

    def validation_losses(self, batch: Batch) -> dict[str, float]:
        generated = self.infer(batch["video"], batch["mel"])
        return {"mel_l1": float(L.mel_l1(generated.float(), batch["mel"]))}

    def set_discriminators_trainable(self, trainable: bool) -> None:
        for parameter in self.discriminators.parameters():
            parameter.requires_grad_(trainable)

    def compile_generator(self) -> None:
        """Route the training forward through ``torch.compile`` (CUDA only; the caller decides)."""


class VarietySoundSystem(System):
    kind = "varietysound"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        assert isinstance(config.model, VarietySoundConfig)
        assert isinstance(config.discriminators, VarietySoundDiscriminators)
        assert isinstance(config.losses, VarietySoundLosses)
        self.losses = config.losses
        self.generator = VarietySound(config.model)
        self.discriminators = nn.ModuleDict()
        if config.losses.alignment_discriminator:
            self.discriminators["alignment"] = TimeDomainAlignmentDiscriminator(
                config.discriminators.alignment
            )
        if config.losses.mel_discriminator:
            self.discriminators["mel"] = MultiWindowMelDiscriminator(config.discriminators.mel)
        self._forward: Callable[..., Tensor] = self.generator

    def compile_generator(self) -> None:
        self._forward = CompiledOrEager(self.generator)

    def optimizers(self, config: TrainConfig) -> dict[str, list[Optimizer]]:
        groups = {"generator": [make_optimizer(self.generator.parameters(), config.optim.generator)]}
        groups["discriminator"] = (
            [make_optimizer(self.discriminators.parameters(), config.optim.discriminator)]
            if self.discriminators
            else []
        )
        return groups

    def forward_generator(self, batch: Batch) -> dict[str, Tensor]:
        # Training setup of the paper: reference and background are the target clip's own mel.
        return {"mel": self._forward(batch["video"], batch["mel"], batch["mel"])}  # (B, 80, 4T)

    def discriminator_losses(self, batch: Batch, outputs: dict[str, Tensor]) -> Losses:
        video, real, fake = batch["video"], batch["mel"], outputs["mel"].detach()
        terms: Losses = {}
        if "alignment" in self.discriminators:
            tdad = self.discriminators["alignment"]
            shifted, _ = L.time_shift(
                real, min_shift=self.losses.shift_min_frames, max_shift=self.losses.shift_max_frames
            )
            terms["alignment"] = L.alignment_discriminator_loss(
                tdad(real, video), tdad(fake, video), tdad(shifted, video)
            )
        if "mel" in self.discriminators:
            md = self.discriminators["mel"]
            real_scores, starts = md(real)
            fake_scores, _ = md(fake, starts)  # the same windows for real and generated
            terms["mel"] = L.mel_discriminator_loss(real_scores, fake_scores)
        terms["total"] = torch.stack(list(terms.values())).sum()
        return terms

    def generator_losses(self, batch: Batch, outputs: dict[str, Tensor]) -> Losses:
        video, real, fake = batch["video"], batch["mel"], outputs["mel"]
        mel_loss = L.mel_l1(fake, real)
        alignment = (
            self.discriminators["alignment"](fake, video) if "alignment" in self.discriminators else None
        )
        mel_scores = self.discriminators["mel"](fake)[0] if "mel" in self.discriminators else None
        adversarial = L.generator_adversarial(alignment, mel_scores) if self.discriminators else None
        total = L.varietysound_generator_loss(
            mel_loss, adversarial, lambda_mel=self.losses.lambda_mel, lambda_adv=self.losses.lambda_adv
        )
        terms: Losses = {"total": total, "mel_l1": mel_loss}
        if adversarial is not None:
            terms["adv"] = adversarial
        return terms

    def infer(self, video: Tensor, reference_mel: Tensor) -> Tensor:
        return self.generator(video, reference_mel)  # background silent, as at inference


class CascadeSystem(System):
    kind = "cascade"

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        assert isinstance(config.model, CascadeConfig)
        assert isinstance(config.discriminators, CascadeDiscriminators)
        assert isinstance(config.losses, CascadeLosses)
        self.losses = config.losses
        self.generator = Cascade(config.model)
        self.discriminators = nn.ModuleDict()
        if config.losses.discriminator:
            self.discriminators["regnet"] = RegNetDiscriminator(config.discriminators.regnet)
        self._regnet: Callable[..., tuple[Tensor, Tensor]] = self.generator.regnet
        self._converter: Callable[..., Tensor] = self.generator.converter

    def compile_generator(self) -> None:
        self._regnet = CompiledOrEager(self.generator.regnet)
        self._converter = CompiledOrEager(self.generator.converter)

    def optimizers(self, config: TrainConfig) -> dict[str, list[Optimizer]]:
        generator = [
            make_optimizer(self.generator.regnet.parameters(), config.optim.generator),
            make_optimizer(self.generator.converter.parameters(), config.optim.converter),
        ]
        discriminator = (
            [make_optimizer(self.discriminators.parameters(), config.optim.discriminator)]
            if self.discriminators
            else []
        )
        return {"generator": generator, "discriminator": discriminator}

    def forward_generator(self, batch: Batch) -> dict[str, Tensor]:
        video, real = batch["video"], batch["mel"]
        mel, before_postnet = self._regnet(video, real)  # (B, 80, 4T) each; auxiliary path on in training
        reconstructed = self._converter(real, real)  # (B, 80, 4T): SpeechSplit's self-reconstruction
        return {"mel": mel, "mel_before_postnet": before_postnet, "reconstructed": reconstructed}

    def discriminator_losses(self, batch: Batch, outputs: dict[str, Tensor]) -> Losses:
        d = self.discriminators["regnet"]
        loss = L.regnet_discriminator_loss(
            d(batch["mel"], batch["video"]), d(outputs["mel"].detach(), batch["video"])
        )
        return {"total": loss}

    def generator_losses(self, batch: Batch, outputs: dict[str, Tensor]) -> Losses:
        real = batch["mel"]
        fake_logits = (
            self.discriminators["regnet"](outputs["mel"], batch["video"]) if self.discriminators else None
        )
        regnet = L.regnet_generator_loss(
            outputs["mel"],
            outputs["mel_before_postnet"],
            real,
            fake_logits,
            lambda_mel=self.losses.lambda_mel,
            lambda_adv=self.losses.lambda_adv,
        )
        converter = L.converter_loss(outputs["reconstructed"], real)
        return {
            "total": regnet + self.losses.lambda_converter * converter,
            "regnet": regnet,
            "regnet_mse": L.regnet_mel_loss(outputs["mel"], outputs["mel_before_postnet"], real).detach(),
            "converter_mse": converter,
        }

    def infer(self, video: Tensor, reference_mel: Tensor) -> Tensor:
        return self.generator(video, reference_mel)

    def validation_losses(self, batch: Batch) -> dict[str, float]:
        terms = super().validation_losses(batch)
        coarse, _ = self.generator.regnet(batch["video"], None)
        terms["regnet_mel_l1"] = float(L.mel_l1(coarse.float(), batch["mel"]))
        return terms


def build_system(config: TrainConfig) -> System:
    """The training wrapper the config's system kind declares (``inference.systems``)."""
    from inference.systems import system_kind

    return system_kind(config.system).training().system(config)
