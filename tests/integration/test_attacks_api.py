"""Attacks on what was built for client developers (idempotency, paging cursors, the changes feed,
CORS), as an attacker and a careless client would send them. Each test guards a way it could give."""
import uuid

import pytest

from tests.support import PASSWORD, new_user

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
ASSESSMENT = {"needs": ["medical"], "safety_concerns": "Lives with the perpetrator."}


def keyed(key: str) -> dict:
    return {"Idempotency-Key": key}


@pytest.fixture
def team(people, api):
    """A supervisor of their own with two caseworkers, each logged in (nothing else is in their scope)."""
    admin = people["admin"]
    sup = new_user(admin, "supervisor")
    first, second = new_user(admin, "caseworker", sup), new_user(admin, "caseworker", sup)
    return {"sup": api.login(sup, PASSWORD), "cw": api.login(first, PASSWORD), "other": api.login(second, PASSWORD),
            "other_name": second}


def test_a_replay_after_the_case_was_reassigned_away_shows_nothing_of_it(team):
    """A retry shows the first answer only to a caller who may still see the case: once the case was
    reassigned away, the replay of its registration or of a command on it is 404, like any read, and
    never shows what was added since (consent, the survivor's assessment)."""
    cw, sup, other = team["cw"], team["sup"], team["other"]
    register, assess = str(uuid.uuid4()), str(uuid.uuid4())
    body = {"survivor": {"name": "Zainab"}, "risk_level": "high"}
    created = cw.post("/v1/cases", body, headers=keyed(register))
    assert created.status_code == 201, created.text
    case = created.json()
    path = f"/v1/cases/{case['id']}"
    assert cw.post(path + "/consent", CONSENT).status_code == 201
    assert cw.post(path + "/assessment", ASSESSMENT, headers=keyed(assess)).status_code == 200
    moved = sup.post(path + "/reassign", {"caseworker": team["other_name"]})
    assert moved.status_code == 200, moved.text
    assert other.post(path + "/conferences", {
        "held_on": "2026-11-18", "participants": ["Caseworker"], "decisions": "Moved to a shelter in Kakuma."}
        ).status_code == 201
    assert cw.get(path).status_code == 404  # out of the caller's scope now

    for replayed in (cw.post("/v1/cases", body, headers=keyed(register)),
                     cw.post(path + "/assessment", ASSESSMENT, headers=keyed(assess))):
        assert replayed.status_code == 404, replayed.text
        assert "Zainab" not in replayed.text and "perpetrator" not in replayed.text and "Kakuma" not in replayed.text


def test_a_providers_replay_after_they_moved_to_another_provider_shows_nothing_of_the_referral(people, pathway,
                                                                                             api):
    admin, cw1 = people["admin"], people["cw1"]
    name = f"pro-{uuid.uuid4().hex[:8]}"
    made = admin.post("/v1/users", {"username": name, "password": PASSWORD, "role": "provider", "display_name": name,
                                    "provider_id": pathway["clinic"]["id"]})
    assert made.status_code == 201, made.text
    focal = api.login(name, PASSWORD)
    case = cw1.post("/v1/cases", {"survivor": {"name": "Zainab"}, "risk_level": "low"}).json()
    assert cw1.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    referral = cw1.post(f"/v1/cases/{case['id']}/referrals", {
        "provider_id": pathway["clinic"]["id"], "service_type": "medical", "urgency": "urgent",
        "notes": "Bruising on the arms; comes with her sister."})
    assert referral.status_code == 201, referral.text
    key, path = str(uuid.uuid4()), f"/v1/referrals/{referral.json()['id']}/accept"
    assert focal.post(path, headers=keyed(key)).status_code == 200
    moved = admin.request("PATCH", f"/v1/users/{name}", {"provider_id": pathway["legal"]["id"]})
    assert moved.status_code == 200, moved.text
    focal = api.login(name, PASSWORD)  # a change of provider ends the sessions? it may: log in again
    replayed = focal.post(path, headers=keyed(key))
    assert replayed.status_code == 404, replayed.text
    assert "Bruising" not in replayed.text and case["case_number"] not in replayed.text
