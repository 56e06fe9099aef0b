"""Training configs: typed dataclasses, loaded from YAML by one loader with clear errors.

A ``TrainConfig`` holds everything a run needs besides its data: which system (``varietysound`` or
``cascade``), the generator's config (the one saved in checkpoints), the discriminators', the losses
(including the ablation switches), optimisation, data batching and logging. Presets live beside this
file in ``configs/<system>_<preset>.yaml``: ``paper`` (Table 3 sizes, batch 48) and ``tiny``
(CPU-sized). A YAML file states only what differs from the dataclass defaults, which are the paper's.

``load_train_config("varietysound_tiny")`` or ``load_train_config(path, overrides={...})`` returns a
validated ``TrainConfig``; an unknown key anywhere raises ``ConfigError`` naming its dotted path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from inference.models.cascade import CascadeConfig
from inference.models.config_io import ConfigError, check, from_dict, to_dict
from inference.models.discriminators import AlignmentDiscriminatorConfig, MelDiscriminatorConfig
from inference.models.regnet import RegNetDiscriminatorConfig
from inference.models.varietysound import VarietySoundConfig
from inference.systems import system_kind, trainable_kinds

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SYSTEMS = tuple(kind.name for kind in trainable_kinds())  # from the registry of system kinds
PRESETS = ("paper", "tiny")
Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class OptimizerConfig:
    name: Literal["adam", "adamw"] = "adamw"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01  # AdamW's usual default; the paper gives none


@dataclass(frozen=True)
class OptimConfig:
    """Optimisers and the schedule. The schedule is RegNet's, which VarietySound says it follows: a
    constant learning rate for the first ``lr_constant_fraction`` of training (RegNet: 100 of 1000
    epochs), then linear decay towards zero. The length is ``max_steps``, or ``epochs`` over the
    training clips (the paper: 500 epochs per category); exactly one of them is set."""

    generator: OptimizerConfig = field(default_factory=OptimizerConfig)
    discriminator: OptimizerConfig = field(default_factory=OptimizerConfig)
    # The cascade's second stage has its own optimiser (SpeechSplit: Adam 1e-4, betas 0.9 / 0.999).
    converter: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(name="adam", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0)
    )
    epochs: int | None = 500
    max_steps: int | None = None
    lr_constant_fraction: float = 0.2
    grad_clip_norm: float | None = None
    mixed_precision: bool = True  # CUDA only: bf16 autocast where supported, else fp16 with a scaler
    compile: bool = False  # CUDA only: torch.compile the generator's forward (eager if compiling fails)

    def __post_init__(self) -> None:
        check(
            (self.epochs is None) != (self.max_steps is None),
            "optim: set exactly one of epochs and max_steps",
        )
        check(
            (self.epochs or 1) >= 1 and (self.max_steps or 1) >= 1, "optim: epochs / max_steps must be >= 1"
        )
        check(0.0 <= self.lr_constant_fraction <= 1.0, "optim.lr_constant_fraction must lie in [0, 1]")

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.max_steps if self.max_steps is not None else max(1, (self.epochs or 1) * steps_per_epoch)


@dataclass(frozen=True)
class VarietySoundLosses:
    """Equations 1-7. ``alignment_discriminator`` / ``mel_discriminator`` are the training ablations
    of Table 7 ("w/o TDAD", "w/o MD")."""

    lambda_mel: float = 10000.0
    lambda_adv: float = 1.0
    alignment_discriminator: bool = True
    mel_discriminator: bool = True
    # S[.]: a real mel rolled in time by this many mel frames, either way (43 frames = 0.5 s).
    shift_min_frames: int = 43
    shift_max_frames: int | None = None  # None: up to the clip length minus shift_min_frames


@dataclass(frozen=True)
class CascadeLosses:
    """RegNet: MSE on the mel before and after the postnet, times 10000, plus a BCE GAN loss.
    SpeechSplit: MSE self-reconstruction of the ground-truth mel."""

    lambda_mel: float = 10000.0
    lambda_adv: float = 1.0
    discriminator: bool = True
    lambda_converter: float = 1.0


@dataclass(frozen=True)
class VarietySoundDiscriminators:
    alignment: AlignmentDiscriminatorConfig = field(default_factory=AlignmentDiscriminatorConfig)
    mel: MelDiscriminatorConfig = field(default_factory=MelDiscriminatorConfig)


@dataclass(frozen=True)
class CascadeDiscriminators:
    regnet: RegNetDiscriminatorConfig = field(default_factory=RegNetDiscriminatorConfig)


@dataclass(frozen=True)
class DataConfig:
    batch_size: int = 48
    # Train on random crops of this many video frames (x4 mel frames); None: whole clips.
    crop_video_frames: int | None = None
    num_workers: int = 0
    val_batches: int = 4  # validation batches per evaluation (whole clips)

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "data.batch_size must be at least 1")
        check(
            self.crop_video_frames is None or self.crop_video_frames >= 8,
            "data.crop_video_frames must be >= 8",
        )


@dataclass(frozen=True)
class LoggingConfig:
    log_every: int = 50
    val_every: int = 500
    preview_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    preview_vocoder: Literal["hifigan", "griffin_lim", "none"] = "hifigan"
    progress_bar: bool = True
    tensorboard: bool = False

    def __post_init__(self) -> None:
        for name in ("log_every", "val_every", "preview_every", "checkpoint_every", "keep_checkpoints"):
            check(getattr(self, name) >= 1, f"logging.{name} must be at least 1")


@dataclass(frozen=True)
class TrainConfig:
    system: str  # a trainable kind of inference.systems
    preset: str
    seed: int
    model: VarietySoundConfig | CascadeConfig
    discriminators: VarietySoundDiscriminators | CascadeDiscriminators
    losses: VarietySoundLosses | CascadeLosses
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


def _parts(system: str) -> dict[str, type]:
    """The config classes of a system's training YAML, as its kind declares them."""
    parts = system_kind(system).training()
    return {"model": parts.model, "discriminators": parts.discriminators, "losses": parts.losses}


