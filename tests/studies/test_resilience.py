"""Rate limits on the rater endpoints, and what raters see while the database is unavailable."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.test import override_settings
from django.urls import reverse

from studies.models import Assignment, Rating, Study
from studies.services import rating as rating_service
from studies.services.studies import invite_token, invites_create, study_create, study_open
from studies.throttle import client_address, limit_wait
from tests.studies.factories import finished_run
from tests.studies.test_pages import answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(settings, django_capture_on_commit_callbacks) -> Study:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run(categories=("dog",), clips=2)
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(run=run, kind="realism", ratings_per_stimulus=2, stimuli_per_assignment=3)
    return study_open(study=Study.objects.get(pk=study.pk))


def test_entry_links_are_limited_per_client_address_with_a_clear_429(client, study, settings):
    settings.RATER_ENTRY_LIMIT = (3, 60)
    raters = invites_create(study=study, count=5)
    codes = [client.get(reverse("studies:invite", args=[invite_token(r)])).status_code for r in raters]
    assert codes == [302, 302, 302, 429, 429]
    refused = client.get(reverse("studies:invite", args=[invite_token(raters[4])]))
    assert int(refused["Retry-After"]) >= 1 and "Please slow down" in refused.content.decode()
    assert "seconds, then try again" in refused.content.decode()
    assert "frame-ancestors" in refused["Content-Security-Policy"], "still shown inside MTurk's frame"
    other = client.get(reverse("studies:invite", args=[invite_token(raters[4])]), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 302, "another address has its own allowance"
    assert Assignment.objects.count() == 4, "a refused entry hands out no work"


def test_task_pages_are_limited_per_assignment_not_per_address(client, study, settings):
    settings.RATER_TASK_LIMIT = (4, 60)
    first, second = invites_create(study=study, count=2)
    url_a = client.get(reverse("studies:invite", args=[invite_token(first)]))["Location"]
    url_b = client.get(reverse("studies:invite", args=[invite_token(second)]))["Location"]
    assert [client.get(url_a).status_code for _ in range(5)] == [200, 200, 200, 200, 429]
    assert client.get(url_b).status_code == 200, "the other rater on the same address is unaffected"
    form = answer(client.get(url_b).content.decode())
    refused = client.post(url_a, form)
    assert refused.status_code == 429 and not Rating.objects.exists(), "a refused submission stores nothing"
    html = refused.content.decode()
    assert "too many requests" in html and "sends it again by itself" in html
    carried = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert carried == form, "the refused answer is carried, to be sent again after the wait"


def test_a_zero_limit_is_off_and_a_broken_cache_lets_raters_through(settings):
    assert limit_wait(scope="t", key="k", limit=(0, 0)) == 0
    with mock.patch.object(cache, "add", side_effect=ConnectionError("cache restarting")):
        assert limit_wait(scope="t", key="k", limit=(1, 60)) == 0
    assert [limit_wait(scope="t", key="k", limit=(1, 60)) > 0 for _ in range(2)] == [False, True]


def test_the_client_address_comes_from_trusted_proxies_only(rf, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4")
    settings.DJANGO_NUM_PROXIES = 0
    assert client_address(request) == "10.0.0.2", "a forwarded header is the client's word without a proxy"
    settings.DJANGO_NUM_PROXIES = 1
    assert client_address(request) == "1.2.3.4", "the address our one proxy saw, not the spoofable left part"


def _outage(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


def test_a_rating_sent_while_the_database_is_down_comes_back_with_a_retry_page_and_arrives_once(
    client, study
):
    rater = invites_create(study=study, count=1)[0]
    rate_url = client.get(reverse("studies:invite", args=[invite_token(rater)]))["Location"]
    form = answer(client.get(rate_url).content.decode())
    form["score"] = "2"
    with mock.patch("studies.views_rater.rating_submit", side_effect=_outage):
        response = client.post(rate_url, form)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    html = response.content.decode()
    assert "has not been lost" in html and "sends it again by itself" in html
    assert "frame-ancestors" in response["Content-Security-Policy"] and "X-Frame-Options" not in response
    resend = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    assert resend == form, "the retry page carries the rater's answer unchanged"
    assert not Rating.objects.exists()
    assert client.post(rate_url, resend).status_code == 302
    assert client.post(rate_url, resend).status_code == 302, "a second retry is harmless"
    assert list(Rating.objects.values_list("score", flat=True)) == [2]


def test_other_pages_answer_503_with_retry_after_during_an_outage(researcher_client, study):
    with mock.patch("studies.views.results.study_results", side_effect=_outage):
        response = researcher_client.get(reverse("studies:results", args=[study.pk]))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "Temporarily unavailable" in response.content.decode()


def test_an_assignment_whose_closing_was_interrupted_is_closed_by_the_next_request(client, study):
    rater = invites_create(study=study, count=1)[0]
    rate_url = client.get(reverse("studies:invite", args=[invite_token(rater)]))["Location"]
    total = Assignment.objects.get(rater=rater).items.count()
    for _ in range(total - 1):
        assert client.post(rate_url, answer(client.get(rate_url).content.decode())).status_code == 302
    last = answer(client.get(rate_url).content.decode())
    # The last rating is stored, then the database goes away before the assignment is closed.
    with mock.patch.object(rating_service, "assignment_complete", side_effect=_outage):
        assert client.post(rate_url, last).status_code == 503
    assignment = Assignment.objects.get(rater=rater)
    assert assignment.state == "active" and Rating.objects.filter(rater=rater).count() == total
    assert client.post(rate_url, last).status_code == 302, "the retry page resends the same answer"
    assignment.refresh_from_db()
    assert assignment.state == "submitted" and assignment.completion_code
    assert Rating.objects.filter(rater=rater).count() == total


@override_settings(RATER_TASK_LIMIT=(0, 0))
def test_a_reload_of_the_done_page_also_closes_an_interrupted_assignment(client, study):
    rater = invites_create(study=study, count=1)[0]
    rate_url = client.get(reverse("studies:invite", args=[invite_token(rater)]))["Location"]
    total = Assignment.objects.get(rater=rater).items.count()
    for i in range(total):
        form = answer(client.get(rate_url).content.decode())
        if i < total - 1:
            client.post(rate_url, form)
        else:
            with mock.patch.object(rating_service, "assignment_complete", side_effect=_outage):
                client.post(rate_url, form)
    done = client.get(rate_url)
    assignment = Assignment.objects.get(rater=rater)
    assert assignment.state == "submitted" and assignment.completion_code in done.content.decode()
