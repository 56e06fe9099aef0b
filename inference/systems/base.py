"""What every system under evaluation is, to the rest of the platform: one ``SystemKind``.

A kind says what it consumes (video features, a reference mel, a background mel), what it puts out
(a mel for the vocoder, a waveform, or nothing: an imported system's outputs come from elsewhere),
its inference-time variants, the role its checkpoints play by default, and how to build, run and train
its network. This module imports no torch, and neither does a kind's module at import time (networks
are imported inside the methods), so the web process can list kinds, validate a run's spec and fill
form choices without loading a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from torch import Generator, Tensor, nn

Output = Literal["mel", "waveform", "none"]
Input = Literal["video_features", "reference_mel", "background_mel"]
DropWith = Literal["zeros", "noise"]


@dataclass(frozen=True)
class Variant:
    """An inference-time configuration of a system (for VarietySound: paper Appendix E, Table 8)."""

    drop_temporal: bool = False
    drop_timbre: bool = False
    drop_with: DropWith = "zeros"
    background: bool = False  # feed the background encoder real audio instead of silence


DEFAULT_VARIANTS: Mapping[str, Variant] = MappingProxyType({"proposed": Variant()})


@dataclass(frozen=True)
class TrainingParts:
    """The config dataclasses a training YAML of this kind holds, and its training wrapper."""

    model: type
    discriminators: type
    losses: type
    system: type  # an inference.training.systems.System subclass


class SystemKind:
    """One kind of system. Subclass it in a module of ``inference/systems/`` and set ``KIND`` there to
    an instance: the registry (``inference.systems``) finds it; nothing else needs an edit."""

    name: ClassVar[str]
    label: ClassVar[str]
    output: ClassVar[Output]
    consumes: ClassVar[frozenset[Input]] = frozenset()
    variants: ClassVar[Mapping[str, Variant]] = DEFAULT_VARIANTS
    role: ClassVar[str] = ""  # the checkpoint role of a trained model of this kind ("proposed", "baseline")
    timbre_blind: ClassVar[bool] = False  # generates without a reference: its "timbre" is not steered

    @property
    def generates(self) -> bool:
        return self.output != "none"

    @property
    def trainable(self) -> bool:
        return self.generates

    def network(self) -> tuple[type[nn.Module], type]:
        """The network class and its config dataclass."""
        raise NotImplementedError(f"{self.name} has no network")

    def forward(
        self,
        model: nn.Module,
        video: Tensor,
        reference: Tensor,
        background: Tensor | None,
        *,
        variant: Variant,
        generator: Generator | None,
    ) -> Tensor:
        """One batch through the network in eval mode: (B, T, 2048) video features and (B, 80, F')
        reference mels -> (B, 80, 4T) mels (output "mel") or (B, samples) waveforms ("waveform")."""
        raise NotImplementedError(f"{self.name} generates nothing")

    def training(self) -> TrainingParts:
        raise NotImplementedError(f"{self.name} is not trained by this platform")

    def check_variant(self, name: str) -> Variant:
        if name not in self.variants:
            known = ", ".join(self.variants) or "none"
            raise ValueError(f"unknown variant {name!r}: {self.name} has {known}")
        return self.variants[name]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "label": self.label,
            "output": self.output,
            "consumes": sorted(self.consumes),
            "variants": list(self.variants),
            "role": self.role,
            "timbre_blind": self.timbre_blind,
        }
