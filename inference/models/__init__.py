"""The networks: VarietySound, the cascade baseline (RegNet + sound converter), discriminators, vocoders.

Public entry points:

- ``build_model(kind, config)``: a fresh ``"varietysound"`` or ``"cascade"`` network from a config
  dataclass, a plain dict, or None for the paper's sizes;
- ``generate(model, video_features, reference_mel, variant=...)``: batched inference in eval mode for
  any registered system kind (``inference.systems``), with its inference-time variants (VarietySound's
  are the paper's ablations, ``VARIANTS``);
- ``save_checkpoint`` / ``load_checkpoint`` / ``checkpoint_sha256`` / ``CheckpointError``;
- ``Vocoder`` (pretrained HiFi-GAN, or Griffin-Lim for other mel formats) and ``griffin_lim``.

No module here imports Django; the networks import only torch and numpy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from inference.models.cascade import Cascade, CascadeConfig
from inference.models.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_sha256,
    load_checkpoint,
    save_checkpoint,
)
from inference.models.config_io import ConfigError
from inference.models.kinds import KINDS, build_model
from inference.models.varietysound import VarietySound, VarietySoundConfig
from inference.models.vocoder import Vocoder, griffin_lim
from inference.systems import SYSTEM_KINDS, Variant, kind_of_model

__all__ = [
    "ALL_VARIANTS",
    "KINDS",
    "VARIANTS",
    "Cascade",
    "CascadeConfig",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "Variant",
    "VarietySound",
    "VarietySoundConfig",
    "Vocoder",
    "build_model",
    "checkpoint_sha256",
    "generate",
    "griffin_lim",
    "load_checkpoint",
    "model_kind",
    "save_checkpoint",
]


VARIANTS = SYSTEM_KINDS["varietysound"].variants  # the paper's inference-time ablations (Table 8)
ALL_VARIANTS = frozenset(name for kind in SYSTEM_KINDS.values() for name in kind.variants)


def model_kind(model: nn.Module) -> str:
    return kind_of_model(model).name


def _batched(array: Tensor | np.ndarray, dims: int, name: str) -> Tensor:
    x = torch.as_tensor(
        np.asarray(array, dtype=np.float32) if isinstance(array, np.ndarray) else array
    ).float()
    if x.dim() == dims - 1:
        x = x.unsqueeze(0)
    if x.dim() != dims:
        raise ValueError(f"{name}: expected {dims - 1} or {dims} dimensions, got shape {tuple(x.shape)}")
    return x


def generate(
    model: nn.Module,
    video_features: Tensor | np.ndarray,
    reference_mel: Tensor | np.ndarray,
    *,
    variant: str | Variant = "proposed",
    background_mel: Tensor | np.ndarray | None = None,
    batch_size: int = 16,
    seed: int | None = None,
) -> Tensor:
    """Mels for video features (T, 2048) or (B, T, 2048) and reference mels (80, F') or (B, 80, F').

    A single reference (or video) is broadcast over the other's batch, so one reference can voice
    many videos. ``variant`` names one of ``VARIANTS`` (or is a ``Variant``). The background encoder
    hears silence unless ``background_mel`` is given or the variant adds the background; then, with no
    ``background_mel``, the reference itself is the background (the paper's ablation uses original
    pairs, where the reference is the clip's own audio). ``seed`` fixes RegNet's noise and the noise of
    ``drop_with="noise"``. Returns float32 on the CPU: (B, 80, 4T) HiFi-GAN mels for a kind whose
    output is "mel", (B, samples) waveforms at 22050 Hz for one whose output is "waveform".
    """
    kind = kind_of_model(model)
    chosen = kind.check_variant(variant) if isinstance(variant, str) else variant
    if "background_mel" not in kind.consumes and (chosen.background or background_mel is not None):
        raise ValueError(f"the {kind.name} system takes no background audio")
    video = _batched(video_features, 3, "video_features")
    reference = _batched(reference_mel, 3, "reference_mel")
    background = _batched(background_mel, 3, "background_mel") if background_mel is not None else None
    if chosen.background and background is None:
        background = reference
    size = max(video.shape[0], reference.shape[0])
    video, reference = (t.expand(size, *t.shape[1:]) if t.shape[0] == 1 else t for t in (video, reference))
    if background is not None and background.shape[0] == 1:
        background = background.expand(size, *background.shape[1:])
    if video.shape[0] != reference.shape[0] or (background is not None and background.shape[0] != size):
        raise ValueError(
            "video_features, reference_mel and background_mel must share a batch size (or have 1)"
        )
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.inference_mode():
            for start in range(0, size, batch_size):
                part = slice(start, start + batch_size)
                v, r = video[part].to(device), reference[part].to(device)
                b = background[part].to(device) if background is not None else None
                out = kind.forward(model, v, r, b, variant=chosen, generator=generator)
                outputs.append(out.float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs)
