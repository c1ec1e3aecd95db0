"""What the referrals service shows: a client's JSON views of providers and referrals, and what
the bus is told of each referral event. Free text stays sealed here; the entrypoint opens it."""
from services.referrals.domain import Provider, Referral
from shared.times import iso
from shared.vocabulary import ReferralStatus

TEXTS = ("notes", "reason", "outcome")  # free text, kept sealed with the case's key

# Each referral event the bus is told of: its public type and the status it leaves the referral in.
PUBLIC = {Referral.ReferralMade: ("ReferralMade", ReferralStatus.REQUESTED),
          Referral.ReferralAccepted: ("ReferralAccepted", ReferralStatus.ACCEPTED),
          Referral.ReferralDeclined: ("ReferralDeclined", ReferralStatus.DECLINED),
          Referral.ReferralCompleted: ("ReferralCompleted", ReferralStatus.COMPLETED),
          Referral.ReferralWithdrawn: ("ReferralWithdrawn", ReferralStatus.WITHDRAWN)}


def provider_view(provider: Provider) -> dict:
    return {"id": str(provider.id), "name": provider.name, "service_types": provider.service_types,
            "area": provider.area, "contact": provider.contact}


def referral_view(referral: Referral, notes_visible: bool = True) -> dict:
    """What both sides see: the case number, never the survivor's identifying data. The free text
    is still sealed here; the entrypoint opens it."""
    return {"id": str(referral.id), "case_id": str(referral.case_id), "case_number": referral.case_number,
            "provider_id": str(referral.provider_id), "service_type": referral.service_type,
            "urgency": referral.urgency, "notes": referral.notes if notes_visible else None, "status": referral.status,
            "reason": referral.reason, "outcome": referral.outcome, "made_by": referral.made_by,
            "created_at": iso(referral.created_on), "updated_at": iso(referral.modified_on)}


def referral_key(referral: Referral) -> tuple[str, str]:
    """Where a referral stands in a list's order, newest first (its cursor's content): when it was made
    (as its lists' tables hold it), then its id."""
    return referral.created_on.isoformat(), str(referral.id)


def public_event(event) -> tuple[str, dict] | None:
    """Referral states by ids and service type; reasons, outcomes and notes stay here."""
    if type(event) not in PUBLIC:
        return None
    kind, status = PUBLIC[type(event)]
    about = ({"case_id": str(event.case_id), "provider_id": str(event.provider_id),
              "service_type": event.service_type} if isinstance(event, Referral.ReferralMade) else event.about)
    return kind, {"referral_id": str(event.originator_id), **about, "status": status}
