"""An offline Mechanical Turk requester endpoint for tests (moto has no MTurk).

It speaks the wire protocol the boto3 `mturk` client uses (JSON 1.1: POST / with
`X-Amz-Target: MTurkRequesterServiceV20170117.<Operation>`, SigV4-signed), so tests run the real
client: botocore's serialisation, request validation, signing and error parsing are all exercised.
Errors come back as the real service sends them: HTTP 400 with `{"__type": "RequestError" |
"ServiceFault", "Message", "TurkErrorCode"}`, or AWS's `ValidationException` for values outside the
service model (a Reward of "abc", Comparator ">=", MaxResults 500), which botocore does not check.

Workers are driven from Python (`worker_accept`, `worker_submit`, `worker_return`) or through the same
server's `/mturk/externalSubmit`, the form target MTurk gives pages as `turkSubmitTo`. Time is the
fake's own clock: `advance(seconds)` moves it, so auto-approval and expiry need no sleeping.

Behaviour follows MTurk's API reference for the fields we use; where the reference does not give an
exact message, the wording here is ours (the client under test must not depend on it, except that a
repeated CreateHIT token names the existing HIT, as documented). Fees and qualification checks on
workers are not modelled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
SUBMIT_PATH = "/mturk/externalSubmit"
ANSWERS_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
)
EXTERNAL_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd"
)
PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"

_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=[^/\s]+/\d{8}/us-east-1/mturk-requester/aws4_request,\s*"
    r"SignedHeaders=[a-z0-9;-]+,\s*Signature=[0-9a-f]{64}$"
)
_REWARD = re.compile(r"^[0-9]+(\.)?[0-9]{0,2}$")  # CurrencyAmount's pattern in the service model
_WORKER_ID = re.compile(r"^A[A-Z0-9]+$")
_COMPARATORS = {
    "LessThan", "LessThanOrEqualTo", "GreaterThan", "GreaterThanOrEqualTo", "EqualTo", "NotEqualTo",
    "Exists", "DoesNotExist", "In", "NotIn",
}  # fmt: skip
_VISIBLE = ("Submitted", "Approved", "Rejected")  # what the API lists; Accepted/Returned/Abandoned are not
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class WorkerRefused(Exception):
    """A worker action MTurk's website would not allow (full HIT, second assignment, blocked ...)."""


class _Fault(Exception):
    def __init__(self, message: str, *, turk_code: str = "", kind: str = "RequestError", status: int = 400):
        super().__init__(message)
        self.kind, self.turk_code, self.status = kind, turk_code, status


def _invalid(field: str, value: Any, constraint: str) -> _Fault:
    return _Fault(
        f"1 validation error detected: Value '{value}' at '{field}' "
        f"failed to satisfy constraint: {constraint}",
        kind="ValidationException",
    )


