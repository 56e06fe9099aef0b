"""VarietySound (the proposed model): video features + a reference mel (+ optional background) -> a mel."""

from __future__ import annotations

from types import MappingProxyType

from inference.systems.base import SystemKind, TrainingParts, Variant


class VarietySoundKind(SystemKind):
    name = "varietysound"
    label = "VarietySound (proposed)"
    output = "mel"
    consumes = frozenset({"video_features", "reference_mel", "background_mel"})
    role = "proposed"
    variants = MappingProxyType(
        {
            "proposed": Variant(),
            "with_background": Variant(background=True),  # Table 8 "w Bi"
            "without_temporal": Variant(drop_temporal=True),  # "w/o Te"
            "without_timbre": Variant(drop_timbre=True),  # "w/o Ti"
            "without_temporal_timbre": Variant(drop_temporal=True, drop_timbre=True),  # "w/o Te & Ti"
        }
    )

    def network(self):
        from inference.models.varietysound import VarietySound, VarietySoundConfig

        return VarietySound, VarietySoundConfig

    def forward(self, model, video, reference, background, *, variant, generator):
        return model(
            video,
            reference,
            background,
            drop_temporal=variant.drop_temporal,
            drop_timbre=variant.drop_timbre,
            drop_with=variant.drop_with,
            generator=generator,
        )

    def training(self) -> TrainingParts:
        from inference.models.varietysound import VarietySoundConfig
        from inference.training.config import VarietySoundDiscriminators, VarietySoundLosses
        from inference.training.systems import VarietySoundSystem

        return TrainingParts(
            VarietySoundConfig, VarietySoundDiscriminators, VarietySoundLosses, VarietySoundSystem
        )


KIND = VarietySoundKind()
