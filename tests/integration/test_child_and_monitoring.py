"""Child survivors' cases and monitoring by domain, over HTTP on the running system."""
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import wait_until

CHILD = {"survivor": {"name": "Nadia"}, "risk_level": "medium", "is_child": True}
CAREGIVER = {"name": "Amina", "relationship": "mother"}


@pytest.fixture
def no_approvals(people):
    """The organisation needs no approval for plans: only the child rule can ask for one."""
    admin = people["admin"]
    admin.request("PUT", "/v1/approval-policy", {"case_plan": "never", "closure": "never"})
    yield
    admin.request("PUT", "/v1/approval-policy", {"case_plan": "always", "closure": "always"})


def post(api, path, body, status):
    response = api.post(path, body)
    assert response.status_code == status, response.text
    return response.json()


def test_a_child_case_needs_a_caregiver_or_a_reason_for_having_none(people):
    cw1 = people["cw1"]
    assert set(post(cw1, "/v1/cases", CHILD, 422)["errors"]) == {"caregiver"}
    assert set(post(cw1, "/v1/cases", {**CHILD, "unaccompanied": True}, 422)["errors"]) == {"unaccompanied_reason"}
    alone = post(cw1, "/v1/cases", {**CHILD, "unaccompanied": True, "unaccompanied_reason": "separated at the border"}, 201)
    assert alone["unaccompanied"] == {"reason": "separated at the border"}
    assert post(cw1, "/v1/cases", {**CHILD, "caregiver": CAREGIVER}, 201)["caregiver"] == CAREGIVER


def test_when_caregiver_consents_and_child_does_not_a_supervisor_approves_the_plan_whatever_the_policy(
        people, no_approvals):
    cw1, sup1 = people["cw1"], people["sup1"]
    disagree = {"services": True, "share_with_providers": False, "mandatory_reporting_explained": True,
                "given_by": "caregiver", "child_assent": False, "child_age": 12}
    cases = {}
    for name, consent in (("disagree", disagree), ("agree", {**disagree, "child_assent": True})):
        case = post(cw1, "/v1/cases", {**CHILD, "caregiver": CAREGIVER}, 201)
        path = f"/v1/cases/{case['id']}"
        if name == "disagree":
            assert set(post(cw1, f"{path}/consent", consent, 422)["errors"]) == {"best_interests_note"}
            consent = {**consent, "best_interests_note": "she is safer staying with her mother for now"}
        recorded = post(cw1, f"{path}/consent", consent, 201)
        assert recorded["child_age"] == 12
        post(cw1, f"{path}/assessment", {"needs": ["medical"], "safety_concerns": "x"}, 200)
        plan = {"goals": [{"need": "medical", "action": "clinic", "responsible": "cw1", "due_date": "2026-12-20",
                           "consulted": ["aunt", "teacher"]}], "child_participation": "she chose the clinic"}
        assert cw1.request("PUT", f"{path}/plan", plan).json()["plan"]["child_participation"] == "she chose the clinic"
        post(cw1, f"{path}/plan/submit", None, 202)
        cases[name] = case
    wait_until(lambda: cw1.get(f"/v1/cases/{cases['agree']['id']}").json()["plan"]["status"] == "approved",
               what="the policy approving the plan where the child assents")
    request = wait_until(lambda: next((i for i in sup1.every("/v1/approvals", {"status": "pending"})
                                       if i["case_id"] == cases["disagree"]["id"]), None),
                         what="the forced approval request")
    assert cw1.get(f"/v1/cases/{cases['disagree']['id']}").json()["plan"]["status"] == "submitted"
    post(sup1, f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": "agreed"}, 200)
    wait_until(lambda: cw1.get(f"/v1/cases/{cases['disagree']['id']}").json()["stage"] == "implementation",
               what="the supervisor's approval applied")


def test_ratings_by_domain_set_the_risk_show_what_is_left_to_discuss_and_cannot_be_lowered(people, no_approvals):
    cw1 = people["cw1"]
    case = post(cw1, "/v1/cases", {"survivor": {"name": "Halima"}, "risk_level": "low"}, 201)
    path = f"/v1/cases/{case['id']}"
    post(cw1, f"{path}/consent", {"services": True, "share_with_providers": False,
                                  "mandatory_reporting_explained": True, "given_by": "survivor"}, 201)
    post(cw1, f"{path}/assessment", {"needs": ["psychosocial"], "safety_concerns": "x"}, 200)
    cw1.request("PUT", f"{path}/plan", {"goals": [{"need": "psychosocial", "action": "counselling",
                                                  "responsible": "cw1", "due_date": "2026-12-20"}]})
    post(cw1, f"{path}/plan/submit", None, 202)
    wait_until(lambda: cw1.get(path).json()["stage"] == "implementation", what="the plan approved by policy")
    when = datetime.now(UTC)  # not before the case was registered
    contact = {"contacted": True, "contact_date": when.isoformat(), "safety_reassessed": True, "mode": "video",
               "spoken_to": ["survivor"], "domain_ratings": {"safety_protection": "green", "psychosocial_mental_health": "red"}}
    after = post(cw1, f"{path}/follow-ups", contact, 201)
    monitoring = after["monitoring"]
    assert after["risk_level"] == "high" and monitoring["computed_risk"] == "high"
    assert monitoring["to_discuss"] == ["health_development", "family_relationships", "education",
                                        "livelihood_basic_needs"]
    assert monitoring["ratings"]["psychosocial_mental_health"]["rating"] == "red"
    due = datetime.fromisoformat(after["follow_up"]["next_due"].replace("Z", "+00:00"))
    assert abs(due - (when + timedelta(hours=84))) < timedelta(seconds=1)  # high: twice a week

    version = after["version"]
    lowered = post(cw1, f"{path}/follow-ups", {**contact, "domain_ratings": {"safety_protection": "red"},
                                               "raise_risk_to": "medium", "raise_reason": "calmer"}, 422)
    assert set(lowered["errors"]) == {"raise_risk_to"}
    assert set(post(cw1, f"{path}/follow-ups", {**contact, "raise_risk_to": "high"}, 422)["errors"]) == {"raise_reason"}
    assert cw1.get(path).json()["version"] == version  # nothing stored
    assert people["aud1"].get(path, params={"as_of": datetime.now(UTC).isoformat()}).json()["monitoring"][
        "computed_risk"] == "high"