class FakeMTurk:
    """The fake endpoint; state is plain dicts, readable (and adjustable) from tests.

    hits: HITId -> HIT fields (API names, timestamps as epoch floats) plus a few private "_" keys.
    assignments: AssignmentId -> assignment fields; AssignmentStatus may also be the unlisted
    "Accepted", "Returned" or "Abandoned". bonuses: list of paid bonuses. blocks: WorkerId -> reason.
    requests: operation names in the order received (API calls only).
    """

    def __init__(
        self, *, balance: Decimal = Decimal("10000.00"), name_hit_in_token_error: bool = True, seed: int = 0
    ):
        self.balance = balance
        self.name_hit_in_token_error = name_hit_in_token_error
        self.hit_types: dict[str, dict[str, Any]] = {}
        self.hits: dict[str, dict[str, Any]] = {}
        self.assignments: dict[str, dict[str, Any]] = {}
        self.bonuses: list[dict[str, Any]] = []
        self.blocks: dict[str, str] = {}
        self.requests: list[str] = []
        self._tokens: dict[tuple[str, str], str] = {}
        self._lose: list[str] = []
        self._offset = 0.0
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FakeMTurk:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-mturk", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FakeMTurk:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeMTurk is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def external_submit_url(self) -> str:
        return self.endpoint_url + SUBMIT_PATH

    # --- time ------------------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Moves the fake's clock forward (auto-approval, deadlines, expiry happen as time passes)."""
        with self._lock:
            self._offset += seconds
            self._settle()

    def _settle(self) -> None:
        now = self.now()
        for a in self.assignments.values():
            if a["AssignmentStatus"] == "Submitted" and a["AutoApprovalTime"] <= now:
                a["AssignmentStatus"], a["ApprovalTime"] = "Approved", a["AutoApprovalTime"]
                self.balance -= Decimal(self.hits[a["HITId"]]["Reward"])
            elif a["AssignmentStatus"] == "Accepted" and a["Deadline"] <= now:
                a["AssignmentStatus"] = "Abandoned"

    # --- worker side -----------------------------------------------------------------------------------

    def worker_accept(self, hit_id: str, worker_id: str) -> str:
        """A worker takes one assignment of the HIT, as clicking "Accept" on the website does."""
        with self._lock:
            self._settle()
            hit = self.hits.get(hit_id)
            if hit is None:
                raise WorkerRefused(f"no HIT {hit_id}")
            if not _WORKER_ID.match(worker_id):
                raise WorkerRefused(f"{worker_id!r} is not a worker id")
            if worker_id in self.blocks:
                raise WorkerRefused(f"worker {worker_id} is blocked")
            if hit["Expiration"] <= self.now():
                raise WorkerRefused(f"HIT {hit_id} has expired")
            mine = [a for a in self._of_hit(hit_id) if a["WorkerId"] == worker_id and _holds_a_place(a)]
            if mine:
                raise WorkerRefused(f"worker {worker_id} already has assignment {mine[0]['AssignmentId']}")
            if self._available(hit) <= 0:
                raise WorkerRefused(f"HIT {hit_id} has no assignment left")
            now = self.now()
            assignment_id = self._new_id()
            self.assignments[assignment_id] = {
                "AssignmentId": assignment_id,
                "WorkerId": worker_id,
                "HITId": hit_id,
                "AssignmentStatus": "Accepted",
                "AcceptTime": now,
                "Deadline": now + hit["AssignmentDurationInSeconds"],
            }
            return assignment_id

    def worker_submit(self, assignment_id: str, answer: dict[str, str]) -> None:
        """The worker submits; the Answer is stored as the QuestionFormAnswers MTurk produces."""
        self._submit(assignment_id, list(answer.items()))

    def worker_return(self, assignment_id: str) -> None:
        """The worker gives the assignment back; it becomes available to others."""
        with self._lock:
            self._settle()
            assignment = self._accepted(assignment_id)
            assignment["AssignmentStatus"] = "Returned"

    def frame_url(self, hit_id: str, assignment_id: str | None = None) -> str:
        """The URL MTurk frames for a worker: the ExternalURL plus assignmentId, hitId, workerId and
        turkSubmitTo; with no assignment it is the preview (ASSIGNMENT_ID_NOT_AVAILABLE, no workerId)."""
        with self._lock:
            hit = self.hits[hit_id]
            url = hit["_external_url"]
            params = {"assignmentId": PREVIEW_ASSIGNMENT_ID, "hitId": hit_id}
            if assignment_id is not None:
                assignment = self.assignments[assignment_id]
                params = {"assignmentId": assignment_id, "hitId": hit_id, "workerId": assignment["WorkerId"]}
            params["turkSubmitTo"] = self.endpoint_url
        return url + ("&" if urlsplit(url).query else "?") + urlencode(params)

    def _submit(self, assignment_id: str, fields: list[tuple[str, str]]) -> None:
        with self._lock:
            self._settle()
            assignment = self._accepted(assignment_id)
            hit = self.hits[assignment["HITId"]]
            now = self.now()
            assignment.update(
                AssignmentStatus="Submitted",
                SubmitTime=now,
                AutoApprovalTime=now + hit["AutoApprovalDelayInSeconds"],
                Answer=_answers_xml(fields),
            )
            self._settle()  # an auto-approval delay of 0 approves at once

    def _accepted(self, assignment_id: str) -> dict[str, Any]:
        assignment = self.assignments.get(assignment_id)
        if assignment is None:
            raise WorkerRefused(f"no assignment {assignment_id}")
        if assignment["AssignmentStatus"] != "Accepted":
            raise WorkerRefused(
                f"assignment {assignment_id} is {assignment['AssignmentStatus']}, not Accepted"
            )
        return assignment

    # --- bookkeeping -------------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return "3" + "".join(self._rng.choice(_ID_CHARS) for _ in range(29))

    def _of_hit(self, hit_id: str) -> list[dict[str, Any]]:
        return [a for a in self.assignments.values() if a["HITId"] == hit_id]

    def _available(self, hit: dict[str, Any]) -> int:
        return hit["MaxAssignments"] - sum(1 for a in self._of_hit(hit["HITId"]) if _holds_a_place(a))

    def _public_hit(self, hit: dict[str, Any]) -> dict[str, Any]:
        mine = self._of_hit(hit["HITId"])
        pending = sum(1 for a in mine if a["AssignmentStatus"] == "Accepted")
        completed = sum(1 for a in mine if a["AssignmentStatus"] in {"Approved", "Rejected"})
        expired = hit["Expiration"] <= self.now()
        available = 0 if expired else self._available(hit)
        if available > 0:
            status = "Assignable"
        elif pending:
            status = "Unassignable"
        else:
            status = "Reviewable"
        out = {k: v for k, v in hit.items() if not k.startswith("_")}
        out.update(
            HITStatus=status,
            HITReviewStatus="NotReviewed",
            NumberOfAssignmentsPending=pending,
            NumberOfAssignmentsAvailable=available,
            NumberOfAssignmentsCompleted=completed,
        )
        return out

    @staticmethod
    def _public_assignment(assignment: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in assignment.items() if not k.startswith("_")}

    def _hit(self, hit_id: Any) -> dict[str, Any]:
        hit = self.hits.get(hit_id)
        if hit is None:
            raise _Fault(
                f"Hit {hit_id} does not exist. ({self._ms()})", turk_code="AWS.MechanicalTurk.HITDoesNotExist"
            )
        return hit

    def _assignment(self, assignment_id: Any) -> dict[str, Any]:
        assignment = self.assignments.get(assignment_id)
        if assignment is None or assignment["AssignmentStatus"] not in _VISIBLE:
            raise _Fault(
                f"Assignment {assignment_id} does not exist. ({self._ms()})",
                turk_code="AWS.MechanicalTurk.AssignmentDoesNotExist",
            )
        return assignment

    def _ms(self) -> int:
        return int(self.now() * 1000)

    def _repeated(self, operation: str, token: str | None) -> str | None:
        return self._tokens.get((operation, token)) if token else None

    # --- the API -----------------------------------------------------------------------------------------

    def handle(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(operation)
            method = getattr(self, f"_op_{operation}", None)
            if method is None:
                raise _Fault(
                    f"Operation {operation} is not supported by this fake", kind="UnknownOperationException"
                )
            self._settle()
            result = method(body)
            if operation in self._lose:
                self._lose.remove(operation)
                raise _Fault(
                    "We encountered an internal error. Please try again.", kind="ServiceFault", status=500
                )
            return result

    def lose_next_response(self, operation: str) -> None:
        """The next `operation` is carried out but its answer is lost (a ServiceFault, HTTP 500): what a
        timeout looks like to the caller, and why UniqueRequestToken exists."""
        with self._lock:
            self._lose.append(operation)

    def _op_CreateHITType(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "Title", "Description", "Reward", "AssignmentDurationInSeconds")
        reward = _reward(body["Reward"], "reward")
        _duration(body["AssignmentDurationInSeconds"], "AssignmentDurationInSeconds", 30, 365 * 86400)
        delay = body.get("AutoApprovalDelayInSeconds", 30 * 86400)
        _duration(delay, "AutoApprovalDelayInSeconds", 0, 30 * 86400)
        for i, requirement in enumerate(body.get("QualificationRequirements", [])):
            if requirement.get("Comparator") not in _COMPARATORS:
                raise _invalid(
                    f"qualificationRequirements.{i + 1}.member.comparator",
                    requirement.get("Comparator"),
                    f"Member must satisfy enum value set: {sorted(_COMPARATORS)}",
                )
        if len(body.get("QualificationRequirements", [])) > 10:
            raise _Fault("A HIT can have at most 10 QualificationRequirements.")
        fields = {
            "Title": body["Title"],
            "Description": body["Description"],
            "Keywords": body.get("Keywords", ""),
            "Reward": reward,
            "AssignmentDurationInSeconds": body["AssignmentDurationInSeconds"],
            "AutoApprovalDelayInSeconds": delay,
            "QualificationRequirements": body.get("QualificationRequirements", []),
        }
        # Identical values give the identical HIT type, as on the real service.
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).digest()
        type_id = "3" + "".join(_ID_CHARS[b % len(_ID_CHARS)] for b in digest[:29])
        self.hit_types[type_id] = fields
        return {"HITTypeId": type_id}

    def _op_CreateHITWithHITType(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "HITTypeId", "LifetimeInSeconds")
        hit_type = self.hit_types.get(body["HITTypeId"])
        if hit_type is None:
            raise _Fault(f"HITType {body['HITTypeId']} does not exist. ({self._ms()})")
        token = body.get("UniqueRequestToken")
        existing = self._repeated("CreateHIT", token)
        if existing:
            if self.name_hit_in_token_error:
                message = f'The HIT with ID "{existing}" already exists. ({self._ms()})'
            else:
                message = f'The idempotency token "{token}" has already been processed. ({self._ms()})'
            raise _Fault(message, turk_code="AWS.MechanicalTurk.HitAlreadyExists")
        lifetime = _duration(body["LifetimeInSeconds"], "LifetimeInSeconds", 30, 365 * 86400)
        max_assignments = body.get("MaxAssignments", 1)
        if not isinstance(max_assignments, int) or not 1 <= max_assignments <= 1_000_000:
            raise _Fault(f"MaxAssignments must be between 1 and 1000000, got {max_assignments}.")
        question = body.get("Question")
        if not question:
            raise _Fault("Either a Question parameter or a HITLayoutId parameter must be provided.")
        url = _external_url(question)
        annotation = body.get("RequesterAnnotation")
        now = self.now()
        hit_id = self._new_id()
        hit = {
            "HITId": hit_id,
            "HITTypeId": body["HITTypeId"],
            "HITGroupId": body["HITTypeId"],
            "CreationTime": now,
            **hit_type,
            "Question": question,
            "MaxAssignments": max_assignments,
            "Expiration": now + lifetime,
            "_external_url": url,
            "_created_with": max_assignments,
        }
        if annotation:
            hit["RequesterAnnotation"] = annotation
        self.hits[hit_id] = hit
        if token:
            self._tokens[("CreateHIT", token)] = hit_id
        return {"HIT": self._public_hit(hit)}

    def _op_GetHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "HITId")
        return {"HIT": self._public_hit(self._hit(body["HITId"]))}

    def _op_ListHITs(self, body: dict[str, Any]) -> dict[str, Any]:
        hits = sorted(self.hits.values(), key=lambda h: (h["CreationTime"], h["HITId"]))
        page, token = _page(body, hits, "ListHITs")
        return _listing("HITs", [self._public_hit(h) for h in page], token)

    def _op_ListAssignmentsForHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "HITId")
        self._hit(body["HITId"])
        statuses = body.get("AssignmentStatuses") or list(_VISIBLE)
        for status in statuses:
            if status not in _VISIBLE:
                raise _invalid(
                    "assignmentStatuses", status, f"Member must satisfy enum value set: {list(_VISIBLE)}"
                )
        chosen = [a for a in self._of_hit(body["HITId"]) if a["AssignmentStatus"] in statuses]
        chosen.sort(key=lambda a: (a.get("SubmitTime", 0), a["AssignmentId"]))
        page, token = _page(body, chosen, "ListAssignmentsForHIT:" + body["HITId"])
        return _listing("Assignments", [self._public_assignment(a) for a in page], token)

    def _op_GetAssignment(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "AssignmentId")
        assignment = self._assignment(body["AssignmentId"])
        return {
            "Assignment": self._public_assignment(assignment),
            "HIT": self._public_hit(self.hits[assignment["HITId"]]),
        }

    def _op_ApproveAssignment(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "AssignmentId")
        assignment = self._assignment(body["AssignmentId"])
        status = assignment["AssignmentStatus"]
        if not (status == "Submitted" or (status == "Rejected" and body.get("OverrideRejection"))):
            allowed = "Submitted" if not body.get("OverrideRejection") else "Submitted, Rejected"
            raise _Fault(
                f"This operation can be called with a status of: {allowed} ({self._ms()})",
                turk_code="AWS.MechanicalTurk.InvalidAssignmentState",
            )
        assignment.update(AssignmentStatus="Approved", ApprovalTime=self.now())
        assignment.pop("RejectionTime", None)
        if body.get("RequesterFeedback"):
            assignment["RequesterFeedback"] = body["RequesterFeedback"]
        self.balance -= Decimal(self.hits[assignment["HITId"]]["Reward"])
        return {}

    def _op_RejectAssignment(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "AssignmentId", "RequesterFeedback")
        if not body["RequesterFeedback"].strip():
            raise _Fault("RequesterFeedback is required to reject an assignment.")
        assignment = self._assignment(body["AssignmentId"])
        if assignment["AssignmentStatus"] != "Submitted":
            raise _Fault(
                f"This operation can be called with a status of: Submitted ({self._ms()})",
                turk_code="AWS.MechanicalTurk.InvalidAssignmentState",
            )
        assignment.update(
            AssignmentStatus="Rejected", RejectionTime=self.now(), RequesterFeedback=body["RequesterFeedback"]
        )
        return {}

    def _op_CreateWorkerBlock(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "WorkerId", "Reason")
        _worker_id(body["WorkerId"])
        if not body["Reason"].strip():
            raise _Fault("Reason is required to block a worker.")
        self.blocks[body["WorkerId"]] = body["Reason"]
        return {}

    def _op_DeleteWorkerBlock(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "WorkerId")
        self.blocks.pop(body["WorkerId"], None)
        return {}

    def _op_ListWorkerBlocks(self, body: dict[str, Any]) -> dict[str, Any]:
        blocks = [{"WorkerId": w, "Reason": r} for w, r in sorted(self.blocks.items())]
        page, token = _page(body, blocks, "ListWorkerBlocks")
        return _listing("WorkerBlocks", page, token)

    def _op_SendBonus(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "WorkerId", "BonusAmount", "AssignmentId", "Reason")
        _worker_id(body["WorkerId"])
        amount = Decimal(_reward(body["BonusAmount"], "bonusAmount"))
        if not body["Reason"].strip():
            raise _Fault("Reason is required to send a bonus.")
        token = body.get("UniqueRequestToken")
        if self._repeated("SendBonus", token):
            raise _Fault(f'The idempotency token "{token}" has already been processed. ({self._ms()})')
        assignment = self._assignment(body["AssignmentId"])
        if assignment["WorkerId"] != body["WorkerId"]:
            raise _Fault(f"Assignment {body['AssignmentId']} was not done by worker {body['WorkerId']}.")
        if amount > self.balance:
            raise _Fault(
                "Your account balance is too low to pay this bonus.",
                turk_code="AWS.MechanicalTurk.InsufficientFunds",
            )
        self.balance -= amount
        self.bonuses.append(
            {
                "WorkerId": body["WorkerId"],
                "AssignmentId": body["AssignmentId"],
                "BonusAmount": str(amount),
                "Reason": body["Reason"],
                "GrantTime": self.now(),
                "UniqueRequestToken": token,
            }
        )
        if token:
            self._tokens[("SendBonus", token)] = body["AssignmentId"]
        return {}

    def _op_CreateAdditionalAssignmentsForHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "HITId", "NumberOfAdditionalAssignments")
        hit = self._hit(body["HITId"])
        extra = body["NumberOfAdditionalAssignments"]
        if not isinstance(extra, int) or extra < 1:
            raise _Fault(f"NumberOfAdditionalAssignments must be at least 1, got {extra}.")
        token = body.get("UniqueRequestToken")
        if self._repeated("Extend", token):
            raise _Fault(f'The idempotency token "{token}" has already been processed. ({self._ms()})')
        if hit["_created_with"] < 10 <= hit["MaxAssignments"] + extra:
            raise _Fault(
                "HITs created with fewer than 10 assignments cannot be extended to have 10 or more "
                f"assignments. ({self._ms()})",
                turk_code="AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
            )
        hit["MaxAssignments"] += extra
        if token:
            self._tokens[("Extend", token)] = hit["HITId"]
        return {}

    def _op_UpdateExpirationForHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "HITId", "ExpireAt")
        hit = self._hit(body["HITId"])
        expire_at = body["ExpireAt"]
        if not isinstance(expire_at, int | float):
            raise _Fault(f"ExpireAt must be a timestamp, got {expire_at!r}.")
        hit["Expiration"] = max(float(expire_at), self.now())  # a time in the past expires it now
        return {}

    def _op_DeleteHIT(self, body: dict[str, Any]) -> dict[str, Any]:
        _require(body, "HITId")
        hit = self._hit(body["HITId"])
        status = self._public_hit(hit)["HITStatus"]
        unreviewed = any(a["AssignmentStatus"] == "Submitted" for a in self._of_hit(hit["HITId"]))
        if status != "Reviewable" or unreviewed:
            raise _Fault(
                f"This HIT is currently in the state '{status}'. This operation can be called with a status "
                f"of: Reviewable, and with every assignment approved or rejected. ({self._ms()})",
                turk_code="AWS.MechanicalTurk.InvalidHITState",
            )
        for assignment in self._of_hit(hit["HITId"]):
            del self.assignments[assignment["AssignmentId"]]
        del self.hits[hit["HITId"]]
        return {}

    def _op_GetAccountBalance(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"AvailableBalance": str(self.balance.quantize(Decimal("0.01")))}


