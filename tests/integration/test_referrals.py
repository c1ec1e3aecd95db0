"""Referrals end to end: consent from the cases service's events, providers who see only theirs."""
import json
import uuid

from tests.support import database, wait_until

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}


def refer(cw, case, provider, service_type="medical", key=None, **extra):
    headers = {"Idempotency-Key": key} if key else None
    return cw.post(f"/v1/cases/{case['id']}/referrals",
                   {"provider_id": provider["id"], "service_type": service_type, **extra}, headers=headers)


def consented_case(cw) -> dict:
    case = cw.post("/v1/cases", {"survivor": {"name": "Wanjiru Secret", "phone": "+254711111111"},
                                 "risk_level": "high"}).json()
    assert cw.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    return case


def consent_known(env, case) -> tuple[bool, bool] | None:
    """(services, share_with_providers) as the referrals service last heard them for the case."""
    with database(env) as conn:
        return conn.execute("SELECT services, share_with_providers FROM referrals.consent WHERE case_id = %s",
                            (case["id"],)).fetchone()


def made(cw, case, provider, **extra) -> dict:
    """Consent reaches the referrals service as an event: retry with one Idempotency-Key until it has."""
    key = str(uuid.uuid4())
    return wait_until(lambda: (r := refer(cw, case, provider, key=key, **extra)).status_code == 201 and r.json(),
                      what="the referral accepted by the referrals service")


def test_providers_are_searchable_by_service_type_and_area(people, pathway):
    found = people["cw1"].get("/v1/providers", params={"service_type": "legal", "area": "kakuma"}).json()["items"]
    assert [p["name"] for p in found] == ["Legal Aid"]
    assert people["cw1"].post("/v1/providers", {"name": "x", "service_types": ["legal"], "area": "a",
                                                "contact": "c"}).status_code == 403


def test_no_referral_without_consent(people, pathway):
    cw1 = people["cw1"]
    case = cw1.post("/v1/cases", {"survivor": {"name": "A"}, "risk_level": "low"}).json()
    refused = refer(cw1, case, pathway["clinic"])
    assert refused.status_code == 409 and "consent" in refused.json()["detail"]
    assert cw1.get(f"/v1/cases/{case['id']}/referrals").json()["items"] == []


def test_a_referral_accepted_and_completed_and_the_caseworker_sees_the_outcome(people, pathway):
    cw1, clinic1, legal1 = people["cw1"], pathway["clinic1"], pathway["legal1"]
    case = consented_case(cw1)
    referral = made(cw1, case, pathway["clinic"], urgency="urgent", notes="needs PEP within 72 hours")
    assert referral["status"] == "requested"

    [seen] = wait_until(lambda: [r for r in clinic1.get("/v1/referrals").json()["items"] if r["id"] == referral["id"]],
                        what="the referral in the provider's list")  # a projection: it trails the commit
    assert seen["case_number"] == case["case_number"] and seen["urgency"] == "urgent"
    assert seen["notes"] == "needs PEP within 72 hours"
    assert "Wanjiru" not in json.dumps(seen) and "+2547" not in json.dumps(seen)

    assert referral["id"] not in {r["id"] for r in legal1.get("/v1/referrals").json()["items"]}
    assert legal1.post(f"/v1/referrals/{referral['id']}/accept").status_code == 404
    assert clinic1.get(f"/v1/cases/{case['id']}").status_code == 403  # a provider never reads case files
    assert clinic1.get(f"/v1/cases/{case['id']}/referrals").status_code == 403

    assert clinic1.post(f"/v1/referrals/{referral['id']}/complete", {"outcome": "x"}).status_code == 409
    assert clinic1.post(f"/v1/referrals/{referral['id']}/accept").json()["status"] == "accepted"
    assert clinic1.post(f"/v1/referrals/{referral['id']}/accept").status_code == 409
    done = clinic1.post(f"/v1/referrals/{referral['id']}/complete", {"outcome": "PEP given, follow-up booked"})
    assert done.status_code == 200 and done.json()["status"] == "completed"

    [mine] = cw1.get(f"/v1/cases/{case['id']}/referrals").json()["items"]
    assert mine["outcome"] == "PEP given, follow-up booked"
    wait_until(lambda: [r["status"] for r in cw1.get(f"/v1/cases/{case['id']}").json()["referrals"]] == ["completed"],
               what="the case file showing the completed referral")


def test_decline_withdraw_and_withdrawn_consent(people, pathway, test_env):
    cw1, clinic1 = people["cw1"], pathway["clinic1"]
    case = consented_case(cw1)
    declined = made(cw1, case, pathway["clinic"])
    assert clinic1.post(f"/v1/referrals/{declined['id']}/decline", {}).status_code == 422
    answer = clinic1.post(f"/v1/referrals/{declined['id']}/decline", {"reason": "no capacity this month"})
    assert answer.json()["status"] == "declined" and answer.json()["reason"] == "no capacity this month"

    withdrawn = made(cw1, case, pathway["legal"], service_type="legal")
    assert people["cw3"].post(f"/v1/referrals/{withdrawn['id']}/withdraw", {"reason": "x"}).status_code == 404
    assert pathway["legal1"].post(f"/v1/referrals/{withdrawn['id']}/withdraw", {"reason": "x"}).status_code == 404
    answer = people["sup1"].post(f"/v1/referrals/{withdrawn['id']}/withdraw", {"reason": "survivor changed her mind"})
    assert answer.status_code == 200 and answer.json()["status"] == "withdrawn"
    assert pathway["legal1"].post(f"/v1/referrals/{withdrawn['id']}/accept").status_code == 409

    assert refer(cw1, case, pathway["legal"], service_type="medical").status_code == 422
    assert cw1.post(f"/v1/cases/{case['id']}/consent/withdraw").status_code == 200
    # The withdrawal travels as an event: wait until the referrals service has recorded it (polling
    # with POSTs would make referrals meanwhile).
    wait_until(lambda: consent_known(test_env, case) == (False, False), what="the withdrawal known to referrals")
    blocked = refer(cw1, case, pathway["clinic"])
    assert blocked.status_code == 409 and "consent" in blocked.json()["detail"]


def test_registering_a_provider_twice_with_one_idempotency_key_adds_one(people):
    admin, key = people["admin"], {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": f"Shelter {uuid.uuid4().hex[:6]}", "service_types": ["shelter"], "area": "Dadaab", "contact": "c"}
    first, again = admin.post("/v1/providers", body, headers=key), admin.post("/v1/providers", body, headers=key)
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert admin.post("/v1/providers", dict(body, area="Elsewhere"), headers=key).status_code == 409
    wait_until(lambda: people["cw1"].get("/v1/providers", params={"area": "Dadaab"}).json()["items"], what="listed")
    assert [p["name"] for p in people["cw1"].get("/v1/providers", params={"area": "Dadaab"}).json()["items"]
            ].count(body["name"]) == 1
