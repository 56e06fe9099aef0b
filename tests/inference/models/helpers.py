"""Helpers of the model tests: parameter counts and small tiny-preset configs."""

from __future__ import annotations

from torch import nn

VIDEO_FRAMES = 215  # 10 s at 21.5 fps
MEL_FRAMES = 860


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def report(name: str, module: nn.Module) -> int:
    """Print (shown with ``pytest -s``) and return a module's parameter count at the paper preset."""
    count = parameters(module)
    print(f"\n[paper preset] {name}: {count:,} parameters")
    return count