def _holds_a_place(assignment: dict[str, Any]) -> bool:
    """Whether the assignment uses up one of the HIT's MaxAssignments (returned/abandoned ones do not)."""
    return assignment["AssignmentStatus"] not in {"Returned", "Abandoned"}


# --- request checks -----------------------------------------------------------------------------------


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, ""):
            raise _Fault(
                f"Value null at '{name[0].lower() + name[1:]}' "
                "failed to satisfy constraint: Member must not be null",
                kind="ValidationException",
            )


def _reward(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _REWARD.match(value):
        raise _invalid(
            field, value, "Member must satisfy regular expression pattern: ^[0-9]+(\\.)?[0-9]{0,2}$"
        )
    if Decimal(value) < Decimal("0.01"):
        raise _Fault(f"The value {value} for {field} must be at least 0.01.")
    return value


def _duration(value: Any, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or not low <= value <= high:
        raise _Fault(f"The value {value} is invalid for {field}: it must be between {low} and {high}.")
    return value


def _worker_id(value: str) -> None:
    if not _WORKER_ID.match(value):
        raise _invalid("workerId", value, "Member must satisfy regular expression pattern: ^A[A-Z0-9]+$")


def _external_url(question: str) -> str:
    if len(question.encode("utf-8")) > 65535:
        raise _Fault("The question data must not be larger than 64 kilobytes (65,535 bytes).")
    try:
        root = ElementTree.fromstring(question)
    except ElementTree.ParseError as exc:
        raise _Fault(f"The question is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{EXTERNAL_QUESTION_NS}}}ExternalQuestion":
        raise _Fault(f"This fake handles ExternalQuestion only, got {root.tag}.")
    url = root.findtext(f"{{{EXTERNAL_QUESTION_NS}}}ExternalURL") or ""
    if not url.startswith("https://"):
        raise _Fault(f"The ExternalURL must use https, got {url!r}.")
    return url


def _page(body: dict[str, Any], items: list, scope: str) -> tuple[list, str | None]:
    size = body.get("MaxResults", 10)
    if not isinstance(size, int) or not 1 <= size <= 100:
        raise _invalid("maxResults", size, "Member must have value between 1 and 100")
    start = 0
    if body.get("NextToken"):
        try:
            token_scope, _, offset = base64.urlsafe_b64decode(body["NextToken"]).decode().rpartition("|")
            start = int(offset)
        except ValueError as exc:
            raise _Fault(f"The pagination token {body['NextToken']!r} is invalid.") from exc
        if token_scope != scope:
            raise _Fault(f"The pagination token {body['NextToken']!r} belongs to another listing.")
    end = start + size
    token = base64.urlsafe_b64encode(f"{scope}|{end}".encode()).decode() if end < len(items) else None
    return items[start:end], token


def _listing(key: str, items: list, token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {key: items, "NumResults": len(items)}
    if token:
        out["NextToken"] = token
    return out


def _answers_xml(fields: list[tuple[str, str]]) -> str:
    """QuestionFormAnswers as MTurk builds it from an ExternalQuestion form: one Answer per field."""
    answers = "".join(
        f"<Answer><QuestionIdentifier>{escape(name)}</QuestionIdentifier>"
        f"<FreeText>{escape(value)}</FreeText></Answer>"
        for name, value in fields
    )
    document = (
        f'<?xml version="1.0" encoding="ASCII"?><QuestionFormAnswers xmlns="{ANSWERS_NS}">'
        f"{answers}</QuestionFormAnswers>"
    )
    return document.encode("ascii", "xmlcharrefreplace").decode("ascii")


# --- HTTP -----------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMTurk
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # the base class names it `format`
        pass  # keep test output clean

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", f"fake-{self.fake._rng.getrandbits(64):016x}")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), JSON_CONTENT_TYPE)

    def _send_fault(self, fault: _Fault) -> None:
        if fault.kind in {"RequestError", "ServiceFault"}:
            payload = {"__type": fault.kind, "Message": str(fault)}
            if fault.turk_code:
                payload["TurkErrorCode"] = fault.turk_code
        else:  # AWS's framework errors: ValidationException, MissingAuthenticationToken ...
            payload = {"__type": fault.kind, "message": str(fault)}
        self._send_json(fault.status, payload)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if path == SUBMIT_PATH:
            self._external_submit(body.decode("utf-8", "replace"))
        elif path == "/":
            self._api(body)
        else:
            self._send(404, b"not found", "text/plain")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == SUBMIT_PATH:
            self._external_submit(parts.query)
        else:
            self._send(404, b"not found", "text/plain")

    def _api(self, raw: bytes) -> None:
        try:
            if not _SIGV4.match(self.headers.get("Authorization", "")) or not self.headers.get("X-Amz-Date"):
                raise _Fault(
                    "Missing Authentication Token", kind="MissingAuthenticationTokenException", status=403
                )
            target = self.headers.get("X-Amz-Target", "")
            if not target.startswith(TARGET_PREFIX):
                raise _Fault(
                    f"X-Amz-Target {target!r} is not an MTurk operation", kind="UnknownOperationException"
                )
            if self.headers.get("Content-Type", "").split(";")[0].strip() != JSON_CONTENT_TYPE:
                raise _Fault("Content-Type must be " + JSON_CONTENT_TYPE, kind="SerializationException")
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as exc:
                raise _Fault(f"Body is not JSON: {exc}", kind="SerializationException") from exc
            result = self.fake.handle(target[len(TARGET_PREFIX) :], body)
        except _Fault as fault:
            self._send_fault(fault)
            return
        self._send_json(200, result)

    def _external_submit(self, form: str) -> None:
        fields = parse_qsl(form, keep_blank_values=True)
        assignment_id = next((v for k, v in fields if k == "assignmentId"), "")
        others = [(k, v) for k, v in fields if k != "assignmentId"]
        if not assignment_id or not others:
            self._send_html(400, "Your submission is missing the assignmentId or the answer fields.")
            return
        try:
            self.fake._submit(assignment_id, others)
        except WorkerRefused as refusal:
            self._send_html(400, f"This HIT cannot be submitted: {escape(str(refusal))}")
            return
        self._send_html(200, "Your HIT has been submitted. Thank you.")

    def _send_html(self, status: int, text: str) -> None:
        page = f"<!DOCTYPE html><html><head><title>MTurk</title></head><body><p>{text}</p></body></html>"
        self._send(status, page.encode(), "text/html; charset=utf-8")
