"""Raters in Debian's Chromium: an MTurk worker inside MTurk's frame (preview, accept, play, rate,
submit to turkSubmitTo), and a local rater on an invite link with the keyboard on a phone-sized screen."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
import requests
from django.urls import reverse

from studies.models import Assignment, Rating, Stimulus, Study
from studies.services import mturk_ops
from studies.services.studies import invite_token, invites_create, study_create, study_open
from tests.browser import chromium_page
from tests.studies.factories import finished_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SITE = "https://testserver"  # the public address the HIT was published with
MTURK = "https://workersandbox.mturk.com"
MTURK_PAGE = f"{MTURK}/projects/test/tasks"


def score_for(uid: str) -> str:
    stimulus = Stimulus.objects.get(uid=uid)
    return str(stimulus.expected_min if stimulus.is_check else 4)


def rate_current_clip(frame) -> None:
    """Play the clip to the end (the scale stays locked until then), pick a score, submit."""
    frame.wait_for_selector("#rating-form")
    assert frame.is_disabled("#scale input[value='4']"), "the scale is locked before playing"
    frame.evaluate(
        "() => { const m = document.getElementById('stimulus'); m.muted = true; return m.play(); }"
    )
    frame.wait_for_function("() => !document.getElementById('scale').disabled", timeout=15000)
    uid = frame.get_attribute("input[name=stimulus]", "value")
    frame.check(f"#scale input[value='{score_for(uid)}']")
    with frame.expect_navigation():
        frame.click("#next")


def rate_frame(page, timeout_s: float = 15.0):
    """The task frame (our site inside MTurk's page), once it has loaded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        frame = next((f for f in page.frames if f.url.startswith(SITE)), None)
        if frame is not None:
            frame.wait_for_load_state()
            return frame
        page.wait_for_timeout(100)
    raise AssertionError(f"our page is not in the frame; frames: {[f.url for f in page.frames]}")


def make_study(kind: str, settings, **design) -> Study:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run(categories=("dog",), clips=2, name=f"browser-{kind}")
    study = study_create(run=run, kind=kind, **design)  # eager: prepared before it returns
    return Study.objects.get(pk=study.pk)


def test_an_mturk_worker_previews_accepts_rates_and_submits_inside_mturks_frame(
    live_server, settings, fake_mturk, monkeypatch, tmp_path
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    settings.MTURK_ENDPOINT_URL = fake_mturk.endpoint_url
    settings.MTURK_EXTERNAL_BASE_URL = "https://testserver"
    study = make_study("realism", settings, ratings_per_stimulus=1, stimuli_per_assignment=3)
    mturk_ops.study_publish(study=study, hits=1, assignments_per_hit=2, request_id="browser")
    hit_id = next(iter(fake_mturk.hits))

    def framed(assignment_id: str | None) -> str:
        """The URL MTurk frames: the HIT's ExternalURL plus MTurk's parameters; turkSubmitTo is MTurk's
        own origin, as on the real site."""
        url = urlsplit(fake_mturk.frame_url(hit_id, assignment_id))
        query = [(k, v) for k, v in parse_qsl(url.query) if k != "turkSubmitTo"]
        return f"{SITE}{url.path}?{urlencode([*query, ('turkSubmitTo', MTURK)])}"

    def site(route):
        """https://testserver (the published ExternalURL) is served by the live server. Playwright does
        not intercept the request a fulfilled redirect leads to, so redirects are followed here and
        the frame shows the final page under the URL it asked for (the rating form posts to an
        explicit action, so that is harmless)."""
        request = route.request
        response = route.fetch(url=request.url.replace(SITE, live_server.url), max_redirects=0)
        hops = 0
        while response.status in (301, 302, 303) and hops < 5:
            location = urljoin(live_server.url + "/", response.headers["location"])
            response = route.fetch(url=location, method="GET", max_redirects=0)
            hops += 1
        route.fulfill(response=response)

    def mturk(route):  # MTurk: its worker page with our task framed, and its externalSubmit
        request = route.request
        if urlsplit(request.url).path == "/mturk/externalSubmit":
            answer = requests.post(fake_mturk.external_submit_url, data=request.post_data, timeout=5,
                                   headers={"Content-Type": request.headers["content-type"]})  # fmt: skip
            route.fulfill(status=answer.status_code, content_type="text/html", body=answer.text)
            return
        body = f'<html><body><h1>MTurk</h1><iframe id="task" src="{frame_src["url"]}" width="900" height="700"></iframe>'
        route.fulfill(content_type="text/html", body=body + "</body></html>")

    with chromium_page(viewport={"width": 1000, "height": 800}) as page:
        frame_src = {"url": framed(None)}
        page.route(f"{SITE}/**", site)
        page.route(f"{MTURK}/**", mturk)
        page.goto(MTURK_PAGE)
        frame = page.frame_locator("#task")
        frame.locator("#accept-first").wait_for()  # preview: read-only
        assert not Assignment.objects.exists()

        assignment_id = fake_mturk.worker_accept(hit_id, "ABROWSERWORKER")
        frame_src["url"] = framed(assignment_id)
        page.goto(MTURK_PAGE)
        total = Assignment.objects.get().items.count()
        for _ in range(total):
            rate_current_clip(rate_frame(page))
        inner = rate_frame(page)
        inner.wait_for_selector("#completion-code")
        page.screenshot(path=str(tmp_path / "mturk-done.png"))
        inner.click("#submit-hit")
        page.frame_locator("#task").locator("text=has been submitted").wait_for()
    assert fake_mturk.assignments[assignment_id]["AssignmentStatus"] == "Submitted"
    assignment = Assignment.objects.get()
    assert assignment.mturk_assignment_id == assignment_id and assignment.passed_checks
    assert Rating.objects.filter(assignment=assignment).count() == total
    assert all(r.played_to_end and r.play_count >= 1 and r.time_spent_ms > 0 for r in Rating.objects.all())
    mturk_ops.study_sync(study_id=study.pk)
    assert fake_mturk.assignments[assignment_id]["AssignmentStatus"] == "Approved"


def test_a_local_rater_uses_the_keyboard_on_a_phone_sized_screen(live_server, settings, tmp_path):
    study = make_study("alignment", settings, ratings_per_stimulus=1, stimuli_per_assignment=2)
    study = study_open(study=study)
    rater = invites_create(study=study, count=1, label="phone")[0]
    with chromium_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True) as page:
        page.goto(live_server.url + reverse("studies:invite", args=[invite_token(rater)]))
        page.wait_for_selector("video#stimulus")
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        total = Assignment.objects.get(rater=rater).items.count()
        for _ in range(total):
            page.wait_for_selector("#rating-form")
            page.evaluate(
                "() => { const m = document.getElementById('stimulus'); m.muted = true; return m.play(); }"
            )
            page.wait_for_function("() => !document.getElementById('scale').disabled", timeout=15000)
            uid = page.get_attribute("input[name=stimulus]", "value")
            page.locator("body").click(position={"x": 5, "y": 5})
            page.keyboard.press(score_for(uid))
            with page.expect_navigation():
                page.keyboard.press("Enter")
        page.wait_for_selector("#completion-code")
        code = page.inner_text("#completion-code")
    assignment = Assignment.objects.get(rater=rater)
    assert code == assignment.completion_code and assignment.passed_checks
    assert Rating.objects.filter(rater=rater).count() == total


def test_a_timbre_clip_unlocks_only_after_both_the_reference_and_the_test_sound(live_server, settings):
    study = study_open(study=make_study("timbre", settings, ratings_per_stimulus=1, stimuli_per_assignment=1))
    rater = invites_create(study=study, count=1)[0]
    play = "id => { const m = document.getElementById(id); m.muted = true; return m.play(); }"
    with chromium_page(viewport={"width": 900, "height": 900}) as page:
        page.goto(live_server.url + reverse("studies:invite", args=[invite_token(rater)]))
        while page.query_selector("#reference") is None:  # checks may come first
            rate_current_clip(page)
        page.evaluate(play, "stimulus")
        page.wait_for_function("() => document.getElementById('stimulus').ended")
        assert page.is_disabled("#scale input[value='4']"), "the reference has not been heard yet"
        page.evaluate(play, "reference")
        page.wait_for_function("() => !document.getElementById('scale').disabled", timeout=15000)


def test_an_answer_sent_during_a_database_outage_is_resent_by_the_page_and_stored_once(
    live_server, settings, tmp_path
):
    """The live server runs in this process, so the outage is the rating service raising the error a
    lost PostgreSQL connection raises, for the first submission only; the retry page's own script
    must then send the same answer again without the rater doing anything."""
    from unittest import mock

    from django.db import OperationalError

    from studies import views_rater

    study = study_open(
        study=make_study("realism", settings, ratings_per_stimulus=1, stimuli_per_assignment=2)
    )
    rater = invites_create(study=study, count=1)[0]
    real_submit = views_rater.rating_submit
    calls = {"n": 0}

    def flaky_submit(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_submit(**kwargs)

    with mock.patch.object(views_rater, "rating_submit", side_effect=flaky_submit):
        with chromium_page(viewport={"width": 900, "height": 900}) as page:
            page.goto(live_server.url + reverse("studies:invite", args=[invite_token(rater)]))
            page.wait_for_selector("#rating-form")
            first = page.get_attribute("input[name=stimulus]", "value")
            rate_current_clip(page)
            page.wait_for_selector("#retry")
            assert "has not been lost" in page.inner_text("#retry")
            page.screenshot(path=str(tmp_path / "retry.png"))
            # No click: the page counts down and sends the answer again (5 s).
            page.wait_for_function(
                f"() => (document.querySelector('input[name=stimulus]') || {{}}).value !== '{first}'"
                " && !document.getElementById('retry')",
                timeout=20000,
            )
    assert calls["n"] == 2, "one failed submission, then the page's own retry"
    assert list(Rating.objects.filter(rater=rater).values_list("stimulus__uid", flat=True)) == [
        Stimulus.objects.get(uid=first).uid
    ]


def test_a_rater_rates_a_four_system_study_with_an_imported_system_in_chromium(
    live_server, settings, tmp_path
):
    """GT, cascade, VarietySound and an imported system: one assignment holds a clip of each, and the
    page never says which system a clip comes from."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run(categories=("dog",), clips=2, name="browser-four", imported=("foley",))
    study = study_create(run=run, kind="realism", ratings_per_stimulus=1, stimuli_per_assignment=4)
    study = study_open(study=Study.objects.get(pk=study.pk))
    assert study.systems == ["ground_truth", "baseline", "proposed", "foley"]
    rater = invites_create(study=study, count=1)[0]
    with chromium_page(viewport={"width": 900, "height": 900}) as page:
        page.goto(live_server.url + reverse("studies:invite", args=[invite_token(rater)]))
        total = Assignment.objects.get(rater=rater).items.count()
        for index in range(total):
            if index == 0:
                page.wait_for_selector("#rating-form")
                page.screenshot(path=str(tmp_path / "four-systems.png"), full_page=True)
            html = page.content()
            assert "foley" not in html.lower() and "proposed" not in html.lower()
            rate_current_clip(page)
        page.wait_for_selector("#completion-code")
    rated = Rating.objects.filter(rater=rater, stimulus__role="test").values_list(
        "stimulus__system", flat=True
    )
    assert sorted(rated) == ["baseline", "foley", "ground_truth", "proposed"]
