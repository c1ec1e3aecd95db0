"""Approvals end to end: the real approvals and cases services, joined only by RabbitMQ."""
import uuid
from datetime import UTC, datetime

import pytest

from services.approvals.domain import Approval
from shared.bus import event_publisher
from shared.envelope import make_envelope
from tests.support import PASSWORD, post, publish_as_owner, wait_until

NEW_CASE = {"survivor": {"name": "Nadia"}, "risk_level": "medium"}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "psychosocial", "action": "counselling", "responsible": "cw1", "due_date": "2026-12-15"}]}


def case_with_plan(api, risk="medium") -> dict:
    case = post(api, "/v1/cases", dict(NEW_CASE, risk_level=risk), 201).json()
    post(api, f"/v1/cases/{case['id']}/consent", CONSENT, 201)
    post(api, f"/v1/cases/{case['id']}/assessment", {"needs": ["psychosocial"], "safety_concerns": "x"}, 200)
    assert api.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200
    return case


def stage(api, case) -> str:
    return api.get(f"/v1/cases/{case['id']}").json()["stage"]


def requests_for(api, case, status=None) -> list[dict]:
    params = {"status": status} if status else None
    return [item for item in api.every("/v1/approvals", params) if item["case_id"] == case["id"]]


def pending_request(api, case) -> dict:
    return wait_until(lambda: next(iter(requests_for(api, case, "pending")), None), what="a pending request")


@pytest.fixture
def policy(people):
    admin = people["admin"]

    def set_policy(case_plan="always", closure="always"):
        response = admin.request("PUT", "/v1/approval-policy", {"case_plan": case_plan, "closure": closure})
        assert response.status_code == 200, response.text
    yield set_policy
    set_policy()


