"""README promises about the HTTP API and operations that no other test checked, through the gateway on
the running system: reading leaves a case's version alone, the case list's filters and numbers, who
reads the approval policy, a caseworker's supervisor, Idempotency-Key on every POST, and every metric
the README lists served by some service."""
import re
import uuid
from datetime import UTC, datetime

import pytest
import requests

from tests.support import PASSWORD, ROOT, wait_until

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}


def new_case(api, risk="medium") -> dict:
    response = api.post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": risk})
    assert response.status_code == 201, response.text
    return response.json()


def test_reading_a_case_in_any_way_never_changes_its_version_or_etag(people):
    cw1, sup1, aud1 = people["cw1"], people["sup1"], people["aud1"]
    case = new_case(cw1)
    path = f"/v1/cases/{case['id']}"
    assert cw1.post(f"{path}/consent", CONSENT).status_code == 201
    first = cw1.get(path)
    for reader in (cw1, sup1, aud1):
        reader.get(path)
        reader.get(path, params={"as_of": datetime.now(UTC).isoformat()})
        assert reader.get(f"{path}/history").status_code == 200
    again = cw1.get(path)
    assert again.headers["ETag"] == first.headers["ETag"] == f'"{first.json()["version"]}"'
    assert again.json()["version"] == first.json()["version"]
    views = [i for i in aud1.get(f"{path}/history").json()["items"] if i["type"] == "CaseViewed"]
    assert len(views) >= 10  # the reads were recorded, in a stream of their own


def test_the_case_list_filters_by_stage_risk_caseworker_and_numbers_cases_by_prefix_and_year(people):
    cw1, cw2, sup1 = people["cw1"], people["cw2"], people["sup1"]
    high, low = new_case(cw1, "high"), new_case(cw2, "low")
    assert cw1.post(f"/v1/cases/{high['id']}/consent", CONSENT).status_code == 201
    assert cw1.post(f"/v1/cases/{high['id']}/assessment", {"needs": ["medical"], "safety_concerns": "x"}
                    ).status_code == 200
    for case in (high, low):
        assert re.fullmatch(rf"GBV-{datetime.now(UTC).year}-\d{{6}}", case["case_number"]), case["case_number"]

    def listed(**query) -> set[str]:
        return {i["id"] for i in sup1.get("/v1/cases", params={"limit": 200, **query}).json()["items"]}
    wait_until(lambda: high["id"] in listed(stage="case_plan"), what="the assessed case listed in case_plan")
    assert low["id"] not in listed(stage="case_plan") and low["id"] in listed(stage="engagement")
    assert high["id"] in listed(risk_level="high") and high["id"] not in listed(risk_level="low")
    assert low["id"] in listed(assigned_to="cw2") and high["id"] not in listed(assigned_to="cw2")
    assert {high["id"], low["id"]} <= listed(overdue="false") and not {high["id"], low["id"]} & listed(overdue="true")
    assert sup1.get("/v1/cases", params={"limit": 201}).status_code == 422


def test_any_user_reads_the_approval_policy_and_only_an_admin_sets_it(people, pathway):
    for reader in (people["cw1"], people["sup1"], people["aud1"], pathway["clinic1"], people["admin"]):
        policy = reader.get("/v1/approval-policy")
        assert policy.status_code == 200 and set(policy.json()) == {"case_plan", "closure"}, policy.text
    for setter in (people["sup1"], people["aud1"], pathway["clinic1"]):
        assert setter.request("PUT", "/v1/approval-policy", {"case_plan": "never", "closure": "never"}
                              ).status_code == 403


def test_a_caseworker_needs_an_existing_supervisor(people):
    admin = people["admin"]
    for supervisor in (None, f"nobody-{uuid.uuid4().hex[:6]}", "cw1"):  # none, unknown, not a supervisor
        response = admin.post("/v1/users", {"username": f"cw-{uuid.uuid4().hex[:8]}", "password": PASSWORD,
                                            "role": "caseworker", "display_name": "C", "supervisor": supervisor})
        assert response.status_code == 422, (supervisor, response.text)
        assert "supervisor" in response.json()["errors"]


