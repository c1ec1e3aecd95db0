"""Referrals follow their case (issue 15): erased and closed cases, reassignment, withdrawn consent,
and a referral made while the withdrawal is on its way. All through the gateway, on the real system."""
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import wait_until

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic visit", "responsible": "cw", "due_date": "2026-12-15"}]}
NOTES = "Zawadi Unique-Name needs PEP within 72 hours"


def refer(api, case, provider, key=None, service_type="medical", **extra):
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return api.post(f"/v1/cases/{case['id']}/referrals",
                    {"provider_id": provider["id"], "service_type": service_type, **extra}, headers=headers)


def consented_case(api) -> dict:
    case = api.post("/v1/cases", {"survivor": {"name": "Halima"}, "risk_level": "high"}).json()
    assert api.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    return case


def made(api, case, provider, **extra) -> dict:
    """Consent reaches the referrals service as an event: one Idempotency-Key, retried until it has."""
    key = str(uuid.uuid4())
    return wait_until(lambda: (r := refer(api, case, provider, key=key, **extra)).status_code == 201 and r.json(),
                      what="the referral accepted by the referrals service")


def referrals_of(api, case) -> list[dict]:
    response = api.get(f"/v1/cases/{case['id']}/referrals")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def all_withdrawn(api, case, reason) -> list[dict]:
    items = referrals_of(api, case)
    return items if items and all(r["status"] == "withdrawn" and r["reason"] == reason for r in items) else None


def provider_copy(provider_api, referral) -> dict | None:
    return next((r for r in provider_api.get("/v1/referrals").json()["items"] if r["id"] == referral["id"]), None)


def notified(api, case, kind) -> list[dict]:
    return [n for n in api.get("/v1/notifications").json()["items"]
            if n["case_id"] == case["id"] and n["type"] == kind]


def test_erasure_withdraws_open_referrals_and_the_erased_case_refuses_new_ones(people, pathway):
    cw1, sup1, clinic1 = people["cw1"], people["sup1"], pathway["clinic1"]
    case = consented_case(cw1)
    accepted = made(cw1, case, pathway["clinic"], notes=NOTES)
    requested = made(cw1, case, pathway["legal"], service_type="legal")
    wait_until(lambda: provider_copy(clinic1, accepted), what="the referral in the provider's list")
    assert clinic1.post(f"/v1/referrals/{accepted['id']}/accept").json()["status"] == "accepted"

    assert sup1.post(f"/v1/cases/{case['id']}/erase", {"reason": "survivor asked to be forgotten"}).status_code == 200
    withdrawn = wait_until(lambda: all_withdrawn(cw1, case, "erased"), what="every open referral withdrawn")
    assert {r["id"] for r in withdrawn} == {accepted["id"], requested["id"]}

    again = refer(cw1, case, pathway["clinic"])
    assert again.status_code == 409, again.text
    assert clinic1.post(f"/v1/referrals/{accepted['id']}/complete", {"outcome": "seen"}).status_code == 409
    assert pathway["legal1"].post(f"/v1/referrals/{requested['id']}/accept").status_code == 409
    seen = wait_until(lambda: (r := provider_copy(clinic1, accepted)) and r["status"] == "withdrawn" and r,
                      what="the provider's copy withdrawn")
    assert seen["notes"] is None
    wait_until(lambda: notified(clinic1, case, "referral_updated"), what="the provider told")
    assert [r["id"] for r in referrals_of(cw1, case)] == [r["id"] for r in withdrawn]  # nothing new


def test_a_closed_case_refuses_new_referrals(people, pathway):
    admin, cw2 = people["admin"], people["cw2"]
    assert admin.request("PUT", "/v1/approval-policy", {"case_plan": "never", "closure": "never"}).status_code == 200
    try:
        case = consented_case(cw2)
        made(cw2, case, pathway["clinic"])  # the referrals service knows the consent
        assert cw2.post(f"/v1/cases/{case['id']}/assessment", {"needs": ["medical"], "safety_concerns": "x"}
                        ).status_code == 200
        assert cw2.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200
        assert cw2.post(f"/v1/cases/{case['id']}/plan/submit").status_code == 202
        wait_until(lambda: cw2.get(f"/v1/cases/{case['id']}").json()["stage"] == "implementation", what="approved")
        assert cw2.post(f"/v1/cases/{case['id']}/closure", {"reason": "needs_met", "notes": "done"}).status_code == 202
        wait_until(lambda: cw2.get(f"/v1/cases/{case['id']}").json()["stage"] == "closed", what="closed")
    finally:
        admin.request("PUT", "/v1/approval-policy", {"case_plan": "always", "closure": "always"})
    refused = refer(cw2, case, pathway["clinic"])
    assert refused.status_code == 409, refused.text
    assert len(referrals_of(cw2, case)) == 1


