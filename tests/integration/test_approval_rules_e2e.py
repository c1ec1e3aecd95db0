"""Approval requests reach someone who can decide them (issue 15): a supervisor's own submission goes
to their supervisor, a supervisor without one cannot submit what needs approval, and a pending
request follows its case to the new caseworker. All through the gateway, on the real system."""
import uuid

import pytest

from tests.support import PASSWORD, new_user, wait_until

NEW_CASE = {"survivor": {"name": "Nadia"}, "risk_level": "medium"}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "psychosocial", "action": "counselling", "responsible": "x", "due_date": "2026-12-15"}]}


@pytest.fixture(scope="module")
def chain(people, api):
    """A head of programme (no supervisor), a supervisor under them, and a caseworker under that one."""
    admin = people["admin"]
    head = new_user(admin, "supervisor")
    supervisor = new_user(admin, "supervisor", supervisor=head)
    caseworker = new_user(admin, "caseworker", supervisor=supervisor)
    return {name: api.login(username, PASSWORD) for name, username in
            (("head", head), ("supervisor", supervisor), ("caseworker", caseworker))}


def case_with_plan(api) -> dict:
    case = api.post("/v1/cases", NEW_CASE).json()
    assert api.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    assert api.post(f"/v1/cases/{case['id']}/assessment", {"needs": ["psychosocial"], "safety_concerns": "x"}
                    ).status_code == 200
    assert api.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200
    return case


def queued(api, case, status="pending") -> list[dict]:
    return [i for i in api.get(f"/v1/approvals?status={status}").json()["items"] if i["case_id"] == case["id"]]


def me(api) -> dict:
    return api.get("/v1/users/me").json()


def test_a_supervisor_may_have_a_supervisor_and_no_other_role_but_a_caseworker(people, chain):
    assert me(chain["supervisor"])["supervisor"] == me(chain["head"])["username"]
    refused = people["admin"].post("/v1/users", {"username": f"aud-{uuid.uuid4().hex[:8]}", "password": PASSWORD,
                                                 "role": "auditor", "display_name": "A", "supervisor": "sup1"})
    assert refused.status_code == 422


def test_a_plan_a_supervisor_submits_on_a_case_they_hold_goes_to_their_supervisor(chain):
    supervisor, head = chain["supervisor"], chain["head"]
    case = case_with_plan(supervisor)
    assert supervisor.post(f"/v1/cases/{case['id']}/plan/submit").status_code == 202
    [request] = wait_until(lambda: queued(head, case), what="the request in the head's queue")
    assert request["requested_by"] == me(supervisor)["username"]
    own = supervisor.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"})
    assert own.status_code == 403
    assert head.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 200
    wait_until(lambda: supervisor.get(f"/v1/cases/{case['id']}").json()["stage"] == "implementation",
               what="the plan approved")


def test_a_plan_a_supervisor_submits_on_their_teams_case_goes_to_their_supervisor(chain):
    supervisor, head, caseworker = chain["supervisor"], chain["head"], chain["caseworker"]
    case = case_with_plan(caseworker)
    assert supervisor.post(f"/v1/cases/{case['id']}/plan/submit").status_code == 202
    [request] = wait_until(lambda: queued(head, case), what="the request in the head's queue")
    assert queued(caseworker, case) == [request]  # the case's caseworker sees it, nobody else decides
    assert supervisor.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 403
    assert head.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 200


def test_a_supervisor_without_a_supervisor_cannot_submit_what_needs_approval(chain):
    head = chain["head"]
    case = case_with_plan(head)
    refused = head.post(f"/v1/cases/{case['id']}/plan/submit")
    assert refused.status_code == 409 and "approve" in refused.json()["detail"]
    assert head.get(f"/v1/cases/{case['id']}").json()["plan"]["status"] == "draft"


def test_after_reassignment_the_pending_request_is_the_new_caseworkers(people):
    cw1, cw2, sup1, sup2 = people["cw1"], people["cw2"], people["sup1"], people["sup2"]
    case = case_with_plan(cw1)
    assert cw1.post(f"/v1/cases/{case['id']}/plan/submit").status_code == 202
    [request] = wait_until(lambda: queued(cw1, case), what="the request in the caseworker's queue")

    assert sup1.post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"}).status_code == 200
    [moved] = wait_until(lambda: queued(cw2, case), what="the request in the new caseworker's queue")
    assert moved["id"] == request["id"] and moved["requested_by"] == "cw1"  # who asked stays
    assert queued(cw1, case) == []
    assert queued(sup2, case) == []
    assert [i["id"] for i in queued(sup1, case)] == [request["id"]]
    assert sup1.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 200
    wait_until(lambda: queued(cw2, case, "approved"), what="the decision in the new caseworker's queue")
    assert queued(cw1, case, "approved") == []
