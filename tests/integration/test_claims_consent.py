"""README, "Referrals and consent": the referrals service keeps consent ordered by the consent stream's
version, so an older event arriving late never overrides a withdrawal. The cases service's consent
events are played on the real bus by a test client holding the cases service's credentials, in the
order a delayed retry would deliver them."""
import uuid
from datetime import UTC, datetime

import pytest

from services.cases.domain import Consent
from shared.bus import event_publisher
from shared.envelope import make_envelope
from tests.support import database, publish_as_owner, wait_until

CW1 = {"username": "cw1", "role": "caseworker", "correlation_id": "test-late-consent"}
SHARING = {"services": True, "share_with_providers": True}


@pytest.fixture
def consent_stream(people, test_env):
    """A registered case with no consent yet, and a way to announce its consent stream's events."""
    case = people["cw1"].post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "medium"}).json()
    case_id = uuid.UUID(case["id"])
    publisher = event_publisher(test_env["AMQP_URI"])

    def announce(event_type: str, version: int, **terms) -> str:
        envelope = make_envelope(source="cases", event_type=event_type, aggregate_id=Consent.id_for(case_id),
                                 aggregate_version=version, occurred_at=datetime.now(UTC), by=CW1,
                                 payload={"case_id": str(case_id), **terms})
        publish_as_owner(publisher, envelope)
        return envelope["event_id"]
    return case, announce


def consent_known(env, case) -> tuple | None:
    """(services, share_with_providers, version) as the referrals service holds them for the case."""
    with database(env) as conn:
        return conn.execute("SELECT services, share_with_providers, version FROM referrals.consent"
                            " WHERE case_id = %s", (case["id"],)).fetchone()


def handled(env, event_id: str) -> bool:
    with database(env) as conn:
        return conn.execute("SELECT 1 FROM referrals.inbox WHERE consumer = 'consent' AND event_id = %s",
                            (event_id,)).fetchone() is not None


def test_a_late_older_consent_never_overrides_a_withdrawal_and_a_newer_one_does(consent_stream, test_env):
    case, announce = consent_stream
    announce("ConsentWithdrawn", 2)
    wait_until(lambda: consent_known(test_env, case) == (False, False, 2), what="the withdrawal known to referrals")

    late = announce("ConsentRecorded", 1, **SHARING)
    wait_until(lambda: handled(test_env, late), what="the late consent handled by the referrals service")
    assert consent_known(test_env, case) == (False, False, 2)

    renewed = announce("ConsentRecorded", 3, **SHARING)
    wait_until(lambda: handled(test_env, renewed), what="the renewed consent handled")
    assert consent_known(test_env, case) == (True, True, 3)
