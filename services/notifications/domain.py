"""Notifications: who needs to know what. Messages name the case number and what to do; never a
survivor's name or any identifying detail. Pure: no I/O (who is who is asked of a `Directory`)."""
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.audited import Audited
from shared.caller import Caller
from shared.vocabulary import Role

TYPES = ("approval_requested", "approval_decided", "follow_up_overdue", "referral_received",
         "referral_updated", "case_reassigned")
_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/notifications")
_ESCALATION = uuid5(NAMESPACE_URL, "https://casetrail.example/escalations")

# The bus events someone is told of, and those that tell escalation a case moved on.
DECIDED = {"CasePlanApproved": "approved", "CasePlanRejected": "rejected",
           "ClosureApproved": "approved", "ClosureRejected": "rejected"}
NOTIFIED = ("ApprovalRequested", *DECIDED, "FollowUpOverdue", "ReferralMade", "ReferralAccepted",
            "ReferralDeclined", "ReferralCompleted", "ReferralWithdrawn", "CaseReassigned")
CASE_PROGRESS = ("FollowUpRecorded", "CaseClosed", "CaseReopened")
SYSTEM = Caller(username="system", role=Role.SYSTEM).recorded()  # what the escalation scan records as `by`


class Notification(Audited):
    id: UUID

    @staticmethod
    def id_for(event_id: UUID, recipient: str, channel: str) -> UUID:
        """Exactly once per (event, recipient, channel): a second attempt collides with the first."""
        return uuid5(_NAMESPACE, f"{event_id}:{recipient}:{channel}")

    # Declared, not only named in @event, so that projections match them by class (issue 18.2).
    class NotificationSent(Audited.Created):
        recipient: str
        kind: str
        case_id: UUID | None
        case_number: str
        message: str
        channel: str
        by: dict

    class NotificationRead(Audited.Event):
        pass

    @event(NotificationSent)
    def __init__(self, recipient: str, kind: str, case_id: UUID | None, case_number: str, message: str,
                 channel: str, by: dict):
        self.recipient = recipient
        self.kind = kind
        self.case_id = case_id
        self.case_number = case_number
        self.message = message
        self.channel = channel
        self.read = False

    def mark_read(self, by: dict) -> None:
        if not self.read:
            self._read(by=by)

    @event(NotificationRead)
    def _read(self, by: dict) -> None:
        self.read = True


class Directory(Protocol):
    """Who is who, as the service learnt it from events. Each raises LookupError for someone or a case
    it has not heard of yet (the event that names them is on its way: the caller is retried)."""

    def case(self, case_id) -> tuple[str, str]:
        """The case's number and caseworker."""

    def supervisors_of(self, username: str) -> list[str]:
        """The person's supervisor, if they have one."""

    def focal_points(self, provider_id) -> list[str]:
        """The users acting for a provider."""


@dataclass(frozen=True)
class Notice:
    """What to tell whom about one bus event (or one escalation)."""

    kind: str
    recipients: tuple[str, ...]
    case_id: Any
    case_number: str
    message: str
    facts: dict

    def notifications(self, key: UUID, by: dict) -> list[Notification]:
        """One in-app notification per recipient, exactly once per `key` (the event, the escalation)."""
        return [Notification(id=Notification.id_for(key, recipient, "inbox"),  # type: ignore[call-arg] # note 1
                             recipient=recipient, kind=self.kind, case_id=self.case_id, case_number=self.case_number,
                             message=self.message, channel="inbox", by=by)
                for recipient in sorted(set(self.recipients))]
        # 1: eventsourcing takes the id given (`id: UUID` on the class), which mypy cannot see.


def notice_of(event_type: str, payload: dict, aggregate_id, directory: Directory) -> Notice:
    """Who needs to know of this event (one of NOTIFIED), and what."""
    kind, recipients, case_id, case_number, facts = _what_and_whom(event_type, payload, aggregate_id, directory)
    return Notice(kind, tuple(recipients), case_id, case_number, message_for(kind, case_number, facts), facts)


