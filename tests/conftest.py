"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# The converted vocoder and the vocoded ground truth (files derived from the shipped weights and
# rebuilt at will) are shared by the whole suite and the workers it starts: one conversion per clone,
# not one per test. Tests that count reuse give their ModelCache a folder of their own.
TEST_CACHE = REPO / "var" / "cache"
os.environ.setdefault("INFERENCE_CACHE_DIR", str(TEST_CACHE))


@pytest.fixture(autouse=True, scope="session")
def _shared_inference_cache():
    from django.conf import settings

    settings.INFERENCE_CACHE_DIR = Path(os.environ["INFERENCE_CACHE_DIR"])
    yield


def ci_mode() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path_factory):
    """Every test writes media into its own temporary folder, never into var/."""
    media = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = media
    storages = dict(settings.STORAGES)
    if storages["default"]["BACKEND"].endswith("FileSystemStorage"):
        storages["default"] = {
            **storages["default"],
            "OPTIONS": {**storages["default"]["OPTIONS"], "location": str(media)},
        }
        settings.STORAGES = storages
    yield


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The rate limits count in the cache; each test starts with no requests counted."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def researcher(django_user_model):
    from django.contrib.auth.models import Group

    from registry.access import RESEARCHERS_GROUP

    user = django_user_model.objects.create_user("alice", password="a-long-test-password-1")
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    return user


@pytest.fixture
def researcher_client(client, researcher):
    client.force_login(researcher)
    return client


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, minus Django's test-only media handler.

    Django's LiveServerThread answers MEDIA_URL itself, without HTTP ranges; in the embedded default
    the site's own range-aware media view serves those URLs, and that is what the browser tests must
    meet (video seeking depends on it). The handler is built when the server thread starts, so the
    substitution lasts only for the start.
    """
    import django.test.testcases as testcases
    from pytest_django.live_server_helper import LiveServer

    original = testcases._MediaFilesHandler
    testcases._MediaFilesHandler = lambda app: app
    try:
        server = LiveServer(os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS", "localhost"))
    finally:
        testcases._MediaFilesHandler = original
    request.addfinalizer(server.stop)
    return server
