"""Hostile input to the rater endpoints: whatever arrives, a 4xx or a page, never a 500, and never a
change to a rating already stored (property-based, hypothesis)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studies.models import Assignment, Hit, Rating, Study
from studies.services.studies import invite_token, invites_create, study_create, study_open
from tests.studies.factories import finished_run

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", "0", "5", "-1", "6", "3.0", "1e9", "NaN", "null", "' OR 1=1 --", "<script>", "\x00"]
    ),
)


@pytest.fixture
def rated(settings, django_capture_on_commit_callbacks, client):
    """An open study, one rater part-way through an assignment with one rating stored."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Hundreds of requests from one address and one task: the limits would answer 429 to most of them
    # (test_throttle.py covers that); here every request must reach the validation.
    settings.RATER_ENTRY_LIMIT = settings.RATER_TASK_LIMIT = (0, 0)
    run = finished_run(categories=("dog",), clips=2)
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(run=run, kind="realism", ratings_per_stimulus=2, stimuli_per_assignment=3)
    study = study_open(study=Study.objects.get(pk=study.pk))
    Hit.objects.create(
        study=study,
        hit_id="3HITHITHITHITHITHIT",
        hit_type_id="T",
        unique_request_token="t",
        max_assignments=9,
    )
    rater = invites_create(study=study, count=1)[0]
    rate_url = client.get(reverse("studies:invite", args=[invite_token(rater)]))["Location"]
    page = client.get(rate_url).content.decode()
    stimulus = page.split('name="stimulus" value="')[1].split('"')[0]
    client.post(rate_url, {"stimulus": stimulus, "score": "4", "plays": "1", "ended": "1"})
    return study, rate_url, Rating.objects.get()


@FUZZ
@given(form=st.dictionaries(st.sampled_from(["stimulus", "score", "time_ms", "plays", "ended", "x"]), text))
def test_any_rating_form_gets_an_answer_and_never_changes_a_stored_rating(client, rated, form):
    study, rate_url, first = rated
    response = client.post(rate_url, form)
    assert response.status_code in (200, 302, 400)
    first.refresh_from_db()
    assert first.score == 4
    assert Rating.objects.filter(score__lt=1).count() == 0 and Rating.objects.filter(score__gt=5).count() == 0


@FUZZ
@given(token=text)
def test_any_token_gets_a_404_not_a_500(client, rated, token):
    if not token.strip("/") or "\x00" in token:
        return  # no path segment at all
    segment = quote(token, safe="")
    assert client.get(f"/rate/{segment}/").status_code == 404
    assert client.get(f"/i/{segment}/").status_code == 404


@FUZZ
@given(
    params=st.dictionaries(st.sampled_from(["assignmentId", "hitId", "workerId", "turkSubmitTo"]), text),
    valid_hit=st.booleans(),
)
def test_forged_mturk_parameters_get_a_clear_answer(client, rated, params, valid_hit):
    study, _, _ = rated
    if valid_hit:
        params = {**params, "hitId": "3HITHITHITHITHITHIT"}
    before = Assignment.objects.count()
    response = client.get(reverse("studies:mturk", args=[study.uid]), params)
    assert response.status_code in (200, 302, 400, 403)
    if response.status_code != 302:
        assert Assignment.objects.count() == before  # nothing handed out to a malformed request


def test_a_worker_cannot_submit_to_another_workers_assignment(client, rated):
    study, _, _ = rated
    url = reverse("studies:mturk", args=[study.uid])
    mine = {"assignmentId": "3ASSIGNMENTAAAAAAAAA", "hitId": "3HITHITHITHITHITHIT", "workerId": "AWORKERONE01",
            "turkSubmitTo": "https://www.mturk.com"}  # fmt: skip
    assert client.get(url, mine).status_code == 302
    assert client.get(url, {**mine, "workerId": "AWORKERTWO02"}).status_code == 403