def _what_and_whom(event_type: str, payload: dict, aggregate_id, directory: Directory) -> tuple:
    if event_type == "ApprovalRequested":
        return ("approval_requested", directory.supervisors_of(payload["requested_by"]), payload["case_id"],
                payload["case_number"], payload)
    if event_type in DECIDED:
        return ("approval_decided", [payload["requested_by"]], payload["case_id"], payload["case_number"],
                {**payload, "outcome": DECIDED[event_type]})
    case_id = payload.get("case_id") or aggregate_id
    case_number, assigned_to = directory.case(case_id)
    if event_type == "FollowUpOverdue":
        return "follow_up_overdue", [assigned_to], case_id, case_number, payload
    if event_type == "ReferralMade":
        return "referral_received", directory.focal_points(payload["provider_id"]), case_id, case_number, payload
    if event_type == "ReferralWithdrawn":  # the provider must stop working on it
        return ("referral_updated", [assigned_to, *directory.focal_points(payload["provider_id"])], case_id,
                case_number, payload)
    if event_type.startswith("Referral"):
        return "referral_updated", [assigned_to], case_id, case_number, payload
    return ("case_reassigned", [payload["previous"], payload["assigned_to"]], case_id, case_number, payload)


ESCALATE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Escalation:
    """A follow-up overdue by more than ESCALATE_AFTER and still not done: told once to the supervisor of
    the case's caseworker."""

    case_id: Any
    due: datetime
    case_number: str
    assigned_to: str

    @property
    def key(self) -> UUID:
        """Once per (case, due time): what its notifications and e-mails are keyed on."""
        return uuid5(_ESCALATION, f"{self.case_id}:{self._due}")

    @property
    def _due(self) -> str:
        return self.due.astimezone(UTC).isoformat()

    def notice(self, supervisors: list[str]) -> Notice:
        message = (f"{self.case_number}: a follow-up due {self._due[:16].replace('T', ' ')} UTC is overdue by more "
                   f"than 24 hours. Check in with {self.assigned_to}.")
        return Notice("follow_up_overdue", tuple(supervisors), self.case_id, self.case_number, message, {})


WORDS = {"case_plan": "case plan", "closure": "closure request"}


def message_for(kind: str, case_number: str, facts: dict) -> str:
    """What to tell, by case number. Every value here is an id, a number, a username or a word we chose."""
    return {
        "approval_requested": lambda: f"{case_number}: a {WORDS[facts['type']]} from {facts['requested_by']} "
                                      f"awaits your decision.",
        "approval_decided": lambda: f"{case_number}: your {WORDS[facts['type']]} was {facts['outcome']} "
                                    f"by {facts['decided_by']}.",
        "follow_up_overdue": lambda: f"{case_number}: a follow-up was due {facts['due'][:16].replace('T', ' ')} UTC "
                                     f"and is overdue. Contact the survivor and record it.",
        "referral_received": lambda: f"{case_number}: a new {facts['service_type']} referral. Accept or decline it.",
        "referral_updated": lambda: f"{case_number}: the {facts['service_type']} referral is now {facts['status']}.",
        "case_reassigned": lambda: f"{case_number}: the case moved from {facts['previous']} to {facts['assigned_to']}.",
    }[kind]()


class Webhook(Audited):
    """An admin-registered endpoint told of notifications of the kinds it asked for."""

    id: UUID
    deleted = False

    class WebhookRegistered(Audited.Created):
        url: str
        events: list[str]
        secret: str
        request_hash: str
        by: dict

    class WebhookDeleted(Audited.Event):
        pass

    @event(WebhookRegistered)
    def __init__(self, url: str, events: list[str], secret: str, request_hash: str, by: dict):
        self.request_hash = request_hash
        self.url = url
        self.events = events
        self.secret = secret  # encrypted at rest with the rest of the event state

    def delete(self, by: dict) -> None:
        """No delivery after this; the webhook's history stays, with who deleted it."""
        self._deleted(by=by)

    @event(WebhookDeleted)
    def _deleted(self, by: dict) -> None:
        self.deleted = True
