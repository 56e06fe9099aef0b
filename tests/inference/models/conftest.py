"""Fixtures of the model tests: random inputs in the platform's shapes, batch 1 to stay fast."""

from __future__ import annotations

import pytest
import torch

from tests.inference.models.helpers import MEL_FRAMES, VIDEO_FRAMES


@pytest.fixture
def video() -> torch.Tensor:
    return torch.rand(1, VIDEO_FRAMES, 2048, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def mel() -> torch.Tensor:
    return torch.randn(1, 80, MEL_FRAMES, generator=torch.Generator().manual_seed(2)) - 5.0