def test_after_reassignment_the_new_caseworker_has_the_referrals_and_the_previous_one_none(people, pathway):
    cw1, cw2, sup1 = people["cw1"], people["cw2"], people["sup1"]
    case = consented_case(cw1)
    referral = made(cw1, case, pathway["clinic"], notes=NOTES)
    wait_until(lambda: referral["id"] in {r["id"] for r in cw1.get("/v1/referrals").json()["items"]},
               what="the referral in the caseworker's list")

    assert sup1.post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"}).status_code == 200
    wait_until(lambda: referral["id"] in {r["id"] for r in cw2.get("/v1/referrals").json()["items"]},
               what="the referral in the new caseworker's list")
    [mine] = referrals_of(cw2, case)
    assert mine["notes"] == NOTES
    assert referral["id"] not in {r["id"] for r in cw1.get("/v1/referrals").json()["items"]}
    assert cw1.get(f"/v1/cases/{case['id']}/referrals").status_code == 404
    assert cw1.post(f"/v1/referrals/{referral['id']}/withdraw", {"reason": "x"}).status_code == 404
    assert referral["id"] in {r["id"] for r in sup1.get("/v1/referrals").json()["items"]}
    answer = cw2.post(f"/v1/referrals/{referral['id']}/withdraw", {"reason": "found closer clinic"})
    assert answer.status_code == 200 and answer.json()["status"] == "withdrawn"


def test_withdrawn_consent_withdraws_open_referrals_and_the_provider_can_no_longer_act(people, pathway):
    cw3, clinic1 = people["cw3"], pathway["clinic1"]
    case = consented_case(cw3)
    requested = made(cw3, case, pathway["clinic"], notes=NOTES)
    accepted = made(cw3, case, pathway["clinic"], service_type="psychosocial")
    declined = made(cw3, case, pathway["legal"], service_type="legal")
    answer = pathway["legal1"].post(f"/v1/referrals/{declined['id']}/decline", {"reason": "full"})
    assert answer.status_code == 200, answer.text
    answer = clinic1.post(f"/v1/referrals/{accepted['id']}/accept")
    assert answer.status_code == 200, answer.text

    assert cw3.post(f"/v1/cases/{case['id']}/consent/withdraw").status_code == 200
    def settled():
        items = {r["id"]: r for r in referrals_of(cw3, case)}
        done = all(items[r["id"]]["status"] == "withdrawn" for r in (requested, accepted))
        return done and items
    items = wait_until(settled, what="the open referrals withdrawn")
    assert items[requested["id"]]["reason"] == items[accepted["id"]]["reason"] == "consent_withdrawn"
    assert items[declined["id"]]["status"] == "declined"  # closed referrals stay as they were

    assert clinic1.post(f"/v1/referrals/{requested['id']}/accept").status_code == 409
    assert clinic1.post(f"/v1/referrals/{accepted['id']}/complete", {"outcome": "x"}).status_code == 409
    seen = wait_until(lambda: (r := provider_copy(clinic1, requested)) and r["status"] == "withdrawn" and r,
                      what="the provider's copy withdrawn")
    assert seen["notes"] is None
    wait_until(lambda: len(notified(clinic1, case, "referral_updated")) >= 2, what="the provider told of both")
    assert refer(cw3, case, pathway["clinic"]).status_code == 409


@pytest.mark.parametrize("attempt", range(2))
def test_a_referral_made_while_the_withdrawal_is_on_its_way_is_withdrawn_too(people, pathway, attempt):
    cw1 = people["cw1"]
    case = consented_case(cw1)
    made(cw1, case, pathway["clinic"])  # the referrals service has heard of the consent

    def withdraw():
        return cw1.post(f"/v1/cases/{case['id']}/consent/withdraw").status_code

    with ThreadPoolExecutor(max_workers=17) as pool:
        answers = [pool.submit(refer, cw1, case, pathway["clinic"]) for _ in range(8)]
        withdrawal = pool.submit(withdraw)
        answers += [pool.submit(refer, cw1, case, pathway["clinic"]) for _ in range(8)]
        statuses = [a.result().status_code for a in answers]
    assert withdrawal.result() == 200
    assert set(statuses) <= {201, 409}, statuses
    made_now = sum(s == 201 for s in statuses)
    items = wait_until(lambda: all_withdrawn(cw1, case, "consent_withdrawn"), what="every referral withdrawn")
    assert len(items) == 1 + made_now
