"""Fixtures of the metric tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def timbre_encoder():
    from inference.metrics.timbre import TimbreEncoder

    return TimbreEncoder("cpu")
