"""The domain's words, defined once: roles, stages, risk levels, referral and approval statuses.
StrEnum members are their string values, so events, JSON and SQL keep the words they had."""
from enum import StrEnum


class Role(StrEnum):
    CASEWORKER = "caseworker"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    PROVIDER = "provider"
    ADMIN = "admin"
    SYSTEM = "system"  # the services themselves (a sweep, a timer)
    OPERATOR = "operator"  # the installation's operator at the audit CLI, never a user


USER_ROLES = (Role.CASEWORKER, Role.SUPERVISOR, Role.AUDITOR, Role.PROVIDER, Role.ADMIN)  # who logs in
CASE_ROLES = (Role.CASEWORKER, Role.SUPERVISOR)  # who works on cases


class Stage(StrEnum):
    ENGAGEMENT = "engagement"
    ASSESSMENT = "assessment"
    CASE_PLAN = "case_plan"
    IMPLEMENTATION = "implementation"
    FOLLOW_UP = "follow_up"
    CLOSED = "closed"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ReferralStatus(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"

    @property
    def is_open(self) -> bool:
        return self in (ReferralStatus.REQUESTED, ReferralStatus.ACCEPTED)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # a newer request for the same decision replaced it


class ClosureReason(StrEnum):
    NEEDS_MET = "needs_met"
    SURVIVOR_REQUEST = "survivor_request"
    RELOCATED = "relocated"
    UNREACHABLE = "unreachable"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The words, for a schema's OneOf or a SQL CHECK."""
    return tuple(member.value for member in enum)
