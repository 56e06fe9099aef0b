"""The baseline cascade (RegNet video -> mel, then sound conversion to the reference's timbre)."""

from __future__ import annotations

from inference.systems.base import SystemKind, TrainingParts, Variant


class CascadeKind(SystemKind):
    name = "cascade"
    label = "cascade baseline (RegNet → sound conversion)"
    output = "mel"
    consumes = frozenset({"video_features", "reference_mel"})
    role = "baseline"

    def network(self):
        from inference.models.cascade import Cascade, CascadeConfig

        return Cascade, CascadeConfig

    def forward(self, model, video, reference, background, *, variant, generator):
        if background is not None or variant != Variant():
            raise ValueError(
                "the cascade has no encoders to drop or background to add: use variant='proposed'"
            )
        return model(video, reference, generator=generator)

    def training(self) -> TrainingParts:
        from inference.models.cascade import CascadeConfig
        from inference.training.config import CascadeDiscriminators, CascadeLosses
        from inference.training.systems import CascadeSystem

        return TrainingParts(CascadeConfig, CascadeDiscriminators, CascadeLosses, CascadeSystem)


KIND = CascadeKind()
