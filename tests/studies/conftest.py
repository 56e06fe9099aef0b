"""Fixtures of the studies tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.studies.fake_mturk import FakeMTurk


@pytest.fixture
def fake_mturk() -> Iterator[FakeMTurk]:
    """An offline MTurk requester endpoint on a free local port, stopped after the test."""
    with FakeMTurk() as fake:
        yield fake
