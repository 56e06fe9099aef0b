"""The registry of system kinds: every module of this package that defines ``KIND`` is one.

    from inference.systems import SYSTEM_KINDS, system_kind, kind_of_model

Adding an architecture is adding a module here (its networks live in ``inference.models``): the
checkpoint loader, generation, the registry's choices, the trainer and the studies read this
registry. No torch is imported here (see ``base``).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from inference.systems.base import DEFAULT_VARIANTS, SystemKind, TrainingParts, Variant

__all__ = [
    "DEFAULT_VARIANTS",
    "SYSTEM_KINDS",
    "SystemKind",
    "TrainingParts",
    "Variant",
    "generating_kinds",
    "kind_of_model",
    "system_kind",
    "trainable_kinds",
]


def _discover() -> Mapping[str, SystemKind]:
    found: dict[str, SystemKind] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name == "base" or module.name.startswith("_"):
            continue
        kind = getattr(importlib.import_module(f"{__name__}.{module.name}"), "KIND", None)
        if kind is None:
            continue
        if not isinstance(kind, SystemKind):
            raise TypeError(f"inference.systems.{module.name}.KIND is not a SystemKind")
        if kind.name in found:
            raise ValueError(f"two system kinds are named {kind.name!r}")
        found[kind.name] = kind
    # Stable order: the paper's two first, then the rest by name.
    first = ["varietysound", "cascade"]
    ranked = sorted(found, key=lambda n: (first.index(n) if n in first else len(first), n))
    return MappingProxyType({name: found[name] for name in ranked})


SYSTEM_KINDS: Mapping[str, SystemKind] = _discover()


def system_kind(name: str) -> SystemKind:
    if name not in SYSTEM_KINDS:
        raise ValueError(f"unknown system kind {name!r} (known: {', '.join(SYSTEM_KINDS)})")
    return SYSTEM_KINDS[name]


def generating_kinds() -> list[SystemKind]:
    """Kinds whose checkpoints generate from video (what a run's systems may be built from)."""
    return [k for k in SYSTEM_KINDS.values() if k.generates]


def trainable_kinds() -> list[SystemKind]:
    return [k for k in SYSTEM_KINDS.values() if k.trainable]


@functools.cache
def _networks() -> tuple[tuple[type, SystemKind], ...]:
    return tuple((kind.network()[0], kind) for kind in generating_kinds())


def kind_of_model(model: Any) -> SystemKind:
    """The kind whose network ``model`` is (imports the networks: workers only)."""
    for network, kind in _networks():
        if isinstance(model, network):
            return kind
    raise TypeError(f"not a network of a registered system kind: {type(model).__name__}")
