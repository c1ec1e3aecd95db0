"""Notifications: who needs to know what. Messages name the case number and what to do; never a
survivor's name or any identifying detail. Pure: no I/O."""
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.audited import Audited

TYPES = ("approval_requested", "approval_decided", "follow_up_overdue", "referral_received",
         "referral_updated", "case_reassigned")
_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/notifications")


class Notification(Audited):
    id: UUID

    @staticmethod
    def id_for(event_id: UUID, recipient: str, channel: str) -> UUID:
        """Exactly once per (event, recipient, channel): a second attempt collides with the first."""
        return uuid5(_NAMESPACE, f"{event_id}:{recipient}:{channel}")

    @event("NotificationSent")
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

    @event("NotificationRead")
    def _read(self, by: dict) -> None:
        self.read = True


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

    @event("WebhookRegistered")
    def __init__(self, url: str, events: list[str], secret: str, request_hash: str, by: dict):
        self.request_hash = request_hash
        self.url = url
        self.events = events
        self.secret = secret  # encrypted at rest with the rest of the event state

    def delete(self, by: dict) -> None:
        """No delivery after this; the webhook's history stays, with who deleted it."""
        self._deleted(by=by)

    @event("WebhookDeleted")
    def _deleted(self, by: dict) -> None:
        self.deleted = True
