"""The event envelope on the bus (../shared/api.md, "Events on the bus") and its payloads.

Payload schemas list every field an event may carry and refuse any other: nothing that
identifies a survivor (name, phone, date of birth, location, notes) can reach RabbitMQ.
"""
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from marshmallow import RAISE, Schema, fields, validate

SCHEMA_VERSION = 1
RISK_LEVELS = ("low", "medium", "high")
SERVICE_TYPES = ("medical", "psychosocial", "legal", "safety", "shelter", "livelihood", "education", "other")
CLOSURE_REASONS = ("needs_met", "survivor_request", "relocated", "unreachable")
REFERRAL_EVENTS = ("ReferralMade", "ReferralAccepted", "ReferralDeclined", "ReferralCompleted", "ReferralWithdrawn")
ROLES = ("caseworker", "supervisor", "auditor", "provider", "admin", "system")  # of events: shared/vocabulary.py Role
_EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/events")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class ActorSchema(Strict):
    username = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class EnvelopeSchema(Strict):
    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True)
    schema_version = fields.Integer(required=True)
    occurred_at = fields.DateTime(required=True)
    source = fields.String(required=True)
    aggregate_id = fields.UUID(required=True)
    aggregate_version = fields.Integer(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    correlation_id = fields.String(required=True)
    causation_id = fields.String(required=True, allow_none=True)
    payload = fields.Dict(required=True)


class CaseRegistered(Strict):
    case_number = fields.String(required=True)
    risk_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    is_child = fields.Boolean(required=True)
    assigned_to = fields.String(required=True)
    stage = fields.String(required=True)
    # issue 19: organisations. The case's organisation (an id only). An envelope from before
    # organisations has none: the first organisation's.
    organisation = fields.UUID(allow_none=True)


class ConsentRecorded(Strict):
    case_id = fields.UUID(required=True)
    services = fields.Boolean(required=True)
    share_with_providers = fields.Boolean(required=True)


class ConsentWithdrawn(Strict):
    case_id = fields.UUID(required=True)


class AssessmentRecorded(Strict):
    needs = fields.List(fields.String(validate=validate.OneOf(SERVICE_TYPES)), required=True)


class RiskLevelChanged(Strict):
    previous = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    risk_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    next_due = fields.String(required=True, allow_none=True)
    cause = fields.String(load_default=None, allow_none=True,
                          validate=validate.OneOf(("assessment", "follow_up", "domain_ratings", "raised")))


class CasePlanDrafted(Strict):
    goals = fields.Integer(required=True)


class Submitted(Strict):
    """A case plan or closure put to the supervisor; `submission` identifies this request.
    The risk level is the one at submission time: what the approval policy looks at."""
    submission = fields.Integer(required=True)
    case_number = fields.String(required=True)
    risk_level = fields.String(required=True, validate=validate.OneOf(RISK_LEVELS))
    is_child = fields.Boolean(required=True)
    # Set when a supervisor must decide whatever the policy says (a child who does not assent).
    approval_required = fields.Boolean(load_default=False)


class ClosureRequested(Submitted):
    reason = fields.String(required=True, validate=validate.OneOf(CLOSURE_REASONS))


class FollowUpRecorded(Strict):
    contacted = fields.Boolean(required=True)
    next_due = fields.String(required=True)


class FollowUpOverdue(Strict):
    due = fields.String(required=True)


class CaseConferenceHeld(Strict):
    held_on = fields.String(required=True)


class CaseClosed(Strict):
    reason = fields.String(required=True, validate=validate.OneOf(CLOSURE_REASONS))


class CaseReopened(Strict):
    next_due = fields.String(required=True)


class CaseReassigned(Strict):
    previous = fields.String(required=True)
    assigned_to = fields.String(required=True)


class CaseErased(Strict):
    """A survivor's data erased: the case id only (never who asked or why)."""
    case_id = fields.UUID(required=True)


class ApprovalRequested(Strict):
    case_id = fields.UUID(required=True)
    case_number = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(("case_plan", "closure")))
    submission = fields.Integer(required=True)
    requested_by = fields.String(required=True)


class Decided(Strict):
    """The approvals service's decision on a case plan or closure submission. The supervisor's
    comment stays in the approvals service (free text, like notes)."""
    case_id = fields.UUID(required=True)
    submission = fields.Integer(required=True)
    decided_by = fields.String(required=True)  # a supervisor's username, or "policy"
    requested_by = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(("case_plan", "closure")))
    case_number = fields.String(required=True)
    # Whether the decision came with a comment; the comment itself stays in the approvals service.
    commented = fields.Boolean(load_default=False)


class ReferralChanged(Strict):
    """A referral's state; its notes, reasons and outcome stay in the referrals service."""
    referral_id = fields.UUID(required=True)
    case_id = fields.UUID(required=True)
    provider_id = fields.UUID(required=True)
    service_type = fields.String(required=True, validate=validate.OneOf(SERVICE_TYPES))
    status = fields.String(required=True, validate=validate.OneOf(
        ("requested", "accepted", "declined", "completed", "withdrawn")))


