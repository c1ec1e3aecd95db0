"""What other services do to a case (referrals, approval requests and decisions) recorded in the
case's own chain, once per bus event whatever the redeliveries, in the order the cases service
learns it; and `as_of` showing referrals and approvals as they were. On real PostgreSQL."""
import threading
import uuid
from datetime import UTC, datetime

import pytest

from services.cases.application import CaseReactions
from services.cases.attestation import check_bundle, keyring
from services.cases.queries import AuditTrail, CaseIndex, CaseQueries
from shared.caller import Caller
from shared.envelope import make_envelope, read_envelope
from shared.errors import NotFound
from shared.outbox import Projector
from tests.support import case_in_implementation

CW = Caller.of({"username": "cw1", "role": "caseworker", "team": [], "correlation_id": "c-1"})
AUDITOR = Caller.of({"username": "aud1", "role": "auditor", "team": [], "correlation_id": "c-3"})
CLINIC = {"username": "clinic1", "role": "provider", "correlation_id": "c-clinic"}
SUP = {"username": "sup1", "role": "supervisor", "correlation_id": "c-sup"}
PROVIDER = uuid.uuid4()


def referral_news(case_id, referral_id, version: int, status: str, by=CLINIC) -> dict:
    """A referrals-service event as it arrives from the bus."""
    kind = {"requested": "ReferralMade", "accepted": "ReferralAccepted", "completed": "ReferralCompleted"}[status]
    return read_envelope(make_envelope(
        source="referrals", event_type=kind, aggregate_id=referral_id, aggregate_version=version,
        occurred_at=datetime.now(UTC), by=by,
        payload={"referral_id": str(referral_id), "case_id": str(case_id), "provider_id": str(PROVIDER),
                 "service_type": "medical", "status": status}))


def approval_news(case_id, kind: str, submission: int, version: int, **decision) -> dict:
    payload = {"case_id": str(case_id), "case_number": "GBV-2026-000001", "type": "closure",
               "submission": submission, "requested_by": "cw1", **decision}
    return read_envelope(make_envelope(
        source="approvals", event_type=kind, aggregate_id=uuid.uuid5(case_id, str(submission)),
        aggregate_version=version, occurred_at=datetime.now(UTC), by=SUP if decision else CW.recorded(),
        payload=payload))


def activity(store, case_id) -> list[dict]:
    return [i for i in AuditTrail(store).history(AUDITOR, case_id, record=False)["items"] if i["stream"] == "activity"]


def test_referral_news_joins_the_case_chain_once_with_its_actor(store):
    case_id = case_in_implementation(store, CW)
    referral = uuid.uuid4()
    made = referral_news(case_id, referral, 1, "requested", by=CW.recorded())
    accepted = referral_news(case_id, referral, 2, "accepted")
    assert CaseReactions(store).referral_changed(made) is True
    assert CaseReactions(store).referral_changed(accepted) is True
    assert CaseReactions(store).referral_changed(accepted) is False  # a redelivery
    assert CaseReactions(store).referral_changed(made) is False

    items = activity(store, case_id)
    assert [(i["type"], i["data"]["event_type"], i["actor"]["username"]) for i in items] == [
        ("ReferralRecorded", "ReferralMade", "cw1"), ("ReferralRecorded", "ReferralAccepted", "clinic1")]
    assert items[1]["data"]["status"] == "accepted" and items[1]["data"]["referral_id"] == str(referral)
    assert items[1]["correlation_id"] == "c-clinic"
    assert AuditTrail(store).verify(AUDITOR, case_id)["valid"] is True
    assert AuditTrail(store).verify(AUDITOR, case_id)["events"] == items[-1]["sequence"]
    assert CaseQueries(store).referrals_of(case_id)[0]["status"] == "accepted"


def test_an_older_referral_event_arriving_late_never_moves_the_referral_back(store):
    case_id = case_in_implementation(store, CW)
    referral = uuid.uuid4()
    CaseReactions(store).referral_changed(referral_news(case_id, referral, 3, "completed"))
    CaseReactions(store).referral_changed(referral_news(case_id, referral, 2, "accepted"))  # overtaken on the bus
    assert [r["status"] for r in CaseQueries(store).activity_of(case_id)["referrals"]] == ["completed"]
    assert [r["status"] for r in CaseQueries(store).referrals_of(case_id)] == ["completed"]
    # Both are in the story, in the order the cases service learned them.
    assert [i["data"]["status"] for i in activity(store, case_id)] == ["completed", "accepted"]


