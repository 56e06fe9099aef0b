"""A system trained and run outside the platform: its outputs arrive through an import
(``registry.services.systems``), one waveform per pair of the run's input pack. It generates nothing
and has no checkpoint; everything downstream (metrics, studies, tables) treats it like the others."""

from __future__ import annotations

from types import MappingProxyType

from inference.systems.base import SystemKind


class ImportedKind(SystemKind):
    name = "imported"
    label = "imported outputs (a system run elsewhere)"
    output = "none"
    variants = MappingProxyType({})


KIND = ImportedKind()