def test_a_supervisor_approves_a_submitted_plan(people):
    cw1, sup1 = people["cw1"], people["sup1"]
    case = case_with_plan(cw1)
    post(cw1, f"/v1/cases/{case['id']}/plan/submit", None, 202)

    request = pending_request(sup1, case)
    assert request["type"] == "case_plan" and request["requested_by"] == "cw1"
    assert request["case_number"] == case["case_number"]
    decided = post(sup1, f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": "good"}, 200)
    assert decided.json()["status"] == "approved"
    wait_until(lambda: stage(cw1, case) == "implementation", what="the case in implementation")
    assert post(sup1, f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 409


def test_a_rejected_plan_is_revised_resubmitted_and_approved(people):
    cw1, sup1 = people["cw1"], people["sup1"]
    case = case_with_plan(cw1)
    post(cw1, f"/v1/cases/{case['id']}/plan/submit", None, 202)
    first = pending_request(sup1, case)
    assert post(sup1, f"/v1/approvals/{first['id']}/decision", {"decision": "reject"}).status_code == 422
    post(sup1, f"/v1/approvals/{first['id']}/decision", {"decision": "reject", "comment": "add a safety goal"}, 200)
    wait_until(lambda: cw1.get(f"/v1/cases/{case['id']}").json()["plan"]["status"] == "rejected", what="rejection")
    [seen] = requests_for(cw1, case, "rejected")  # the caseworker reads why
    assert seen["comment"] == "add a safety goal" and seen["decided_by"] == "sup1"

    revised = {"goals": PLAN["goals"] + [{"need": "safety", "action": "safety plan", "responsible": "cw1",
                                          "due_date": "2026-12-01"}]}
    assert cw1.request("PUT", f"/v1/cases/{case['id']}/plan", revised).status_code == 200
    post(cw1, f"/v1/cases/{case['id']}/plan/submit", None, 202)
    second = pending_request(sup1, case)
    assert second["id"] != first["id"]
    post(sup1, f"/v1/approvals/{second['id']}/decision", {"decision": "approve"}, 200)
    wait_until(lambda: stage(cw1, case) == "implementation", what="the case in implementation")


def test_high_risk_policy_approves_low_risk_plans_at_once_and_holds_high_risk_ones(people, policy):
    policy(case_plan="high_risk")
    cw2, sup1 = people["cw2"], people["sup1"]
    low, high = case_with_plan(cw2, "low"), case_with_plan(cw2, "high")
    post(cw2, f"/v1/cases/{low['id']}/plan/submit", None, 202)
    post(cw2, f"/v1/cases/{high['id']}/plan/submit", None, 202)

    wait_until(lambda: stage(cw2, low) == "implementation", what="the low-risk plan approved by policy")
    assert cw2.get(f"/v1/cases/{low['id']}").json()["plan"]["decided_by"] == "policy"
    assert pending_request(sup1, high)["requested_by"] == "cw2"
    assert stage(cw2, high) == "case_plan"


def test_never_policy_closes_at_once(people, policy):
    policy(case_plan="never", closure="never")
    cw1 = people["cw1"]
    case = case_with_plan(cw1)
    post(cw1, f"/v1/cases/{case['id']}/plan/submit", None, 202)
    wait_until(lambda: stage(cw1, case) == "implementation", what="the plan approved by policy")
    post(cw1, f"/v1/cases/{case['id']}/closure", {"reason": "needs_met", "notes": "done"}, 202)
    wait_until(lambda: stage(cw1, case) == "closed", what="the closure approved by policy")
    assert people["admin"].get("/v1/approval-policy").json() == {"case_plan": "never", "closure": "never"}


def test_self_approval_and_another_teams_supervisor_are_refused(people, api):
    # A supervisor may act as caseworker on a case of their own; one with a supervisor of their own
    # may submit it (for that one to decide; without one, nobody could: refused).
    username = f"sup-{uuid.uuid4().hex[:8]}"
    assert people["admin"].post("/v1/users", {"username": username, "password": PASSWORD, "role": "supervisor",
                                              "display_name": "S", "supervisor": "sup2"}).status_code == 201
    sup1 = api.login(username, PASSWORD)
    own = case_with_plan(sup1)
    submitted = post(sup1, f"/v1/cases/{own['id']}/plan/submit", None, 202).json()
    own_request = Approval.id_for(uuid.UUID(own["id"]), "case_plan", submitted["version"])
    def decide_own():  # a Response is falsy for 4xx: wrap it
        response = post(sup1, f"/v1/approvals/{own_request}/decision", {"decision": "approve"})
        return [response] if response.status_code != 404 else None
    [refusal] = wait_until(decide_own, what="the supervisor's own request")
    assert refusal.status_code == 403 and "own request" in refusal.json()["detail"]

    case = case_with_plan(people["cw1"])
    post(people["cw1"], f"/v1/cases/{case['id']}/plan/submit", None, 202)
    request = pending_request(people["sup1"], case)
    assert post(people["sup2"], f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 403
    assert post(people["cw2"], f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 403
    assert requests_for(people["sup2"], case) == []
    assert people["cw1"].request("PUT", "/v1/approval-policy", {"case_plan": "never", "closure": "never"}
                                 ).status_code == 403


def test_a_redelivered_or_superseded_submission_opens_one_request(people, test_env):
    """The cases service's submissions, replayed on the real bus by a test client holding the cases
    service's credentials."""
    case = case_with_plan(people["cw1"])
    publisher = event_publisher(test_env["AMQP_URI"])

    def submitted(submission):
        return make_envelope(source="cases", event_type="CasePlanSubmitted", aggregate_id=uuid.UUID(case["id"]),
                             aggregate_version=submission, occurred_at=datetime.now(UTC),
                             by={"username": "cw1", "role": "caseworker", "correlation_id": "t"},
                             payload={"submission": submission, "case_number": case["case_number"],
                                      "risk_level": "medium", "is_child": False})
    first = submitted(40)
    publish_as_owner(publisher, first)
    publish_as_owner(publisher, first)
    older = pending_request(people["sup1"], case)
    publish_as_owner(publisher, submitted(42))
    wait_until(lambda: pending_request(people["sup1"], case)["id"] != older["id"], what="the newer request")
    assert len(requests_for(people["sup1"], case, "pending")) == 1
    superseded = post(people["sup1"], f"/v1/approvals/{older['id']}/decision", {"decision": "approve"})
    assert superseded.status_code == 409 and "newer submission" in superseded.json()["detail"]


def test_submissions_made_while_approvals_is_down_are_each_handled_once(people, system):
    cw3, sup2 = people["cw3"], people["sup2"]
    cases = [case_with_plan(cw3) for _ in range(4)]
    system["approvals"].stop()
    try:
        for case in cases:
            post(cw3, f"/v1/cases/{case['id']}/plan/submit", None, 202)
    finally:
        system["approvals"].start()
    for case in cases:
        pending_request(sup2, case)
    for case in cases:
        assert len(requests_for(sup2, case)) == 1


def test_a_decision_retried_with_its_idempotency_key_gets_the_first_answer(people):
    cw1, sup1 = people["cw1"], people["sup1"]
    case = case_with_plan(cw1)
    post(cw1, f"/v1/cases/{case['id']}/plan/submit", None, 202)
    request = pending_request(sup1, case)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = sup1.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": "ok"}, headers=key)
    again = sup1.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": "ok"}, headers=key)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    other = sup1.post(f"/v1/approvals/{request['id']}/decision", {"decision": "reject", "comment": "no"}, headers=key)
    assert other.status_code == 409