def test_approval_requests_and_decisions_are_in_the_story_and_the_decision_applies_once(store):
    case_id = case_in_implementation(store, CW)
    closure = store.request_closure(CW, case_id, {"reason": "needs_met", "notes": "all goals met"}, {})
    submission = closure.closure["submission"]
    assert CaseReactions(store).approval_requested(approval_news(case_id, "ApprovalRequested", submission, 1)) is True
    decision = approval_news(case_id, "ClosureApproved", submission, 2, decided_by="sup1", commented=True)
    assert CaseReactions(store).apply_decision(decision) is True
    assert CaseReactions(store).apply_decision(decision) is False

    assert store.repository.get(case_id).stage == "closed"
    items = [i for i in AuditTrail(store).history(AUDITOR, case_id, record=False)["items"]
             if i["type"] in ("ApprovalRecorded", "ClosureApproved", "CaseClosed")]
    assert [(i["type"], i["actor"]["username"]) for i in items] == [
        ("ApprovalRecorded", "cw1"), ("ClosureApproved", "sup1"), ("CaseClosed", "sup1"), ("ApprovalRecorded", "sup1")]
    assert items[-1]["data"]["commented"] is True and items[-1]["data"]["decided_by"] == "sup1"
    assert CaseQueries(store).activity_of(case_id)["approvals"] == [
        {"type": "closure", "submission": submission, "requested_by": "cw1", "status": "approved",
         "decided_by": "sup1", "commented": True}]


def test_as_of_shows_referrals_and_approvals_as_they_were(store):
    case_id = case_in_implementation(store, CW)
    referral = uuid.uuid4()
    CaseReactions(store).referral_changed(referral_news(case_id, referral, 1, "requested", by=CW.recorded()))
    CaseReactions(store).referral_changed(referral_news(case_id, referral, 2, "accepted"))
    between = datetime.now(UTC)
    CaseReactions(store).referral_changed(referral_news(case_id, referral, 3, "completed"))
    CaseReactions(store).approval_requested(approval_news(case_id, "ApprovalRequested", 9, 1))

    _, _, then = CaseQueries(store).case_as_of(AUDITOR, case_id, between)
    _, _, now = CaseQueries(store).case_as_of(AUDITOR, case_id, datetime.now(UTC))
    assert [r["status"] for r in then["referrals"]] == ["accepted"] and then["approvals"] == []
    assert [r["status"] for r in now["referrals"]] == ["completed"]
    assert [a["status"] for a in now["approvals"]] == ["pending"]


def test_news_of_a_case_this_store_never_held_is_refused(store):
    with pytest.raises(NotFound):
        CaseReactions(store).referral_changed(referral_news(uuid.uuid4(), uuid.uuid4(), 1, "requested"))


def test_racing_news_and_reads_all_land_in_one_valid_chain(store):
    case_id = case_in_implementation(store, CW)
    Projector(store, CaseIndex()).step()
    news = [referral_news(case_id, uuid.uuid4(), 1, "requested", by=CW.recorded()) for _ in range(8)]
    errors = []

    def deliver(envelope):
        try:
            CaseReactions(store).referral_changed(envelope)
            CaseQueries(store).read_case(CW, case_id)
        except Exception as failure:  # noqa: BLE001 - reported below
            errors.append(failure)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in news]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(activity(store, case_id)) == 8
    assert len(CaseQueries(store).activity_of(case_id)["referrals"]) == 8
    assert AuditTrail(store).verify(AUDITOR, case_id)["valid"] is True


def test_exports_and_verdicts_made_while_the_case_is_busy_hold(store):
    case_id = case_in_implementation(store, CW)
    reading = threading.Event()

    def read():
        while not reading.is_set():
            CaseQueries(store).read_case(CW, case_id)
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(10):
            bundle = AuditTrail(store).export(AUDITOR, case_id)
            assert check_bundle(bundle, keyring(AuditTrail(store).public_keys())) == []
            assert bundle["verification"]["valid"] is True
            assert AuditTrail(store).verify(AUDITOR, case_id)["valid"] is True
    finally:
        reading.set()
        reader.join()
