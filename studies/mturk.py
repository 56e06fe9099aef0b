"""Our Mechanical Turk requester layer: one boto3 `mturk` client, validated inputs, idempotent calls.

Django-free on purpose: callers pass settings values in (MTURK_LIVE, MTURK_ENDPOINT_URL,
MTURK_FEE_PERCENT ...), so the module runs the same in a view, a celery task and a test against the
offline fake endpoint.

Why a layer at all: botocore checks request *shapes* against the service model but not patterns or
ranges, so it sends Reward "abc", Comparator ">=" or MaxResults 500 and the error only comes back from
the live service (or worse, a valid but wrong value such as a reward in cents goes through). Every
value that costs money or reaches workers is checked here first, and every call that pays or creates
something can be retried after a timeout without doing it twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
REGION = "us-east-1"  # the only region the requester API runs in

# System qualification types, the same ids on live and sandbox except Masters.
APPROVAL_RATE_TYPE_ID = "000000000000000000L0"  # PercentAssignmentsApproved
NUMBER_APPROVED_TYPE_ID = "00000000000000000040"  # NumberHITsApproved
LOCALE_TYPE_ID = "00000000000000000071"  # Worker_Locale
MASTERS_TYPE_ID = "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH"
SANDBOX_MASTERS_TYPE_ID = "2ARFPLSP75KLA8M8DH1HTEQVJT3SY6"

# What MTurk puts in `assignmentId` while a worker only previews the HIT (no workerId either).
PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"

EXTERNAL_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
)
QUESTION_MAX_BYTES = 65535

COMPARATORS = frozenset(
    {
        "LessThan", "LessThanOrEqualTo", "GreaterThan", "GreaterThanOrEqualTo", "EqualTo", "NotEqualTo",
        "Exists", "DoesNotExist", "In", "NotIn",
    }
)  # fmt: skip
LOCALE_COMPARATORS = frozenset({"EqualTo", "NotEqualTo", "In", "NotIn"})
ACTIONS_GUARDED = frozenset({"Accept", "PreviewAndAccept", "DiscoverPreviewAndAccept"})
ASSIGNMENT_STATUSES = frozenset({"Submitted", "Approved", "Rejected"})

# Limits the service enforces (or documents) but botocore does not check before sending.
MIN_REWARD = Decimal("0.01")
MAX_REWARD = Decimal("100.00")  # ours, not MTurk's: a guard against cents typed as dollars
MIN_DURATION_S = 30
MAX_DURATION_S = 365 * 24 * 3600
MAX_AUTO_APPROVAL_DELAY_S = 30 * 24 * 3600
TITLE_MAX = 128
DESCRIPTION_MAX = 2000
KEYWORDS_MAX = 1000
ANNOTATION_MAX = 255
FEEDBACK_MAX = 1024
TOKEN_MAX = 64
MAX_RESULTS = 100
MAX_QUALIFICATIONS = 10
MAX_ASSIGNMENTS = 1_000_000
_INT32_MAX = 2**31 - 1

# A HIT created with fewer assignments than this can never be extended to this many or more, and
# reaching it costs an extra 20 % fee (see cost_estimate).
BIG_HIT_ASSIGNMENTS = 10
BIG_HIT_SURCHARGE_PERCENT = Decimal(20)
MASTERS_SURCHARGE_PERCENT = Decimal(5)
MIN_FEE = Decimal("0.01")  # MTurk's minimum commission per assignment and per bonus

# Expiring a HIT means moving its expiration into the past; a fixed date long gone is immune to
# clock skew between us and AWS.
_LONG_AGO = datetime(2015, 1, 1, tzinfo=UTC)

_REWARD_TEXT = re.compile(r"^\d+\.\d{2}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SUBDIVISION = re.compile(r"^[A-Z0-9]{2}$")
_ENTITY_ID = re.compile(r"\b[A-Z0-9]{20,64}\b")
_REPEATED_TOKEN = re.compile(r"already (exists|been processed)", re.IGNORECASE)
_WORKER_ID = re.compile(r"^A[A-Z0-9]{1,63}$")

# botocore generates client classes at run time; there is no static type to name.
MTurkClient = Any


class MTurkError(Exception):
    """A failed MTurk call, or one we refused to make.

    `code` is the most specific code available: MTurk's TurkErrorCode
    ("AWS.MechanicalTurk.HitAlreadyExists") when the service sent one, else the AWS error code
    ("RequestError", "ServiceFault", "ValidationException"), else our own ("ConnectionError", ...).
    `kind` is the AWS error type alone ("RequestError", "ServiceFault" ...), or `code` for our own.
    """

    def __init__(
        self, message: str, *, code: str = "MTurkError", operation: str = "", kind: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation
        self.kind = kind or code

    @property
    def retryable(self) -> bool:
        """ServiceFault, throttling and network failures are worth a later retry (botocore has already
        retried a few times); a RequestError or a validation error never is."""
        return self.kind in {"ServiceFault", "ThrottlingException", "ConnectionError"}


class MTurkValidationError(MTurkError, ValueError):
    """A value MTurk would refuse (or that would cost money by mistake), caught before sending."""

    def __init__(self, field_name: str, problem: str) -> None:
        super().__init__(f"{field_name}: {problem}", code="ValidationError")
        self.field = field_name


# --- the client ---------------------------------------------------------------------------------------


def endpoint_choose(*, live: bool, endpoint_url: str | None = None) -> str:
    """The endpoint to talk to: an explicit override first (offline fake in tests), then live only
    when `live` is exactly True, so that a missing or mistyped setting can never spend real money."""
    if endpoint_url:
        if not endpoint_url.startswith(("https://", "http://")):
            raise MTurkValidationError("endpoint_url", f"needs an http(s) scheme, got {endpoint_url!r}")
        return endpoint_url
    return LIVE_ENDPOINT if live is True else SANDBOX_ENDPOINT


def make_client(
    *,
    live: bool,
    endpoint_url: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    max_attempts: int = 5,
) -> MTurkClient:
    """A boto3 `mturk` client for the sandbox, or for the live marketplace when `live=True`.

    Keys left out come from boto3's usual chain (environment, shared files, instance role). Each call
    builds its own Session because boto3's module-level default session is not thread-safe, and
    celery threads and the web process share this module. Retries use botocore's "standard" mode,
    which backs off on throttling, HTTP 5xx and dropped connections; the request tokens our calls
    carry make those retries (and a caller's own later retry) safe.
    """
    session = boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=REGION
    )
    config = Config(
        region_name=REGION,
        retries={"mode": "standard", "total_max_attempts": max_attempts},  # counting the first
        connect_timeout=5,
        read_timeout=30,
    )
    return session.client(
        "mturk", endpoint_url=endpoint_choose(live=live, endpoint_url=endpoint_url), config=config
    )


@contextmanager
def _translated(operation: str) -> Iterator[None]:
    """Turns botocore's exceptions into MTurkError, so callers handle one family of errors."""
    try:
        yield
    except ClientError as exc:
        response = exc.response
        error = response.get("Error", {})
        kind = error.get("Code") or "ClientError"
        code = response.get("TurkErrorCode") or kind
        message = error.get("Message") or str(exc)
        raise MTurkError(
            f"{operation}: {message} ({code})", code=code, operation=operation, kind=kind
        ) from exc
    except ParamValidationError as exc:
        raise MTurkValidationError(operation, str(exc)) from exc
    except BotoCoreError as exc:  # EndpointConnectionError, timeouts, missing credentials
        code = "NoCredentials" if "credentials" in type(exc).__name__.lower() else "ConnectionError"
        raise MTurkError(f"{operation}: {exc}", code=code, operation=operation) from exc


def _call(method: Callable[..., dict], **params: Any) -> dict:
    operation = getattr(method, "__name__", "mturk")
    with _translated(operation):
        return method(**params)


def _is_repeated_token(error: MTurkError) -> bool:
    """Whether MTurk refused a call because its UniqueRequestToken was used before.

    MTurk documents HitAlreadyExists for CreateHIT*, and for the other token-taking operations only
    "an error with a message containing the request ID"; observed messages read 'The idempotency
    token "..." has already been processed.' Both forms are recognised.
    """
    if error.code == "AWS.MechanicalTurk.HitAlreadyExists":
        return True
    return error.kind == "RequestError" and bool(_REPEATED_TOKEN.search(str(error)))


# --- validation ---------------------------------------------------------------------------------------


def validate_reward(
    value: Decimal | str, *, field_name: str = "Reward", maximum: Decimal = MAX_REWARD
) -> str:
    """The amount in MTurk's form ("0.50"), or MTurkValidationError.

    Floats are refused: money must not pass through binary floating point (0.1 + 0.2 is not 0.30).
    A Decimal may carry any exact number of cents (Decimal("0.5") is "0.50"), never a fraction of a
    cent, which we will not round silently. A string must already be in the canonical "D.DD" form,
    because strings come from people and settings, and "0.5", "5" or ".50" are as often a slip of
    units as a price.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | str):
        raise MTurkValidationError(
            field_name, f"give a Decimal or a 'D.DD' string, not {type(value).__name__}"
        )
    if isinstance(value, str):
        if not _REWARD_TEXT.match(value):
            raise MTurkValidationError(field_name, f"{value!r} is not a dollar amount written as D.DD")
        amount = Decimal(value)
    else:
        if not value.is_finite():
            raise MTurkValidationError(field_name, f"{value} is not a finite amount")
        amount = value
        if amount != amount.quantize(Decimal("0.01")):
            raise MTurkValidationError(field_name, f"{value} has a fraction of a cent")
    if amount < MIN_REWARD:
        raise MTurkValidationError(field_name, f"{amount} is below the minimum of {MIN_REWARD}")
    if amount > maximum:
        raise MTurkValidationError(field_name, f"{amount} is above our maximum of {maximum}")
    return str(amount.quantize(Decimal("0.01")))


def validate_int(value: int, *, field_name: str, minimum: int, maximum: int) -> int:
    """An integer within [minimum, maximum]; bools and floats are refused (True is not 1 second)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MTurkValidationError(field_name, f"must be an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise MTurkValidationError(field_name, f"{value} is outside {minimum}..{maximum}")
    return value


def validate_text(value: str, *, field_name: str, maximum: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise MTurkValidationError(field_name, f"must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise MTurkValidationError(field_name, "is required")
    if len(value) > maximum:
        raise MTurkValidationError(field_name, f"is {len(value)} characters, the limit is {maximum}")
    return value


def validate_token(value: str, *, field_name: str = "UniqueRequestToken") -> str:
    """Tokens make retries safe, so they are mandatory in our calls (botocore would invent a random
    one, which defeats the purpose: a retry would carry a different token)."""
    return validate_text(value, field_name=field_name, maximum=TOKEN_MAX)


def validate_worker_id(value: str) -> str:
    if not isinstance(value, str) or not _WORKER_ID.match(value):
        raise MTurkValidationError("WorkerId", f"{value!r} is not an MTurk worker id (A followed by A-Z0-9)")
    return value


def validate_max_results(value: int) -> int:
    return validate_int(value, field_name="MaxResults", minimum=1, maximum=MAX_RESULTS)


def validate_comparator(value: str) -> str:
    if value not in COMPARATORS:
        raise MTurkValidationError("Comparator", f"{value!r} is not one of {sorted(COMPARATORS)}")
    return value


def locale_request(value: str) -> dict[str, str]:
    """A locale written "US" or "US-WA" as MTurk's Locale structure: an ISO 3166-1 alpha-2 country,
    then an optional two-character ISO 3166-2 subdivision ({"Country": "US", "Subdivision": "WA"})."""
    country, _, subdivision = value.partition("-")
    if not _COUNTRY.match(country) or (subdivision and not _SUBDIVISION.match(subdivision)):
        raise MTurkValidationError("LocaleValues", f"{value!r} is not a country code like 'US' or 'US-WA'")
    return {"Country": country, "Subdivision": subdivision} if subdivision else {"Country": country}


# --- questions and answers ------------------------------------------------------------------------------


def external_question_xml(url: str, *, frame_height: int = 0) -> str:
    """The ExternalQuestion document that frames our rating page inside MTurk.

    MTurk frames HTTPS pages only, so http:// is refused here rather than by a worker's browser.
    `&` in the query string must be escaped or the document is not XML. frame_height 0 lets MTurk
    size the frame to the window.
    """
    if not isinstance(url, str) or not url.startswith("https://") or len(url) <= len("https://"):
        raise MTurkValidationError("ExternalURL", f"must be an https:// URL, got {url!r}")
    if any(ch.isspace() for ch in url):
        raise MTurkValidationError("ExternalURL", "must not contain whitespace")
    validate_int(frame_height, field_name="FrameHeight", minimum=0, maximum=_INT32_MAX)
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}">'
        f"<ExternalURL>{escape(url)}</ExternalURL>"
        f"<FrameHeight>{frame_height}</FrameHeight>"
        "</ExternalQuestion>"
    )
    if len(document.encode("utf-8")) > QUESTION_MAX_BYTES:
        raise MTurkValidationError("Question", f"is over MTurk's limit of {QUESTION_MAX_BYTES} bytes")
    return document


def answers_parse(answer_xml: str) -> dict[str, str]:
    """An assignment's `Answer` (a QuestionFormAnswers document) as {field: value}.

    For ExternalQuestion HITs each field of the form posted to /mturk/externalSubmit becomes one
    Answer with a FreeText. Our pages never repeat a field; a hand-crafted post that does keeps its
    first value, so that reading a worker's submission never fails.
    """
    if not answer_xml:
        return {}
    try:
        root = ElementTree.fromstring(answer_xml)
    except ElementTree.ParseError as exc:
        raise MTurkError(f"Answer is not XML: {exc}", code="BadAnswer") from exc
    answers: dict[str, str] = {}
    for answer in root:
        if not answer.tag.endswith("Answer"):
            continue
        name = value = None
        for child in answer:
            if child.tag.endswith("QuestionIdentifier"):
                name = child.text or ""
            elif child.tag.endswith("FreeText"):
                value = child.text or ""
        if name is not None and name not in answers:
            answers[name] = value or ""
    return answers


# --- qualifications and HIT types -------------------------------------------------------------------------


@dataclass(frozen=True)
class Qualification:
    """One QualificationRequirement; checked when built, so a bad one never reaches MTurk.

    `integers` or `locales` per the comparator: none for Exists/DoesNotExist, one for the ordering and
    (Not)EqualTo comparators, one or more for In/NotIn. Locales only with the locale type and with
    EqualTo, NotEqualTo, In or NotIn. `actions_guarded` "Accept" lets unqualified workers see and
    preview the HIT but not take it, which keeps the study discoverable while the gate holds.
    """

    type_id: str
    comparator: str
    integers: tuple[int, ...] = ()
    locales: tuple[str, ...] = ()
    actions_guarded: str = "Accept"

    def __post_init__(self) -> None:
        validate_text(self.type_id, field_name="QualificationTypeId", maximum=64)
        validate_comparator(self.comparator)
        if self.actions_guarded not in ACTIONS_GUARDED:
            raise MTurkValidationError(
                "ActionsGuarded", f"{self.actions_guarded!r} is not one of {sorted(ACTIONS_GUARDED)}"
            )
        if self.integers and self.locales:
            raise MTurkValidationError("QualificationRequirement", "give integers or locales, not both")
        values = self.integers or self.locales
        if self.comparator in {"Exists", "DoesNotExist"}:
            if values:
                raise MTurkValidationError("Comparator", f"{self.comparator} takes no values")
        elif self.comparator in {"In", "NotIn"}:
            if not values:
                raise MTurkValidationError("Comparator", f"{self.comparator} needs at least one value")
        elif len(values) != 1:
            raise MTurkValidationError("Comparator", f"{self.comparator} needs exactly one value")
        for number in self.integers:
            top = 100 if self.type_id == APPROVAL_RATE_TYPE_ID else _INT32_MAX
            validate_int(number, field_name="IntegerValues", minimum=0, maximum=top)
        if self.locales:
            if self.type_id != LOCALE_TYPE_ID:
                raise MTurkValidationError("LocaleValues", "only the locale qualification takes locales")
            if self.comparator not in LOCALE_COMPARATORS:
                raise MTurkValidationError("Comparator", f"{self.comparator} cannot compare locales")
            for locale in self.locales:
                locale_request(locale)
        elif self.type_id == LOCALE_TYPE_ID and self.comparator not in {"Exists", "DoesNotExist"}:
            raise MTurkValidationError("LocaleValues", "the locale qualification compares locales")

    def as_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "QualificationTypeId": self.type_id,
            "Comparator": self.comparator,
            "ActionsGuarded": self.actions_guarded,
        }
        if self.integers:
            request["IntegerValues"] = list(self.integers)
        if self.locales:
            request["LocaleValues"] = [locale_request(locale) for locale in self.locales]
        return request


def masters_type_id(*, live: bool) -> str:
    return MASTERS_TYPE_ID if live else SANDBOX_MASTERS_TYPE_ID


def default_qualifications(
    *,
    live: bool,
    min_approval_rate: int | None = 98,
    min_approved: int | None = 500,
    locales: Iterable[str] = ("US",),
    masters: bool = False,
) -> list[Qualification]:
    """The usual gate for listening tests: high approval rate, enough history, chosen countries.

    The approval rate alone is weak: MTurk reports 100 % for workers with few approved HITs, so a
    minimum number approved goes with it. Masters is off by default (it adds 5 % to the fee and
    shrinks the pool); when asked for, the sandbox gets the sandbox's own Masters type, so a study is
    rehearsed in the sandbox with the exact requirements it will have live. None or () drops a gate.
    """
    requirements: list[Qualification] = []
    if min_approval_rate is not None:
        requirements.append(
            Qualification(APPROVAL_RATE_TYPE_ID, "GreaterThanOrEqualTo", (min_approval_rate,))
        )
    if min_approved is not None:
        requirements.append(Qualification(NUMBER_APPROVED_TYPE_ID, "GreaterThanOrEqualTo", (min_approved,)))
    locales = tuple(locales)
    if locales:
        comparator = "EqualTo" if len(locales) == 1 else "In"
        requirements.append(Qualification(LOCALE_TYPE_ID, comparator, locales=locales))
    if masters:
        requirements.append(Qualification(masters_type_id(live=live), "Exists"))
    return requirements


@dataclass(frozen=True)
class HitTypeSpec:
    """What workers see in search and what they are paid; HITs of one type are grouped together."""

    title: str
    description: str
    reward: Decimal | str
    assignment_duration_s: int
    auto_approval_delay_s: int
    keywords: str = ""
    qualifications: tuple[Qualification, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.as_request()  # validates

    def as_request(self) -> dict[str, Any]:
        if len(self.qualifications) > MAX_QUALIFICATIONS:
            raise MTurkValidationError("QualificationRequirements", f"at most {MAX_QUALIFICATIONS}")
        return {
            "Title": validate_text(self.title, field_name="Title", maximum=TITLE_MAX),
            "Description": validate_text(self.description, field_name="Description", maximum=DESCRIPTION_MAX),
            "Keywords": validate_text(
                self.keywords, field_name="Keywords", maximum=KEYWORDS_MAX, required=False
            ),
            "Reward": validate_reward(self.reward),
            "AssignmentDurationInSeconds": validate_int(
                self.assignment_duration_s,
                field_name="AssignmentDurationInSeconds",
                minimum=MIN_DURATION_S,
                maximum=MAX_DURATION_S,
            ),
            "AutoApprovalDelayInSeconds": validate_int(
                self.auto_approval_delay_s,
                field_name="AutoApprovalDelayInSeconds",
                minimum=0,
                maximum=MAX_AUTO_APPROVAL_DELAY_S,
            ),
            "QualificationRequirements": [q.as_request() for q in self.qualifications],
        }


def hit_type_create(client: MTurkClient, spec: HitTypeSpec) -> str:
    """The HITTypeId for `spec`. Safe to repeat: MTurk answers identical values with the same id."""
    return _call(client.create_hit_type, **spec.as_request())["HITTypeId"]


# --- HITs -----------------------------------------------------------------------------------------------


def hit_get(client: MTurkClient, *, hit_id: str) -> dict[str, Any]:
    return _call(client.get_hit, HITId=hit_id)["HIT"]


def hits_list(client: MTurkClient) -> list[dict[str, Any]]:
    """Every HIT of the account, all pages (MTurk keeps them until deleted or 120 days old)."""
    return list(_pages(client.list_hits, "HITs"))


def hit_create(
    client: MTurkClient,
    *,
    hit_type_id: str,
    question_xml: str,
    max_assignments: int,
    lifetime_s: int,
    unique_request_token: str,
    annotation: str = "",
) -> dict[str, Any]:
    """Publishes one HIT and returns it (HITId, HITTypeId, Expiration, MaxAssignments ...).

    Idempotent on `unique_request_token`: after a timeout the caller retries with the same token and
    gets the HIT the first call made. MTurk answers a repeated token with an error
    (AWS.MechanicalTurk.HitAlreadyExists) whose message names the existing HIT; we read the id from it
    and fetch the HIT. If the message does not name it, the HIT is looked up by its annotation, which
    is why callers should give an annotation unique to the HIT. MTurk remembers tokens for 24 hours.
    """
    validate_int(max_assignments, field_name="MaxAssignments", minimum=1, maximum=MAX_ASSIGNMENTS)
    validate_int(lifetime_s, field_name="LifetimeInSeconds", minimum=MIN_DURATION_S, maximum=MAX_DURATION_S)
    validate_token(unique_request_token)
    validate_text(annotation, field_name="RequesterAnnotation", maximum=ANNOTATION_MAX, required=False)
    if len(question_xml.encode("utf-8")) > QUESTION_MAX_BYTES:
        raise MTurkValidationError("Question", f"is over MTurk's limit of {QUESTION_MAX_BYTES} bytes")
    params: dict[str, Any] = {
        "HITTypeId": hit_type_id,
        "Question": question_xml,
        "MaxAssignments": max_assignments,
        "LifetimeInSeconds": lifetime_s,
        "UniqueRequestToken": unique_request_token,
    }
    if annotation:
        params["RequesterAnnotation"] = annotation
    try:
        return _call(client.create_hit_with_hit_type, **params)["HIT"]
    except MTurkError as error:
        if not _is_repeated_token(error):
            raise
        return _hit_of_repeated_token(
            client, error, hit_type_id=hit_type_id, token=unique_request_token, annotation=annotation
        )


def _hit_of_repeated_token(
    client: MTurkClient, error: MTurkError, *, hit_type_id: str, token: str, annotation: str
) -> dict[str, Any]:
    for candidate in _ENTITY_ID.findall(str(error)):
        if candidate in {token, hit_type_id}:
            continue
        try:
            hit = hit_get(client, hit_id=candidate)
        except MTurkError:
            continue  # some other id in the message (a request id), not a HIT
        if hit["HITTypeId"] != hit_type_id:
            raise MTurkError(
                f"token {token!r} was already used for HIT {candidate} of another HIT type",
                code="TokenReused",
                operation=error.operation,
            ) from error
        return hit
    if annotation:
        matches = [
            hit
            for hit in hits_list(client)
            if hit.get("RequesterAnnotation") == annotation and hit["HITTypeId"] == hit_type_id
        ]
        if len(matches) == 1:
            return matches[0]
    raise MTurkError(
        f"MTurk says token {token!r} was used before but does not say for which HIT: {error}",
        code="HitAlreadyExists",
        operation=error.operation,
    ) from error


def hit_extend(
    client: MTurkClient, *, hit_id: str, extra_assignments: int, unique_request_token: str, current_max: int
) -> None:
    """Adds assignments to a HIT; a repeated token is a no-op (the first call did it).

    MTurk refuses to take a HIT created with fewer than 10 assignments to 10 or more (the 10+ fee
    would otherwise be avoidable); we refuse first, with a message that says what to do instead.
    """
    validate_int(
        extra_assignments, field_name="NumberOfAdditionalAssignments", minimum=1, maximum=MAX_ASSIGNMENTS
    )
    validate_int(current_max, field_name="current_max", minimum=1, maximum=MAX_ASSIGNMENTS)
    validate_token(unique_request_token)
    if current_max < BIG_HIT_ASSIGNMENTS <= current_max + extra_assignments:
        raise MTurkError(
            f"HIT {hit_id} has {current_max} assignments; MTurk cannot extend a HIT made with fewer than "
            f"{BIG_HIT_ASSIGNMENTS} to {current_max + extra_assignments}. Publish another HIT instead.",
            code="AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
            operation="create_additional_assignments_for_hit",
        )
    try:
        _call(
            client.create_additional_assignments_for_hit,
            HITId=hit_id,
            NumberOfAdditionalAssignments=extra_assignments,
            UniqueRequestToken=unique_request_token,
        )
    except MTurkError as error:
        if not _is_repeated_token(error):
            raise


def hit_expire(client: MTurkClient, *, hit_id: str) -> None:
    """Stops a HIT taking new workers: MTurk's documented way is an expiration in the past. Workers
    already at work may still submit. Repeating it is harmless."""
    _call(client.update_expiration_for_hit, HITId=hit_id, ExpireAt=_LONG_AGO)


# --- assignments, workers, money --------------------------------------------------------------------------


def _pages(method: Callable[..., dict], key: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a NextToken-paginated listing, 100 a page (MTurk's maximum)."""
    params["MaxResults"] = validate_max_results(MAX_RESULTS)
    seen: set[str] = set()
    while True:
        page = _call(method, **params)
        yield from page.get(key, [])
        token = page.get("NextToken")
        if not token or not page.get(key):
            return
        if token in seen:
            raise MTurkError(f"pagination repeats token {token!r}", code="BadPagination")
        seen.add(token)
        params["NextToken"] = token


def assignments_list(
    client: MTurkClient, *, hit_id: str, statuses: Iterable[str] = ("Submitted", "Approved", "Rejected")
) -> list[dict[str, Any]]:
    """All assignments of a HIT in the given states, across every page. Accepted but unsubmitted
    assignments are never listed by MTurk (the HIT's NumberOfAssignmentsPending counts them)."""
    statuses = list(statuses)
    for status in statuses:
        if status not in ASSIGNMENT_STATUSES:
            raise MTurkValidationError(
                "AssignmentStatuses", f"{status!r} is not one of {sorted(ASSIGNMENT_STATUSES)}"
            )
    return list(
        _pages(client.list_assignments_for_hit, "Assignments", HITId=hit_id, AssignmentStatuses=statuses)
    )


def assignment_get(client: MTurkClient, *, assignment_id: str) -> dict[str, Any]:
    return _call(client.get_assignment, AssignmentId=assignment_id)["Assignment"]


def _review_error_settled(client: MTurkClient, error: MTurkError, *, assignment_id: str, target: str) -> bool:
    """After a refused approve/reject: True when the assignment is already in `target` (a retry of a
    call that went through), so the refusal can be ignored. We look at the assignment rather than
    parse the message, whose wording MTurk does not document."""
    if error.kind != "RequestError":
        return False
    try:
        return assignment_get(client, assignment_id=assignment_id).get("AssignmentStatus") == target
    except MTurkError:
        return False


def assignment_approve(
    client: MTurkClient, *, assignment_id: str, feedback: str = "", override_rejection: bool = False
) -> None:
    """Pays the worker. Approving an approved assignment is a no-op, so a retry is safe; a rejected
    one needs `override_rejection=True` (MTurk allows it within 30 days of submission)."""
    validate_text(feedback, field_name="RequesterFeedback", maximum=FEEDBACK_MAX, required=False)
    params: dict[str, Any] = {"AssignmentId": assignment_id, "OverrideRejection": override_rejection}
    if feedback:
        params["RequesterFeedback"] = feedback
    try:
        _call(client.approve_assignment, **params)
    except MTurkError as error:
        if not _review_error_settled(client, error, assignment_id=assignment_id, target="Approved"):
            raise


def assignment_reject(client: MTurkClient, *, assignment_id: str, feedback: str) -> None:
    """Refuses payment, which hurts the worker's approval rate: the worker must be told why, so
    feedback is required. Rejecting a rejected assignment is a no-op; an approved one stays approved
    and this raises."""
    validate_text(feedback, field_name="RequesterFeedback", maximum=FEEDBACK_MAX)
    try:
        _call(client.reject_assignment, AssignmentId=assignment_id, RequesterFeedback=feedback)
    except MTurkError as error:
        if not _review_error_settled(client, error, assignment_id=assignment_id, target="Rejected"):
            raise


def worker_block(client: MTurkClient, *, worker_id: str, reason: str) -> None:
    """Keeps a worker out of all our HITs. The reason is for our records (workers do not see it);
    blocking twice just keeps the worker blocked."""
    validate_worker_id(worker_id)
    validate_text(reason, field_name="Reason", maximum=FEEDBACK_MAX)
    _call(client.create_worker_block, WorkerId=worker_id, Reason=reason)


def bonus_send(
    client: MTurkClient,
    *,
    worker_id: str,
    assignment_id: str,
    amount: Decimal | str,
    reason: str,
    unique_request_token: str,
) -> bool:
    """Pays a bonus; True if paid now, False if this token already paid it (a retry after a
    timeout). The worker sees the reason, so it is required."""
    params = {
        "WorkerId": validate_worker_id(worker_id),
        "AssignmentId": validate_text(assignment_id, field_name="AssignmentId", maximum=64),
        "BonusAmount": validate_reward(amount, field_name="BonusAmount"),
        "Reason": validate_text(reason, field_name="Reason", maximum=FEEDBACK_MAX),
        "UniqueRequestToken": validate_token(unique_request_token),
    }
    try:
        _call(client.send_bonus, **params)
    except MTurkError as error:
        if _is_repeated_token(error):
            return False
        raise
    return True


def account_balance(client: MTurkClient) -> Decimal:
    """Available prepaid balance in dollars (the sandbox always reports 10000.00)."""
    return Decimal(_call(client.get_account_balance)["AvailableBalance"])


# --- cost -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostEstimate:
    """Dollars, each rounded to the cent; total is the sum of the other three."""

    reward_total: Decimal
    bonus_total: Decimal
    fee_total: Decimal
    total: Decimal


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _fee(amount: Decimal, percent: Decimal) -> Decimal:
    """MTurk's commission on one payment: rounded half up to the cent, at least a cent (when any)."""
    if amount <= 0 or percent <= 0:
        return Decimal("0.00")
    return max(MIN_FEE, _cents(amount * percent / 100))


def _money(value: Decimal | str | int, field_name: str) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise MTurkValidationError(field_name, "give a Decimal, int or string, not a float")
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise MTurkValidationError(field_name, f"{value!r} is not an amount") from exc
    if not amount.is_finite() or amount < 0:
        raise MTurkValidationError(field_name, f"{value!r} is not a non-negative amount")
    return amount


def cost_estimate(
    *,
    reward: Decimal | str,
    hits: int,
    assignments_per_hit: int,
    bonus_per_assignment: Decimal | str = Decimal(0),
    fee_percent: Decimal | int = 20,
    masters: bool = False,
) -> CostEstimate:
    """What a study costs if every assignment is approved and bonused: rewards + bonuses + fees.

    MTurk's commission (its pricing page): `fee_percent` (20) of each reward and each bonus; a further
    20 % of the reward when a HIT has 10 or more assignments (why a study splits raters into HITs of
    at most 9); a further 5 % of the reward for Masters. Each fee is charged per assignment or per
    bonus, rounded half up to the cent with a minimum of $0.01, so the totals here are per-assignment
    fees times the count, as the invoice will show them. `fee_percent` comes from MTURK_FEE_PERCENT
    should MTurk change its base rate.
    """
    unit_reward = Decimal(validate_reward(reward))
    bonus = _money(bonus_per_assignment, "bonus_per_assignment")
    if bonus != _cents(bonus):
        raise MTurkValidationError("bonus_per_assignment", f"{bonus} has a fraction of a cent")
    base = _money(fee_percent, "fee_percent")
    validate_int(hits, field_name="hits", minimum=0, maximum=MAX_ASSIGNMENTS)
    validate_int(assignments_per_hit, field_name="assignments_per_hit", minimum=1, maximum=MAX_ASSIGNMENTS)
    reward_percent = base
    if assignments_per_hit >= BIG_HIT_ASSIGNMENTS:
        reward_percent += BIG_HIT_SURCHARGE_PERCENT
    if masters:
        reward_percent += MASTERS_SURCHARGE_PERCENT
    reward_fee = _fee(unit_reward, reward_percent)
    bonus_fee = _fee(bonus, base)
    count = hits * assignments_per_hit
    reward_total = _cents(unit_reward * count)
    bonus_total = _cents(bonus * count)
    fee_total = _cents((reward_fee + bonus_fee) * count)
    return CostEstimate(reward_total, bonus_total, fee_total, reward_total + bonus_total + fee_total)