_COMMON: dict[str, type] = {"optim": OptimConfig, "data": DataConfig, "logging": LoggingConfig}


def train_config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Build and validate a ``TrainConfig`` from plain dicts (a parsed YAML file or a checkpoint)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a training config must be a mapping, got {type(data).__name__}")
    system = data.get("system")
    if system not in SYSTEMS:
        raise ConfigError(f"system: {system!r} is not one of {list(SYSTEMS)}")
    parts = {**_parts(system), **_COMMON}
    known = {"system", "preset", "seed", *parts}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    preset, seed = data.get("preset", "custom"), data.get("seed", 0)
    if not isinstance(preset, str):
        raise ConfigError(f"preset: expected a string, got {preset!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed: expected an integer, got {seed!r}")
    built = {name: from_dict(cls, data.get(name), where=name) for name, cls in parts.items()}
    config = TrainConfig(system=system, preset=preset, seed=seed, **built)
    _check_consistency(config)
    return config


def _check_consistency(config: TrainConfig) -> None:
    crop = config.data.crop_video_frames
    if config.system == "varietysound":
        assert isinstance(config.discriminators, VarietySoundDiscriminators)
        assert isinstance(config.model, VarietySoundConfig)
        longest = max(config.discriminators.mel.windows)
        check(
            crop is None or 4 * crop >= longest,
            f"data.crop_video_frames={crop} gives {4 * crop if crop else 0} mel frames, shorter than the "
            f"mel discriminator's window of {longest}",
        )
        check(
            config.discriminators.alignment.video_dim == config.model.temporal.input_dim,
            "discriminators.alignment.video_dim must equal model.temporal.input_dim",
        )


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    return to_dict(config)


def preset_path(name: str) -> Path:
    """``"varietysound_tiny"`` -> the YAML file of that preset."""
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(known)})")
    return path


def preset_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_train_config(source: str | Path, *, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The one loader: a preset name (``"cascade_paper"``) or a YAML path, plus optional nested overrides."""
    path = Path(source)
    if path.suffix not in (".yaml", ".yml"):
        path = preset_path(str(source))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the YAML file ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return train_config_from_dict(_merge(data, overrides or {}))
    except ConfigError as exc:
        raise ConfigError(f"{path.name}: {exc}") from exc


def replace(config: TrainConfig, **changes: Any) -> TrainConfig:
    """``dataclasses.replace`` re-validated through the loader (so a switch cannot skip the checks)."""
    return train_config_from_dict(config_to_dict(dataclasses.replace(config, **changes)))
