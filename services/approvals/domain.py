"""Approvals: each organisation's policy, and supervisors' decisions on case plans and closures.
Pure: no I/O."""
from enum import StrEnum
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.audited import Audited
from shared.errors import InvalidInput, InvalidTransition
from shared.organisations import FIRST, organisation_or_first
from shared.vocabulary import ApprovalStatus, RiskLevel


class Kind(StrEnum):
    """What a supervisor approves."""

    CASE_PLAN = "case_plan"
    CLOSURE = "closure"


class Rule(StrEnum):
    """When the organisation's policy asks for a supervisor's approval."""

    ALWAYS = "always"
    HIGH_RISK = "high_risk"
    NEVER = "never"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


RECEIVED = "received"  # a submission not yet requested nor approved by policy: never shown
_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/approvals")


class ApprovalPolicy(Audited):
    """When a supervisor's approval is needed, per kind of request. One per organisation."""

    id: UUID

    DEFAULT: ClassVar[dict[str, str]] = {Kind.CASE_PLAN: Rule.ALWAYS, Kind.CLOSURE: Rule.ALWAYS}

    @staticmethod
    def the_id() -> UUID:
        """The installation's one policy from before organisations: now the first organisation's."""
        return uuid5(_NAMESPACE, "policy")

    @staticmethod
    def id_for(organisation: str) -> UUID:
        """The organisation's policy (issue 19). The first organisation's is the one the installation
        had before organisations, so an existing policy stays in force for it."""
        if organisation == FIRST:
            return ApprovalPolicy.the_id()
        return uuid5(_NAMESPACE, f"policy:{organisation}")

    @event("ApprovalPolicySet")
    def __init__(self, case_plan: str, closure: str, by: dict):
        self.rules = {Kind.CASE_PLAN: case_plan, Kind.CLOSURE: closure}

    def change(self, case_plan: str, closure: str, by: dict) -> None:
        self._changed(case_plan=case_plan, closure=closure, by=by)

    @event("ApprovalPolicyChanged")
    def _changed(self, case_plan: str, closure: str, by: dict) -> None:
        self.rules = {Kind.CASE_PLAN: case_plan, Kind.CLOSURE: closure}


def approval_needed(rules: dict, kind: str, risk_level: str, required: bool = False) -> bool:
    rule = rules[kind]
    return required or rule == Rule.ALWAYS or (rule == Rule.HIGH_RISK and risk_level == RiskLevel.HIGH)


class Approval(Audited):
    """One submission of a case plan or a closure request, and what became of it."""

    id: UUID
    # The event classes @event defines below (their fields: the method's arguments), for matching by class.
    SubmissionReceived: ClassVar[type[Any]]
    ApprovalRequested: ClassVar[type[Any]]
    ApprovedByPolicy: ClassVar[type[Any]]
    ApprovalDecided: ClassVar[type[Any]]
    ApprovalSuperseded: ClassVar[type[Any]]

    @staticmethod
    def id_for(case_id: UUID, kind: str, submission: int) -> UUID:
        """The same submission, however often it is delivered, is the same approval."""
        return uuid5(_NAMESPACE, f"{case_id}:{kind}:{submission}")

    @event("SubmissionReceived")
    def __init__(self, case_id: UUID, case_number: str, kind: str, submission: int, requested_by: str,
                 risk_level: str, by: dict, requester_role: str | None = None, organisation: str | None = None):
        self.case_id = case_id
        # issue 19: the case's organisation, whose policy was applied; a request from before
        # organisations is the first organisation's.
        self.organisation = organisation_or_first(organisation)
        self.requester_role = requester_role  # a supervisor's request goes to their own supervisor
        self.case_number = case_number
        self.kind = kind
        self.submission = submission
        self.requested_by = requested_by
        self.risk_level = risk_level
        self.status: str = RECEIVED
        self.decided_by: str | None = None
        self.comment: str | None = None

    @property
    def about(self) -> dict:
        """What the bus is told of the request each event concerns."""
        return {"case_id": str(self.case_id), "case_number": self.case_number, "type": self.kind,
                "submission": self.submission, "requested_by": self.requested_by}

    def request(self, by: dict) -> None:
        self._requested(about=self.about, by=by)

    @event("ApprovalRequested")
    def _requested(self, about: dict, by: dict) -> None:
        self.status = ApprovalStatus.PENDING

    def grant_by_policy(self, by: dict) -> None:
        self._granted_by_policy(about=self.about, by=by)

    @event("ApprovedByPolicy")
    def _granted_by_policy(self, about: dict, by: dict) -> None:
        self.status, self.decided_by = ApprovalStatus.APPROVED, "policy"

    def decide(self, decision: str, comment: str | None, supervisor: str, by: dict) -> None:
        """Who may decide is the access policy's (services/approvals/policy.py)."""
        if self.status == ApprovalStatus.SUPERSEDED:
            raise InvalidTransition("A newer submission replaced this request.")
        if self.status != ApprovalStatus.PENDING:
            raise InvalidTransition(f"This request is already {self.status}.")
        if decision == Decision.REJECT and not (comment or "").strip():
            raise InvalidInput({"comment": ["A rejection needs a comment."]})
        self._decided(approved=decision == Decision.APPROVE, comment=comment, decided_by=supervisor,
                      about=self.about, by=by)

    @event("ApprovalDecided")
    def _decided(self, approved: bool, comment: str | None, decided_by: str, about: dict, by: dict) -> None:
        self.status = ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED
        self.decided_by, self.comment = decided_by, comment

    def decided_as(self, supervisor: str, decision: str) -> bool:
        """Whether this is the decision already taken (the application compares the comment)."""
        decisions: dict[str, str] = {ApprovalStatus.APPROVED: Decision.APPROVE,
                                     ApprovalStatus.REJECTED: Decision.REJECT}
        taken = decisions.get(self.status)
        return taken == decision and self.decided_by == supervisor

    def supersede(self, by: dict) -> bool:
        if self.status != ApprovalStatus.PENDING:
            return False
        self._superseded(by=by)
        return True

    @event("ApprovalSuperseded")
    def _superseded(self, by: dict) -> None:
        self.status = ApprovalStatus.SUPERSEDED


class Submissions(Audited):
    """The latest request for one case and kind, so a resubmission supersedes the one before."""

    id: UUID

    @staticmethod
    def id_for(case_id: UUID, kind: str) -> UUID:
        return uuid5(_NAMESPACE, f"{case_id}:{kind}")

    @event("SubmissionsStarted")
    def __init__(self, by: dict):
        self.latest: UUID | None = None

    @event("LatestSubmissionChanged")
    def replace_latest(self, approval_id: UUID, by: dict) -> None:
        self.latest = approval_id
