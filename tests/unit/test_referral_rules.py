import uuid

import pytest

from services.referrals.domain import Referral
from shared.errors import InvalidTransition

CW = {"username": "cw1", "role": "caseworker", "correlation_id": None}
PROVIDER = {"username": "clinic1", "role": "provider", "correlation_id": None}


def requested() -> Referral:
    return Referral(id=uuid.uuid4(), case_id=uuid.uuid4(), case_number="GBV-2026-000001", provider_id=uuid.uuid4(),
                    service_type="medical", urgency="urgent", notes=None, request_hash="h", by=CW)


def test_accepted_then_completed():
    referral = requested()
    referral.accept(by=PROVIDER)
    referral.complete("seen", by=PROVIDER)
    assert referral.status == "completed" and referral.outcome == "seen"


@pytest.mark.parametrize("steps, refused, message", [
    ([], lambda r: r.complete("x", by=PROVIDER), "only an accepted referral can be completed"),
    (["accept"], lambda r: r.accept(by=PROVIDER), "is accepted"),
    (["accept"], lambda r: r.decline("x", by=PROVIDER), "can be declined"),
    (["decline"], lambda r: r.withdraw("x", by=CW), "is declined"),
    (["withdraw"], lambda r: r.accept(by=PROVIDER), "is withdrawn"),
    (["accept", "complete"], lambda r: r.withdraw("x", by=CW), "is completed"),
])
def test_invalid_transitions_are_refused(steps, refused, message):
    referral = requested()
    for step in steps:
        {"accept": lambda: referral.accept(by=PROVIDER), "decline": lambda: referral.decline("r", by=PROVIDER),
         "withdraw": lambda: referral.withdraw("r", by=CW), "complete": lambda: referral.complete("o", by=PROVIDER)}[step]()
    version = referral.version
    with pytest.raises(InvalidTransition, match=message):
        refused(referral)
    assert referral.version == version


def test_every_referral_event_can_be_published():
    from services.referrals.views import public_event
    from shared.envelope import PAYLOADS
    referral = requested()
    referral.accept(by=PROVIDER)
    referral.complete("seen", by=PROVIDER)
    for event in referral.collect_events():
        kind, payload = public_event(event)
        assert PAYLOADS[kind].load(payload)["case_id"] == referral.case_id
