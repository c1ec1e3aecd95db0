"""README claims about approvals, through the gateway on the running system: the queue's order, the
`high_risk` policy for closures, and decision comments erased with their case."""
import pytest

from tests.support import PASSWORD, new_user, post, wait_until

CONSENT = {"services": True, "share_with_providers": False, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic visit", "responsible": "cw", "due_date": "2026-12-15"}]}


@pytest.fixture
def team(people, api):
    """A supervisor and a caseworker of their own, so that their queue holds only this test's requests."""
    supervisor = new_user(people["admin"], "supervisor")
    caseworker = new_user(people["admin"], "caseworker", supervisor=supervisor)
    return api.login(supervisor, PASSWORD), api.login(caseworker, PASSWORD)


@pytest.fixture
def policy(people):
    def set_policy(case_plan="always", closure="always"):
        response = people["admin"].request("PUT", "/v1/approval-policy", {"case_plan": case_plan, "closure": closure})
        assert response.status_code == 200, response.text
    yield set_policy
    set_policy()


def case_with_plan(cw, risk="medium") -> dict:
    case = post(cw, "/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": risk}, 201).json()
    post(cw, f"/v1/cases/{case['id']}/consent", CONSENT, 201)
    post(cw, f"/v1/cases/{case['id']}/assessment", {"needs": ["medical"], "safety_concerns": "x"}, 200)
    assert cw.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200
    return case


def queued(api, case, status=None) -> list[dict]:
    params = {"status": status} if status else None
    return [i for i in api.every("/v1/approvals", params) if i["case_id"] == case["id"]]


def pending_request(supervisor, case, kind="case_plan") -> dict:
    return wait_until(lambda: next((i for i in queued(supervisor, case, "pending") if i["type"] == kind), None),
                      what=f"the pending {kind} request")


def decide(supervisor, request, decision, comment=None) -> dict:
    return post(supervisor, f"/v1/approvals/{request['id']}/decision",
                {"decision": decision, "comment": comment}, 200).json()


def stage(api, case) -> str:
    return api.get(f"/v1/cases/{case['id']}").json()["stage"]


def test_the_queue_lists_requests_oldest_first_in_an_order_decisions_do_not_change(team):
    """Issue 20: a stable order to page in (oldest first); `status=pending` is what waits, oldest first."""
    supervisor, caseworker = team
    cases = [case_with_plan(caseworker) for _ in range(4)]
    requests = []
    for case in cases:  # each request is received before the next plan is submitted: they age in this order
        post(caseworker, f"/v1/cases/{case['id']}/plan/submit", None, 202)
        requests.append(pending_request(supervisor, case))
    decide(supervisor, requests[0], "approve")
    decide(supervisor, requests[2], "reject", comment="add a safety goal")

    wait_until(lambda: len(supervisor.get("/v1/approvals", params={"status": "pending"}).json()["items"]) == 2,
               what="both decisions in the queue")
    for reader in (supervisor, caseworker):
        items = [i for i in reader.get("/v1/approvals", params={"limit": 200}).json()["items"]
                 if i["id"] in {r["id"] for r in requests}]
        assert [i["id"] for i in items] == [r["id"] for r in requests], items
        assert [i["status"] for i in items] == ["approved", "pending", "rejected", "pending"]
    pending = supervisor.get("/v1/approvals", params={"status": "pending", "limit": 200}).json()["items"]
    assert [i["id"] for i in pending if i["id"] in {r["id"] for r in requests}] == [requests[1]["id"], requests[3]["id"]]
    assert [i["requested_at"] for i in pending] == sorted(i["requested_at"] for i in pending)


def test_high_risk_policy_approves_low_risk_closures_at_once_and_sends_high_risk_ones_to_the_supervisor(
        people, policy):
    policy(case_plan="always", closure="high_risk")
    cw2, sup1 = people["cw2"], people["sup1"]
    low = post(cw2, "/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"}, 201).json()
    high = post(cw2, "/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "high"}, 201).json()
    post(cw2, f"/v1/cases/{low['id']}/closure", {"reason": "needs_met", "notes": "done"}, 202)
    post(cw2, f"/v1/cases/{high['id']}/closure", {"reason": "needs_met", "notes": "done"}, 202)

    wait_until(lambda: stage(cw2, low) == "closed", what="the low-risk closure approved by policy")
    closure = cw2.get(f"/v1/cases/{low['id']}").json()["closure"]
    assert closure["status"] == "approved" and closure["decided_by"] == "policy"
    [by_policy] = wait_until(lambda: queued(sup1, low), what="the policy's decision in the queue")
    assert (by_policy["type"], by_policy["status"], by_policy["decided_by"]) == ("closure", "approved", "policy")

    request = pending_request(sup1, high, kind="closure")
    assert request["requested_by"] == "cw2"
    assert stage(cw2, high) == "engagement"
    decide(sup1, request, "approve")
    wait_until(lambda: stage(cw2, high) == "closed", what="the high-risk closure approved by the supervisor")
    assert cw2.get(f"/v1/cases/{high['id']}").json()["closure"]["decided_by"] == "sup1"


def test_decision_comments_read_erased_once_the_case_is_erased(people):
    cw1, sup1 = people["cw1"], people["sup1"]
    case = case_with_plan(cw1)
    post(cw1, f"/v1/cases/{case['id']}/plan/submit", None, 202)
    decide(sup1, pending_request(sup1, case), "reject", comment="Comment-Plant-7f3 needs a safety goal")
    wait_until(lambda: cw1.get(f"/v1/cases/{case['id']}").json()["plan"]["status"] == "rejected", what="rejection")
    assert cw1.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200  # revised
    post(cw1, f"/v1/cases/{case['id']}/plan/submit", None, 202)
    decide(sup1, pending_request(sup1, case), "approve", comment="Comment-Plant-7f3 good now")
    comments = wait_until(lambda: comments_of(cw1, case) if len(comments_of(cw1, case)) == 2 else None,
                          what="both decisions in the caseworker's queue")
    assert comments == {"rejected": "Comment-Plant-7f3 needs a safety goal", "approved": "Comment-Plant-7f3 good now"}

    post(sup1, f"/v1/cases/{case['id']}/erase", {"reason": "the survivor asked to be forgotten"}, 200)

    for reader in (cw1, sup1):
        assert comments_of(reader, case) == {"rejected": "[erased]", "approved": "[erased]"}


def comments_of(api, case) -> dict[str, str]:
    """The comment of each decided request on the case, by its status."""
    return {i["status"]: i["comment"] for i in queued(api, case) if i["status"] != "pending" and "comment" in i}
