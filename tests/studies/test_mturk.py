"""studies.mturk against the offline fake, through the real boto3 client (signing, serialisation and
botocore's own request validation all run)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from xml.etree import ElementTree

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from studies import mturk
from tests.studies.fake_mturk import FakeMTurk, WorkerRefused

PAGE = "https://rate.example.org/mturk/study/7?token=a&b=c"


@pytest.fixture
def client(fake_mturk: FakeMTurk):
    return mturk.make_client(
        live=False,
        endpoint_url=fake_mturk.endpoint_url,
        access_key_id="AKIDFAKE",
        secret_access_key="fake-secret",
    )


def spec(**changes) -> mturk.HitTypeSpec:
    values = {
        "title": "Rate how well sounds match videos",
        "description": "Watch 12 short clips with sound and rate each from 1 to 5.",
        "reward": "0.50",
        "assignment_duration_s": 1800,
        "auto_approval_delay_s": 3 * 86400,
        "keywords": "audio, video, rating",
        "qualifications": tuple(mturk.default_qualifications(live=False)),
    }
    return mturk.HitTypeSpec(**{**values, **changes})


def publish(client, *, max_assignments: int = 9, token: str = "study-7-hit-1", annotation: str = "") -> dict:
    hit_type_id = mturk.hit_type_create(client, spec())
    return mturk.hit_create(
        client,
        hit_type_id=hit_type_id,
        question_xml=mturk.external_question_xml(PAGE),
        max_assignments=max_assignments,
        lifetime_s=86400,
        unique_request_token=token,
        annotation=annotation,
    )


def submitted(fake: FakeMTurk, hit_id: str, worker_id: str = "AWORKER1") -> str:
    assignment_id = fake.worker_accept(hit_id, worker_id)
    fake.worker_submit(assignment_id, {"rating": "4"})
    return assignment_id


# --- endpoint and client ----------------------------------------------------------------------------------


def test_the_live_endpoint_is_chosen_only_with_live_true():
    assert mturk.make_client(live=False, access_key_id="a", secret_access_key="b").meta.endpoint_url == (
        mturk.SANDBOX_ENDPOINT
    )
    assert mturk.make_client(live=True, access_key_id="a", secret_access_key="b").meta.endpoint_url == (
        mturk.LIVE_ENDPOINT
    )
    assert mturk.endpoint_choose(live="yes") == mturk.SANDBOX_ENDPOINT  # a truthy typo is not live
    assert mturk.endpoint_choose(live=True, endpoint_url="http://127.0.0.1:9") == "http://127.0.0.1:9"
    assert (
        mturk.make_client(live=True, access_key_id="a", secret_access_key="b").meta.region_name == "us-east-1"
    )


def test_the_fake_refuses_an_unsigned_request(fake_mturk):
    unsigned = boto3.session.Session().client(
        "mturk",
        region_name="us-east-1",
        endpoint_url=fake_mturk.endpoint_url,
        config=Config(signature_version=botocore.UNSIGNED, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as caught:
        unsigned.get_account_balance()
    assert caught.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"
    assert fake_mturk.requests == []


def test_an_unreachable_endpoint_is_a_retryable_mturk_error():
    fake = FakeMTurk().start()
    url = fake.endpoint_url
    fake.stop()
    client = mturk.make_client(
        live=False, endpoint_url=url, access_key_id="a", secret_access_key="b", max_attempts=1
    )
    with pytest.raises(mturk.MTurkError) as caught:
        mturk.account_balance(client)
    assert caught.value.code == "ConnectionError" and caught.value.retryable


def test_service_errors_keep_mturks_error_code(client):
    with pytest.raises(mturk.MTurkError) as caught:
        mturk.hit_get(client, hit_id="3NOSUCHHIT0000000000000000000X")
    assert caught.value.code == "AWS.MechanicalTurk.HITDoesNotExist"
    assert "does not exist" in str(caught.value) and not caught.value.retryable


def test_account_balance_is_a_decimal(client):
    assert mturk.account_balance(client) == Decimal("10000.00")


# --- validation -------------------------------------------------------------------------------------------


def test_the_question_xml_escapes_ampersands_in_the_external_url():
    xml = mturk.external_question_xml(PAGE, frame_height=800)
    assert "token=a&amp;b=c" in xml
    root = ElementTree.fromstring(xml)
    assert root.tag == f"{{{mturk.EXTERNAL_QUESTION_NS}}}ExternalQuestion"
    assert root.findtext(f"{{{mturk.EXTERNAL_QUESTION_NS}}}ExternalURL") == PAGE
    assert root.findtext(f"{{{mturk.EXTERNAL_QUESTION_NS}}}FrameHeight") == "800"


@pytest.mark.parametrize("url", ["http://rate.example.org/x", "https://", "ftp://x", "https://a b"])
def test_the_question_xml_refuses_anything_but_an_https_url(url):
    with pytest.raises(mturk.MTurkValidationError, match="ExternalURL"):
        mturk.external_question_xml(url)


def test_the_question_xml_refuses_a_document_over_64_kb():
    with pytest.raises(mturk.MTurkValidationError, match="65535"):
        mturk.external_question_xml("https://example.org/?q=" + "&" * 14000)  # each & grows to 5 bytes


def test_botocore_sends_a_reward_of_abc_but_our_validation_refuses_it(client, fake_mturk):
    with pytest.raises(ClientError) as caught:
        client.create_hit_type(Title="t", Description="d", Reward="abc", AssignmentDurationInSeconds=60)
    assert fake_mturk.requests == ["CreateHITType"]  # it went over the wire: botocore let it through
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(mturk.MTurkValidationError, match="Reward"):
        mturk.hit_type_create(client, spec(reward="abc"))
    assert fake_mturk.requests == ["CreateHITType"]  # ours never left the process


@pytest.mark.parametrize(
    "reward",
    [
        "abc",
        "0.5",
        "-1",
        "-1.00",
        "0.00",
        "1e2",
        " 0.50",
        "1000.00",
        0.5,
        1,
        True,
        Decimal("0.005"),
        Decimal("NaN"),
    ],
)
def test_a_reward_that_is_not_exact_cents_within_bounds_is_refused(reward):
    with pytest.raises(mturk.MTurkValidationError) as caught:
        mturk.validate_reward(reward)
    assert caught.value.field == "Reward" and isinstance(caught.value, ValueError)


def test_a_reward_in_exact_cents_comes_out_in_mturks_form():
    assert mturk.validate_reward("0.50") == "0.50"
    assert mturk.validate_reward(Decimal("0.5")) == "0.50"
    assert mturk.validate_reward(Decimal("12")) == "12.00"


def test_botocore_sends_comparator_greater_or_equal_sign_but_a_qualification_refuses_it(client, fake_mturk):
    requirement = {
        "QualificationTypeId": mturk.APPROVAL_RATE_TYPE_ID,
        "Comparator": ">=",
        "IntegerValues": [98],
    }
    with pytest.raises(ClientError):
        client.create_hit_type(
            Title="t", Description="d", Reward="0.50", AssignmentDurationInSeconds=60,
            QualificationRequirements=[requirement],
        )  # fmt: skip
    assert fake_mturk.requests == ["CreateHITType"]
    with pytest.raises(mturk.MTurkValidationError, match="Comparator"):
        mturk.Qualification(mturk.APPROVAL_RATE_TYPE_ID, ">=", (98,))


def test_botocore_sends_max_results_500_but_our_listing_asks_for_100_at_most(client, fake_mturk):
    hit = publish(client)
    with pytest.raises(ClientError) as caught:
        client.list_assignments_for_hit(HITId=hit["HITId"], MaxResults=500)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(mturk.MTurkValidationError, match="MaxResults"):
        mturk.validate_max_results(500)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((mturk.APPROVAL_RATE_TYPE_ID, "GreaterThanOrEqualTo", (101,)), "IntegerValues"),
        ((mturk.APPROVAL_RATE_TYPE_ID, "GreaterThanOrEqualTo", ()), "Comparator"),
        ((mturk.APPROVAL_RATE_TYPE_ID, "Exists", (1,)), "Comparator"),
        ((mturk.LOCALE_TYPE_ID, "EqualTo", (), ("usa",)), "LocaleValues"),
        ((mturk.LOCALE_TYPE_ID, "EqualTo", (), ("US-Washington",)), "LocaleValues"),
        ((mturk.LOCALE_TYPE_ID, "GreaterThan", (), ("US",)), "Comparator"),
        ((mturk.NUMBER_APPROVED_TYPE_ID, "EqualTo", (), ("US",)), "LocaleValues"),
        ((mturk.APPROVAL_RATE_TYPE_ID, "GreaterThan", (True,)), "IntegerValues"),
    ],
)
def test_a_qualification_mturk_would_refuse_cannot_be_built(args, field):
    with pytest.raises(mturk.MTurkValidationError) as caught:
        mturk.Qualification(*args)
    assert caught.value.field == field


def test_locales_take_a_country_and_an_optional_subdivision():
    requirement = mturk.Qualification(mturk.LOCALE_TYPE_ID, "In", locales=("US-WA", "GB")).as_request()
    assert requirement["LocaleValues"] == [{"Country": "US", "Subdivision": "WA"}, {"Country": "GB"}]
    assert requirement["ActionsGuarded"] == "Accept" and "IntegerValues" not in requirement


def test_default_qualifications_gate_on_approval_history_and_country():
    requests = [q.as_request() for q in mturk.default_qualifications(live=True, locales=("US", "CA"))]
    assert requests[0] == {
        "QualificationTypeId": "000000000000000000L0",
        "Comparator": "GreaterThanOrEqualTo",
        "IntegerValues": [98],
        "ActionsGuarded": "Accept",
    }
    assert requests[1]["QualificationTypeId"] == "00000000000000000040" and requests[1]["IntegerValues"] == [
        500
    ]
    assert requests[2]["Comparator"] == "In" and len(requests) == 3  # no Masters unless asked for


def test_masters_uses_the_sandboxs_own_masters_type_in_the_sandbox():
    live = mturk.default_qualifications(live=True, masters=True)[-1]
    sandbox = mturk.default_qualifications(live=False, masters=True)[-1]
    assert (live.type_id, live.comparator) == ("2F1QJWKUDD8XADTFD2Q0G6UTO95ALH", "Exists")
    assert sandbox.type_id == "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"assignment_duration_s": 29}, "AssignmentDurationInSeconds"),
        ({"assignment_duration_s": 365 * 86400 + 1}, "AssignmentDurationInSeconds"),
        ({"auto_approval_delay_s": 30 * 86400 + 1}, "AutoApprovalDelayInSeconds"),
        ({"auto_approval_delay_s": -1}, "AutoApprovalDelayInSeconds"),
        ({"title": "x" * 129}, "Title"),
        ({"title": "  "}, "Title"),
        ({"description": "x" * 2001}, "Description"),
        ({"keywords": "x" * 1001}, "Keywords"),
    ],
)
def test_a_hit_type_outside_mturks_limits_cannot_be_built(changes, field):
    with pytest.raises(mturk.MTurkValidationError) as caught:
        spec(**changes)
    assert caught.value.field == field


# --- HIT types and HITs -----------------------------------------------------------------------------------


def test_the_same_hit_type_values_give_the_same_hit_type_id(client):
    assert mturk.hit_type_create(client, spec()) == mturk.hit_type_create(client, spec())
    assert mturk.hit_type_create(client, spec(reward="0.60")) != mturk.hit_type_create(client, spec())


def test_a_published_hit_carries_its_type_expiration_and_assignments(client):
    hit = publish(client, annotation="study 7 / batch 1")
    assert hit["HITTypeId"] == mturk.hit_type_create(client, spec())
    assert hit["MaxAssignments"] == 9 and hit["HITStatus"] == "Assignable"
    assert hit["Expiration"].tzinfo is not None
    assert mturk.hit_get(client, hit_id=hit["HITId"])["RequesterAnnotation"] == "study 7 / batch 1"


def test_creating_a_hit_twice_with_the_same_token_returns_the_same_hit(client, fake_mturk):
    first = publish(client, token="study-7-hit-1")
    again = publish(client, token="study-7-hit-1")
    assert again["HITId"] == first["HITId"]
    assert len(fake_mturk.hits) == 1
    assert publish(client, token="study-7-hit-2")["HITId"] != first["HITId"]


def test_a_hit_whose_answer_was_lost_is_not_created_twice_by_the_retry(fake_mturk):
    client = mturk.make_client(
        live=False,
        endpoint_url=fake_mturk.endpoint_url,
        access_key_id="a",
        secret_access_key="b",
        max_attempts=1,
    )
    fake_mturk.lose_next_response("CreateHITWithHITType")
    with pytest.raises(mturk.MTurkError) as caught:
        publish(client, token="study-7-hit-1")
    assert caught.value.kind == "ServiceFault" and caught.value.retryable
    assert len(fake_mturk.hits) == 1  # it was created all the same
    hit = publish(client, token="study-7-hit-1")
    assert list(fake_mturk.hits) == [hit["HITId"]]


def test_a_bonus_whose_answer_was_lost_is_paid_once_by_the_retry(client, fake_mturk):
    hit = publish(client)
    assignment_id = submitted(fake_mturk, hit["HITId"], "AWORKER1")
    kwargs = {
        "worker_id": "AWORKER1",
        "assignment_id": assignment_id,
        "amount": "1.00",
        "reason": "Thank you",
        "unique_request_token": "b-1",
    }
    fake_mturk.lose_next_response("SendBonus")
    mturk.bonus_send(client, **kwargs)  # botocore retries the 500 itself, with the same token
    assert fake_mturk.requests.count("SendBonus") == 2 and len(fake_mturk.bonuses) == 1


def test_a_repeated_token_whose_error_does_not_name_the_hit_is_resolved_by_annotation(fake_mturk, client):
    fake_mturk.name_hit_in_token_error = False
    first = publish(client, token="t-1", annotation="study-7/hit-1")
    assert publish(client, token="t-1", annotation="study-7/hit-1")["HITId"] == first["HITId"]
    assert "ListHITs" in fake_mturk.requests and len(fake_mturk.hits) == 1


def test_a_repeated_token_that_cannot_be_traced_to_a_hit_is_an_error_not_a_second_hit(fake_mturk, client):
    fake_mturk.name_hit_in_token_error = False
    publish(client, token="t-1")
    with pytest.raises(mturk.MTurkError) as caught:
        publish(client, token="t-1")
    assert caught.value.code == "HitAlreadyExists" and len(fake_mturk.hits) == 1


def test_hit_create_requires_a_token_and_bounded_values(client, fake_mturk):
    hit_type_id = mturk.hit_type_create(client, spec())
    question = mturk.external_question_xml(PAGE)
    base = {"hit_type_id": hit_type_id, "question_xml": question, "max_assignments": 3, "lifetime_s": 3600}
    for bad, field in [
        ({"unique_request_token": ""}, "UniqueRequestToken"),
        ({"unique_request_token": "x" * 65}, "UniqueRequestToken"),
        ({"unique_request_token": "t", "max_assignments": 0}, "MaxAssignments"),
        ({"unique_request_token": "t", "lifetime_s": 10}, "LifetimeInSeconds"),
        ({"unique_request_token": "t", "annotation": "x" * 256}, "RequesterAnnotation"),
    ]:
        with pytest.raises(mturk.MTurkValidationError) as caught:
            mturk.hit_create(client, **{**base, **bad})
        assert caught.value.field == field
    assert fake_mturk.requests == ["CreateHITType"]


def test_extending_a_hit_below_ten_to_ten_or_more_is_refused_with_a_clear_error(client, fake_mturk):
    hit = publish(client, max_assignments=9)
    with pytest.raises(mturk.MTurkError) as caught:
        mturk.hit_extend(
            client, hit_id=hit["HITId"], extra_assignments=1, unique_request_token="x1", current_max=9
        )
    assert caught.value.code == "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"
    assert "fewer than 10" in str(caught.value) and "Publish another HIT" in str(caught.value)
    assert "CreateAdditionalAssignmentsForHIT" not in fake_mturk.requests
    with pytest.raises(ClientError) as direct:  # the service refuses it too
        client.create_additional_assignments_for_hit(HITId=hit["HITId"], NumberOfAdditionalAssignments=1)
    assert direct.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"


def test_extending_a_hit_twice_with_the_same_token_adds_the_assignments_once(client):
    hit = publish(client, max_assignments=5)
    for _ in range(2):
        mturk.hit_extend(
            client, hit_id=hit["HITId"], extra_assignments=3, unique_request_token="x1", current_max=5
        )
    assert mturk.hit_get(client, hit_id=hit["HITId"])["MaxAssignments"] == 8


def test_an_expired_hit_takes_no_new_worker_but_keeps_its_accepted_ones(client, fake_mturk):
    hit = publish(client)
    working = fake_mturk.worker_accept(hit["HITId"], "AWORKER1")
    mturk.hit_expire(client, hit_id=hit["HITId"])
    mturk.hit_expire(client, hit_id=hit["HITId"])  # harmless twice
    with pytest.raises(WorkerRefused, match="expired"):
        fake_mturk.worker_accept(hit["HITId"], "AWORKER2")
    assert mturk.hit_get(client, hit_id=hit["HITId"])["HITStatus"] == "Unassignable"
    fake_mturk.worker_submit(working, {"rating": "3"})
    assert mturk.hit_get(client, hit_id=hit["HITId"])["HITStatus"] == "Reviewable"


# --- workers and assignments ------------------------------------------------------------------------------


def test_a_worker_gets_one_assignment_per_hit_and_a_full_hit_takes_nobody(client, fake_mturk):
    hit = publish(client, max_assignments=2)
    first = fake_mturk.worker_accept(hit["HITId"], "AWORKER1")
    with pytest.raises(WorkerRefused, match="already has"):
        fake_mturk.worker_accept(hit["HITId"], "AWORKER1")
    fake_mturk.worker_accept(hit["HITId"], "AWORKER2")
    with pytest.raises(WorkerRefused, match="no assignment left"):
        fake_mturk.worker_accept(hit["HITId"], "AWORKER3")
    fake_mturk.worker_return(first)
    fake_mturk.worker_accept(hit["HITId"], "AWORKER3")  # a returned assignment frees its place
    assert mturk.hit_get(client, hit_id=hit["HITId"])["NumberOfAssignmentsPending"] == 2


def test_listing_follows_pages_and_returns_more_than_100_assignments_exactly_once(client, fake_mturk):
    hit = publish(client, max_assignments=250)
    ids = {submitted(fake_mturk, hit["HITId"], f"AWORKER{i}") for i in range(250)}
    listed = mturk.assignments_list(client, hit_id=hit["HITId"])
    assert len(listed) == 250 and {a["AssignmentId"] for a in listed} == ids
    assert fake_mturk.requests.count("ListAssignmentsForHIT") == 3


def test_listing_filters_by_status_and_leaves_out_unsubmitted_work(client, fake_mturk):
    hit = publish(client)
    approved = submitted(fake_mturk, hit["HITId"], "AWORKER1")
    waiting = submitted(fake_mturk, hit["HITId"], "AWORKER2")
    fake_mturk.worker_accept(hit["HITId"], "AWORKER3")  # still working: MTurk does not list it
    mturk.assignment_approve(client, assignment_id=approved)
    assert [
        a["AssignmentId"] for a in mturk.assignments_list(client, hit_id=hit["HITId"], statuses=["Submitted"])
    ] == [waiting]
    assert len(mturk.assignments_list(client, hit_id=hit["HITId"])) == 2
    with pytest.raises(mturk.MTurkValidationError):
        mturk.assignments_list(client, hit_id=hit["HITId"], statuses=["Accepted"])


def test_approving_twice_is_a_no_op_and_pays_once(client, fake_mturk):
    hit = publish(client)
    assignment_id = submitted(fake_mturk, hit["HITId"])
    mturk.assignment_approve(client, assignment_id=assignment_id, feedback="Thanks!")
    mturk.assignment_approve(client, assignment_id=assignment_id)
    assert fake_mturk.assignments[assignment_id]["AssignmentStatus"] == "Approved"
    assert mturk.account_balance(client) == Decimal("9999.50")


def test_approving_a_rejected_assignment_needs_override_rejection(client, fake_mturk):
    hit = publish(client)
    assignment_id = submitted(fake_mturk, hit["HITId"])
    mturk.assignment_reject(client, assignment_id=assignment_id, feedback="All ratings were identical.")
    with pytest.raises(mturk.MTurkError, match="status"):
        mturk.assignment_approve(client, assignment_id=assignment_id)
    mturk.assignment_approve(client, assignment_id=assignment_id, override_rejection=True)
    assert fake_mturk.assignments[assignment_id]["AssignmentStatus"] == "Approved"


def test_rejecting_needs_feedback_and_is_idempotent(client, fake_mturk):
    hit = publish(client)
    assignment_id = submitted(fake_mturk, hit["HITId"])
    for feedback in ("", "   ", "x" * 1025):
        with pytest.raises(mturk.MTurkValidationError, match="RequesterFeedback"):
            mturk.assignment_reject(client, assignment_id=assignment_id, feedback=feedback)
    assert "RejectAssignment" not in fake_mturk.requests
    mturk.assignment_reject(client, assignment_id=assignment_id, feedback="Failed the attention checks.")
    mturk.assignment_reject(client, assignment_id=assignment_id, feedback="Failed the attention checks.")
    assert fake_mturk.assignments[assignment_id]["AssignmentStatus"] == "Rejected"


def test_rejecting_an_approved_assignment_is_an_error(client, fake_mturk):
    hit = publish(client)
    assignment_id = submitted(fake_mturk, hit["HITId"])
    mturk.assignment_approve(client, assignment_id=assignment_id)
    with pytest.raises(mturk.MTurkError) as caught:
        mturk.assignment_reject(client, assignment_id=assignment_id, feedback="too late")
    assert caught.value.code == "AWS.MechanicalTurk.InvalidAssignmentState"
    assert fake_mturk.assignments[assignment_id]["AssignmentStatus"] == "Approved"


def test_submitted_work_is_approved_automatically_after_the_delay(client, fake_mturk):
    hit = publish(client)
    assignment_id = submitted(fake_mturk, hit["HITId"])
    fake_mturk.advance(3 * 86400 + 1)
    assert mturk.assignments_list(client, hit_id=hit["HITId"])[0]["AssignmentStatus"] == "Approved"
    mturk.assignment_approve(client, assignment_id=assignment_id)  # a late approval is still a no-op


def test_sending_a_bonus_twice_with_the_same_token_pays_once(client, fake_mturk):
    hit = publish(client)
    assignment_id = submitted(fake_mturk, hit["HITId"], "AWORKER1")
    kwargs = {
        "worker_id": "AWORKER1",
        "assignment_id": assignment_id,
        "amount": Decimal("0.25"),
        "reason": "Careful ratings, thank you.",
        "unique_request_token": f"bonus-{assignment_id}",
    }
    assert mturk.bonus_send(client, **kwargs) is True
    assert mturk.bonus_send(client, **kwargs) is False
    assert [b["BonusAmount"] for b in fake_mturk.bonuses] == ["0.25"]
    with pytest.raises(mturk.MTurkValidationError, match="Reason"):
        mturk.bonus_send(client, **{**kwargs, "reason": "", "unique_request_token": "other"})
    with pytest.raises(mturk.MTurkValidationError, match="BonusAmount"):
        mturk.bonus_send(client, **{**kwargs, "amount": 0.25, "unique_request_token": "other"})


def test_a_blocked_worker_cannot_accept_and_blocking_twice_is_harmless(client, fake_mturk):
    hit = publish(client)
    mturk.worker_block(client, worker_id="AWORKER9", reason="Random answers in study 6")
    mturk.worker_block(client, worker_id="AWORKER9", reason="Random answers in study 6")
    with pytest.raises(WorkerRefused, match="blocked"):
        fake_mturk.worker_accept(hit["HITId"], "AWORKER9")
    assert client.list_worker_blocks()["WorkerBlocks"] == [
        {"WorkerId": "AWORKER9", "Reason": "Random answers in study 6"}
    ]


# --- the worker's form post -------------------------------------------------------------------------------


def post(url: str, fields: dict[str, str] | None, *, method: str = "POST") -> tuple[int, str]:
    data = urllib.parse.urlencode(fields or {})
    if method == "GET":
        request = urllib.request.Request(f"{url}?{data}")
    else:
        request = urllib.request.Request(url, data=data.encode(), method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_post_to_external_submit_marks_the_assignment_submitted_with_the_form_as_answer(client, fake_mturk):
    hit = publish(client)
    assignment_id = fake_mturk.worker_accept(hit["HITId"], "AWORKER1")
    frame = urllib.parse.parse_qs(
        urllib.parse.urlsplit(fake_mturk.frame_url(hit["HITId"], assignment_id)).query
    )
    assert frame["workerId"] == ["AWORKER1"] and frame["turkSubmitTo"] == [fake_mturk.endpoint_url]
    status, page = post(
        frame["turkSubmitTo"][0] + "/mturk/externalSubmit",
        {"assignmentId": assignment_id, "ratings": "4,5,3", "comment": "café & <b>"},
    )
    assert status == 200 and "submitted" in page
    [assignment] = mturk.assignments_list(client, hit_id=hit["HITId"])
    assert assignment["AssignmentStatus"] == "Submitted" and assignment["WorkerId"] == "AWORKER1"
    assert mturk.answers_parse(assignment["Answer"]) == {"ratings": "4,5,3", "comment": "café & <b>"}


def test_external_submit_accepts_a_get_as_mturk_does(fake_mturk, client):
    hit = publish(client)
    assignment_id = fake_mturk.worker_accept(hit["HITId"], "AWORKER1")
    status, _ = post(
        fake_mturk.external_submit_url, {"assignmentId": assignment_id, "done": "1"}, method="GET"
    )
    assert status == 200 and fake_mturk.assignments[assignment_id]["AssignmentStatus"] == "Submitted"


def test_external_submit_refuses_a_post_without_assignment_id_or_without_answers(fake_mturk, client):
    hit = publish(client)
    assignment_id = fake_mturk.worker_accept(hit["HITId"], "AWORKER1")
    assert post(fake_mturk.external_submit_url, None)[0] == 400
    assert post(fake_mturk.external_submit_url, {"assignmentId": assignment_id})[0] == 400
    assert post(fake_mturk.external_submit_url, {"rating": "4"})[0] == 400
    assert fake_mturk.assignments[assignment_id]["AssignmentStatus"] == "Accepted"
    assert post(fake_mturk.external_submit_url, {"assignmentId": assignment_id, "rating": "4"})[0] == 200
    assert post(fake_mturk.external_submit_url, {"assignmentId": assignment_id, "rating": "5"})[0] == 400


def test_a_preview_frame_has_no_assignment_and_no_worker(client, fake_mturk):
    hit = publish(client)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(fake_mturk.frame_url(hit["HITId"])).query)
    assert query["assignmentId"] == [mturk.PREVIEW_ASSIGNMENT_ID] and "workerId" not in query
    assert query["token"] == ["a"] and query["b"] == ["c"]  # the page's own query survives


# --- cost -------------------------------------------------------------------------------------------------


def test_nine_assignments_per_hit_pay_the_base_fee_only():
    cost = mturk.cost_estimate(reward="0.50", hits=1, assignments_per_hit=9)
    assert cost == mturk.CostEstimate(Decimal("4.50"), Decimal("0.00"), Decimal("0.90"), Decimal("5.40"))


def test_ten_assignments_per_hit_add_twenty_percent_of_the_reward():
    cost = mturk.cost_estimate(reward="0.50", hits=1, assignments_per_hit=10)
    assert (cost.reward_total, cost.fee_total, cost.total) == (
        Decimal("5.00"),
        Decimal("2.00"),
        Decimal("7.00"),
    )


def test_masters_adds_five_percent_of_the_reward_rounded_half_up_per_assignment():
    cost = mturk.cost_estimate(reward="0.50", hits=2, assignments_per_hit=10, masters=True)
    assert cost.fee_total == Decimal("4.60")  # 45 % of 0.50 = 0.225 -> 0.23, times 20 assignments
    assert cost.total == Decimal("14.60")


def test_bonuses_pay_the_base_fee_and_every_fee_is_at_least_a_cent():
    cost = mturk.cost_estimate(
        reward="0.01", hits=3, assignments_per_hit=3, bonus_per_assignment=Decimal("0.10")
    )
    assert cost.reward_total == Decimal("0.09") and cost.bonus_total == Decimal("0.90")
    assert cost.fee_total == Decimal("0.27")  # (0.01 minimum on the reward + 0.02 on the bonus) x 9
    assert cost.total == Decimal("1.26")
    assert mturk.cost_estimate(reward="0.50", hits=1, assignments_per_hit=9, fee_percent=0).fee_total == 0


def test_the_cost_estimate_refuses_float_money():
    with pytest.raises(mturk.MTurkValidationError):
        mturk.cost_estimate(reward=0.5, hits=1, assignments_per_hit=9)
    with pytest.raises(mturk.MTurkValidationError):
        mturk.cost_estimate(reward="0.50", hits=1, assignments_per_hit=9, bonus_per_assignment=0.1)
