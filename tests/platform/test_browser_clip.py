"""A clip's page plays its video with sound in Chromium, and seeking works (HTTP ranges)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from registry.models import Clip
from tests.browser import chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLAY_AND_SEEK = """async () => {
  const v = document.querySelector('video');
  v.muted = true;  // headless autoplay; the audio track is still decoded
  await v.play();
  await new Promise(r => setTimeout(r, 700));
  const playedTo = v.currentTime;
  const seeked = new Promise(r => v.addEventListener('seeked', r, {once: true}));
  v.currentTime = v.duration - 0.5;
  await seeked;
  return {duration: v.duration, playedTo, seekedTo: v.currentTime, width: v.videoWidth,
          audioBytes: v.webkitAudioDecodedByteCount, error: v.error && v.error.message};
}"""


def test_the_clip_page_plays_video_with_sound_and_seeks(live_server, settings, researcher, tmp_path):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    call_command(
        "make_synthvas",
        "--clips-per-category",
        "1",
        "--seconds",
        "3",
        "--categories",
        "drum",
        "--workers",
        "1",
        "--name",
        "browser",
    )
    clip = Clip.objects.get(dataset__name="browser")
    with chromium_page(viewport={"width": 900, "height": 700}) as page:
        page.goto(f"{live_server.url}{reverse('login')}")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "a-long-test-password-1")
        page.click("button[type=submit]")
        page.wait_for_selector("h1:has-text('Dashboard')")
        page.goto(f"{live_server.url}{reverse('registry:clip', args=[clip.pk])}")
        state = page.evaluate(PLAY_AND_SEEK)
        page.screenshot(path=str(tmp_path / "clip.png"), full_page=True)
    assert state["error"] is None
    assert state["width"] == 340
    assert state["duration"] == pytest.approx(3.0, abs=0.1)
    assert state["playedTo"] > 0.2, "the video plays"
    assert state["audioBytes"] > 0, "the video carries its sound"
    assert state["seekedTo"] == pytest.approx(2.5, abs=0.1), "seeking works"
