"""The model kinds a checkpoint may hold: name -> (network class, config class), read from the
registry of system kinds (``inference.systems``), so a new architecture needs no edit here.

Ablations are not kinds: "w/o TDAD" is a VarietySound trained with one discriminator off (its
training config says so), and "w/o Te" is the same VarietySound generating with an inference switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from torch import nn

from inference.models.config_io import ConfigError, from_dict
from inference.systems import generating_kinds


@dataclass(frozen=True)
class ModelKind:
    network: type[nn.Module]
    config: type[Any]


KINDS = MappingProxyType({kind.name: ModelKind(*kind.network()) for kind in generating_kinds()})


def build_model(kind: str, config: Any = None) -> nn.Module:
    """A freshly initialised network of ``kind`` from its config dataclass, a plain dict, or None (paper sizes)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown model kind {kind!r} (known: {', '.join(KINDS)})")
    spec = KINDS[kind]
    if config is None or isinstance(config, dict):
        config = from_dict(spec.config, config, where="config")
    elif not isinstance(config, spec.config):
        raise ConfigError(f"a {kind} model needs a {spec.config.__name__}, got {type(config).__name__}")
    return spec.network(config)
