"""Referral pathways: service providers, and referrals from a case to a provider. Pure: no I/O."""
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from shared.audited import Audited
from shared.errors import InvalidTransition
from shared.vocabulary import ReferralStatus


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class Provider(Audited):
    """A service provider on the referral pathway (an organisation, never a survivor)."""

    id: UUID
    ProviderRegistered: ClassVar[type[Any]]  # the event class @event defines, for matching by class

    @event("ProviderRegistered")
    def __init__(self, name: str, service_types: list[str], area: str, contact: str, request_hash: str, by: dict):
        self.request_hash = request_hash
        self.name = name
        self.service_types = service_types
        self.area = area
        self.contact = contact


class Referral(Audited):
    id: UUID
    # The event classes @event defines below (their fields: the method's arguments), for matching by class.
    ReferralMade: ClassVar[type[Any]]
    ReferralAccepted: ClassVar[type[Any]]
    ReferralDeclined: ClassVar[type[Any]]
    ReferralCompleted: ClassVar[type[Any]]
    ReferralWithdrawn: ClassVar[type[Any]]

    @event("ReferralMade")
    def __init__(self, case_id: UUID, case_number: str, provider_id: UUID, service_type: str, urgency: str,
                 notes: str | None, request_hash: str, by: dict):
        self.case_id = case_id
        self.case_number = case_number
        self.provider_id = provider_id
        self.service_type = service_type
        self.urgency = urgency
        self.notes = notes
        self.request_hash = request_hash
        self.made_by = by["username"]
        self.status = ReferralStatus.REQUESTED
        self.reason: str | None = None
        self.outcome: str | None = None

    @property
    def about(self) -> dict:
        """What the bus is told of the referral each event concerns."""
        return {"case_id": str(self.case_id), "provider_id": str(self.provider_id), "service_type": self.service_type}

    def accept(self, by: dict) -> None:
        self._require(ReferralStatus.ACCEPTED, ReferralStatus.REQUESTED)
        self._accepted(about=self.about, by=by)

    @event("ReferralAccepted")
    def _accepted(self, about: dict, by: dict) -> None:
        self.status = ReferralStatus.ACCEPTED

    def decline(self, reason: str, by: dict) -> None:
        self._require(ReferralStatus.DECLINED, ReferralStatus.REQUESTED)
        self._declined(reason=reason, about=self.about, by=by)

    @event("ReferralDeclined")
    def _declined(self, reason: str, about: dict, by: dict) -> None:
        self.status, self.reason = ReferralStatus.DECLINED, reason

    def complete(self, outcome: str, by: dict) -> None:
        self._require(ReferralStatus.COMPLETED, ReferralStatus.ACCEPTED)
        self._completed(outcome=outcome, about=self.about, by=by)

    @event("ReferralCompleted")
    def _completed(self, outcome: str, about: dict, by: dict) -> None:
        self.status, self.outcome = ReferralStatus.COMPLETED, outcome

    def withdraw(self, reason: str, by: dict) -> None:
        self._require(ReferralStatus.WITHDRAWN, ReferralStatus.REQUESTED, ReferralStatus.ACCEPTED)
        self._withdrawn(reason=reason, about=self.about, by=by)

    @event("ReferralWithdrawn")
    def _withdrawn(self, reason: str, about: dict, by: dict) -> None:
        self.status, self.reason = ReferralStatus.WITHDRAWN, reason

    def _require(self, becoming: ReferralStatus, *statuses: ReferralStatus) -> None:
        if self.status not in statuses:
            article = "an" if statuses[0][0] in "aeiou" else "a"
            raise InvalidTransition(f"The referral is {self.status}; only {article} {' or '.join(statuses)} "
                                    f"referral can be {becoming}.")