class UserRegistered(Strict):
    """Staff, never survivors: enough to address a notification."""
    username = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    supervisor = fields.String(required=True, allow_none=True)
    provider_id = fields.UUID(required=True, allow_none=True)
    email = fields.Email(required=True, allow_none=True)


class UserPreferencesChanged(Strict):
    username = fields.String(required=True)
    email_notifications = fields.Boolean(required=True)


class UserChanged(UserRegistered):
    """Staff data after an admin's change (never a password): `changed` names the fields that changed."""
    changed = fields.List(fields.String(validate=validate.OneOf(
        ("display_name", "email", "role", "supervisor", "provider_id"))), required=True)


class UserStatus(Strict):
    """A user deactivated (no longer logs in, no longer told anything) or reactivated."""
    username = fields.String(required=True)


# Event type -> payload schema. An event type without an entry cannot be published.
PAYLOADS: dict[str, Schema] = {
    "CaseRegistered": CaseRegistered(),
    "ConsentRecorded": ConsentRecorded(),
    "ConsentWithdrawn": ConsentWithdrawn(),
    "AssessmentRecorded": AssessmentRecorded(),
    "RiskLevelChanged": RiskLevelChanged(),
    "CasePlanDrafted": CasePlanDrafted(),
    "CasePlanSubmitted": Submitted(),
    "FollowUpRecorded": FollowUpRecorded(),
    "FollowUpOverdue": FollowUpOverdue(),
    "CaseConferenceHeld": CaseConferenceHeld(),
    "ClosureRequested": ClosureRequested(),
    "CaseClosed": CaseClosed(),
    "CaseReopened": CaseReopened(),
    "CaseReassigned": CaseReassigned(),
    "CaseErased": CaseErased(),
    "ApprovalRequested": ApprovalRequested(),
    "UserRegistered": UserRegistered(),
    "UserPreferencesChanged": UserPreferencesChanged(),
    "UserChanged": UserChanged(),
    "UserDeactivated": UserStatus(),
    "UserReactivated": UserStatus(),
    "ReferralMade": ReferralChanged(),
    "ReferralAccepted": ReferralChanged(),
    "ReferralDeclined": ReferralChanged(),
    "ReferralCompleted": ReferralChanged(),
    "ReferralWithdrawn": ReferralChanged(),
    "CasePlanApproved": Decided(),
    "CasePlanRejected": Decided(),
    "ClosureApproved": Decided(),
    "ClosureRejected": Decided(),
}


# Event type -> the one service that publishes it (its outbox relay, with `source` = that service).
# The broker lets each service's user publish only its own types (shared/access.py).
OWNERS: dict[str, str] = {
    **dict.fromkeys(("CaseRegistered", "ConsentRecorded", "ConsentWithdrawn", "AssessmentRecorded",
                     "RiskLevelChanged", "CasePlanDrafted", "CasePlanSubmitted", "FollowUpRecorded",
                     "FollowUpOverdue", "CaseConferenceHeld", "ClosureRequested", "CaseClosed", "CaseReopened",
                     "CaseReassigned", "CaseErased"), "cases"),
    **dict.fromkeys(("ApprovalRequested", "CasePlanApproved", "CasePlanRejected", "ClosureApproved",
                     "ClosureRejected"), "approvals"),
    **dict.fromkeys(REFERRAL_EVENTS, "referrals"),
    **dict.fromkeys(("UserRegistered", "UserPreferencesChanged", "UserChanged", "UserDeactivated",
                     "UserReactivated"), "gateway"),
}


def events_of(service: str) -> tuple[str, ...]:
    """The event types a service publishes (none for a service that only listens)."""
    return tuple(event_type for event_type, owner in OWNERS.items() if owner == service)


def event_id(aggregate_id: UUID, aggregate_version: int) -> UUID:
    """Stable across re-publishes, so consumers can recognise a redelivery."""
    return uuid5(_EVENT_ID_NAMESPACE, f"{aggregate_id}:{aggregate_version}")


ENVELOPE = EnvelopeSchema()  # made once: making a schema copies its fields


def make_envelope(*, source: str, event_type: str, aggregate_id: UUID, aggregate_version: int,
                  occurred_at: datetime, by: dict, payload: dict) -> dict:
    """Builds and validates an envelope, ready to serialise as JSON."""
    envelope = {
        "event_id": str(event_id(aggregate_id, aggregate_version)),
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": occurred_at.isoformat(),
        "source": source,
        "aggregate_id": str(aggregate_id),
        "aggregate_version": aggregate_version,
        "actor": {"username": by["username"], "role": by["role"]},
        "correlation_id": by.get("correlation_id") or str(event_id(aggregate_id, aggregate_version)),
        "causation_id": by.get("causation_id"),
        "payload": PAYLOADS[event_type].dump(PAYLOADS[event_type].load(payload)),
    }
    ENVELOPE.load(envelope)
    return envelope


def read_envelope(body: dict) -> dict:
    """Validates an envelope from the bus and its payload; raises marshmallow.ValidationError."""
    envelope = ENVELOPE.load(body)
    schema = PAYLOADS.get(envelope["event_type"])
    if schema is not None:
        envelope["payload"] = schema.load(envelope["payload"])
    return envelope
