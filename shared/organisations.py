"""Organisations (agencies) sharing one installation (issue 19). Every user but the admin and every
case belongs to one; nothing of a case crosses organisations but a referral. The gateway owns the
organisations themselves; this is what every service needs to know of them: the first one.

The first start of the gateway creates the first organisation, under a fixed id, so that what was
recorded before organisations existed (users, cases, read-model rows, the approval policy) belongs to
it: an event or a row without an organisation is the first organisation's."""
from uuid import NAMESPACE_URL, UUID, uuid5

FIRST_ORGANISATION: UUID = uuid5(NAMESPACE_URL, "https://casetrail.example/organisations/first")
FIRST = str(FIRST_ORGANISATION)


def organisation_or_first(organisation: UUID | str | None) -> str:
    """An organisation's id as recorded; what was recorded without one is the first organisation's."""
    return str(organisation) if organisation else FIRST
