import uuid

import pytest

from services.approvals.domain import Approval, approval_needed
from shared.errors import InvalidInput, InvalidTransition

CW = {"username": "cw1", "role": "caseworker", "correlation_id": None}
SUP = {"username": "sup1", "role": "supervisor", "correlation_id": None}
CASE = uuid.uuid4()


def pending(requested_by="cw1", submission=4) -> Approval:
    approval = Approval(id=Approval.id_for(CASE, "case_plan", submission), case_id=CASE, case_number="GBV-2026-000001",
                        kind="case_plan", submission=submission, requested_by=requested_by, risk_level="high", by=CW)
    approval.request(by=CW)
    return approval


@pytest.mark.parametrize("rule, risk, needed", [
    ("always", "low", True), ("always", "high", True), ("never", "high", False),
    ("high_risk", "high", True), ("high_risk", "medium", False), ("high_risk", "low", False)])
def test_policy(rule, risk, needed):
    assert approval_needed({"case_plan": rule, "closure": "always"}, "case_plan", risk) is needed


def test_the_same_submission_is_the_same_approval():
    assert Approval.id_for(CASE, "case_plan", 4) == Approval.id_for(CASE, "case_plan", 4)
    assert Approval.id_for(CASE, "case_plan", 4) != Approval.id_for(CASE, "closure", 4)
    assert Approval.id_for(CASE, "case_plan", 4) != Approval.id_for(CASE, "case_plan", 6)


def test_a_request_is_decided_once_and_a_rejection_needs_a_comment():
    approval = pending()
    with pytest.raises(InvalidInput):
        approval.decide("reject", "  ", "sup1", by=SUP)
    approval.decide("reject", "add a safety goal", "sup1", by=SUP)
    assert approval.status == "rejected" and approval.comment == "add a safety goal"
    with pytest.raises(InvalidTransition, match="already rejected"):
        approval.decide("approve", None, "sup1", by=SUP)


def test_a_superseded_request_cannot_be_decided():
    approval = pending()
    assert approval.supersede(by=CW)
    assert not approval.supersede(by=CW)
    with pytest.raises(InvalidTransition, match="newer submission"):
        approval.decide("approve", None, "sup1", by=SUP)


def test_every_public_approval_event_passes_its_bus_schema():
    from services.approvals.views import public_event
    from shared.envelope import PAYLOADS
    rejected = pending()
    rejected.decide("reject", "why", "sup1", by=SUP)
    by_policy = Approval(id=uuid.uuid4(), case_id=CASE, case_number="GBV-2026-000002", kind="closure",
                         submission=9, requested_by="cw1", risk_level="low", by=CW)
    by_policy.grant_by_policy(by=CW)
    kinds = []
    for event in rejected.collect_events() + by_policy.collect_events():
        if (public := public_event(event)) is not None:
            payload = PAYLOADS[public[0]].load(public[1])
            assert "comment" not in payload
            kinds.append(public[0])
    assert kinds == ["ApprovalRequested", "CasePlanRejected", "ClosureApproved"]