# --- Idempotency-Key on every POST ------------------------------------------------------------

def retried(api, path, body, other_body=None):
    """The POST sent twice with one key, then (for a route that takes a body) with the key and another body."""
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first, again = api.post(path, body, headers=key), api.post(path, body, headers=key)
    return first, again, (api.post(path, other_body, headers=key) if other_body is not None else None)


def assert_first_answer_then_conflict(first, again, other):
    assert first.status_code < 300, first.text
    assert (again.status_code, again.json()) == (first.status_code, first.json()), again.text
    assert other is None or other.status_code == 409, other.text


def referral_path(people, pathway) -> str:
    cw1 = people["cw1"]
    case = new_case(cw1)
    assert cw1.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    key = {"Idempotency-Key": str(uuid.uuid4())}
    referral = wait_until(lambda: (r := cw1.post(f"/v1/cases/{case['id']}/referrals", {
        "provider_id": pathway["clinic"]["id"], "service_type": "medical"}, headers=key)).status_code == 201 and r.json(),
        what="the referral (consent reaches the referrals service first)")
    return f"/v1/referrals/{referral['id']}"


def test_a_retried_referral_keeps_its_first_answer(people, pathway):
    cw1 = people["cw1"]
    case = new_case(cw1)
    assert cw1.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    body = {"provider_id": pathway["clinic"]["id"], "service_type": "medical", "notes": "first"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = wait_until(lambda: (r := cw1.post(f"/v1/cases/{case['id']}/referrals", body, headers=key)
                                ).status_code == 201 and r, what="the referral")
    again = cw1.post(f"/v1/cases/{case['id']}/referrals", body, headers=key)
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    assert cw1.post(f"/v1/cases/{case['id']}/referrals", dict(body, notes="other"), headers=key).status_code == 409
    assert len(cw1.get(f"/v1/cases/{case['id']}/referrals").json()["items"]) == 1


def test_a_retried_user_creation_keeps_its_first_answer(people):
    username = f"cw-{uuid.uuid4().hex[:8]}"
    body = {"username": username, "password": PASSWORD, "role": "caseworker", "display_name": "C",
            "supervisor": "sup1"}
    assert_first_answer_then_conflict(*retried(people["admin"], "/v1/users", body, dict(body, display_name="D")))


@pytest.mark.parametrize("action, body, other", [("accept", {}, None),
                                                 ("decline", {"reason": "full"}, {"reason": "closed"})])
def test_a_retried_provider_action_keeps_its_first_answer(people, pathway, action, body, other):
    path = referral_path(people, pathway)
    assert_first_answer_then_conflict(*retried(pathway["clinic1"], f"{path}/{action}", body, other))


def test_a_retried_referral_withdrawal_keeps_its_first_answer(people, pathway):
    path = referral_path(people, pathway)
    assert_first_answer_then_conflict(*retried(people["cw1"], f"{path}/withdraw", {"reason": "moved away"},
                                               {"reason": "changed her mind"}))


# --- metrics ------------------------------------------------------------------------------------

def readme_metrics() -> set[str]:
    """Every metric name in the README's metrics table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("| metric | what |", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"`(casetrail_[a-z_]+)", table))


def test_every_metric_the_readme_lists_is_served(system):
    listed = readme_metrics()
    assert len(listed) >= 25, listed  # the table's rows, read from the README itself
    served = "".join(requests.get(f"{process.url}/metrics", timeout=5).text for process in system.values())
    declared = set(re.findall(r"^# TYPE (casetrail_[a-z_]+) ", served, re.MULTILINE))
    assert not listed - declared, f"listed in the README, served by no service: {sorted(listed - declared)}"
