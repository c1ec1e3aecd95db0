"""Attacks on what was built for client developers (idempotency, paging cursors, the changes feed,
CORS), as an attacker and a careless client would send them. Each test guards a way it could give."""
import uuid

import pytest
import requests

from tests.integration.conftest import WEB_ORIGIN
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


# --- CORS on every kind of answer ------------------------------------------------------------------

def cors_call(api, method: str, path: str, origin: str = WEB_ORIGIN, token: str | None = None, **kw):
    headers = {"Origin": origin, **kw.pop("headers", {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, api.base + path, headers=headers, timeout=15, **kw)


def test_every_kind_of_error_carries_cors_headers_for_a_listed_origin(api, people):
    token = people["cw1"].token
    answers = {
        401: cors_call(api, "GET", "/v1/cases"),
        404: cors_call(api, "GET", "/v1/nothing-here", token=token),
        405: cors_call(api, "DELETE", "/v1/cases", token=token),
        422: cors_call(api, "GET", "/v1/cases", token=token, params={"limit": "0"}),
        400: cors_call(api, "POST", "/v1/cases", token=token, data="{", headers={"Content-Type": "application/json"}),
        415: cors_call(api, "POST", "/v1/cases", token=token, data="x=1", headers={"Content-Type": "text/plain"}),
        413: cors_call(api, "POST", "/v1/cases", token=token, data="x" * (257 * 1024),
                       headers={"Content-Type": "application/json"}),
    }
    for status, answer in answers.items():
        assert answer.status_code == status, (status, answer.text)
        assert answer.headers.get("Access-Control-Allow-Origin") == WEB_ORIGIN, status
        assert "X-Correlation-Id" in answer.headers["Access-Control-Expose-Headers"], status
        assert answer.headers["Content-Type"].startswith("application/problem+json"), status


@pytest.mark.parametrize("origin", [WEB_ORIGIN.upper(), WEB_ORIGIN + "/", WEB_ORIGIN + ".evil.example", "null",
                                    f"{WEB_ORIGIN}, https://evil.example", "*", "https://app.casetrail.test:443",
                                    "x" * 8000])
def test_an_origin_that_is_not_exactly_a_listed_one_gets_no_cors_header(api, people, origin):
    for answer in (cors_call(api, "GET", "/v1/cases", origin=origin, token=people["cw1"].token),
                   cors_call(api, "OPTIONS", "/v1/cases", origin=origin,
                             headers={"Access-Control-Request-Method": "POST"})):
        assert answer.status_code < 500, answer.text
        assert "Access-Control-Allow-Origin" not in answer.headers, origin
        assert "Access-Control-Allow-Methods" not in answer.headers, origin


@pytest.mark.parametrize("path", ["/", "/health", "/v1/openapi.json", "/v1/cases/not-a-uuid/plan",
                                  "/v1/cases/%00/history", "/v1/users/me/password", "/v1/" + "a/" * 500,
                                  "/v1/changes", "/v1/cases/%E2%80%AE/reassign"])
def test_a_preflight_on_any_kind_of_path_is_answered_without_a_5xx(api, path):
    answer = cors_call(api, "OPTIONS", path, headers={"Access-Control-Request-Method": "GET"})
    assert answer.status_code in (204, 404), (path, answer.status_code, answer.text)
    assert answer.headers.get("Access-Control-Allow-Origin") == WEB_ORIGIN


# --- cursors and filters as a careless or hostile client sends them --------------------------------

ODD = ["\x00", "a\x1fb", "\u202e", "%ED%A0%80", "é" * 300, "x" * 4_000, "x" * 10_000, " ", "%", "'; DROP TABLE x;--",
       "0.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "-1", "1e400"]


@pytest.mark.parametrize("name", ["cursor", "limit", "case_number", "since"])
@pytest.mark.parametrize("value", ODD)
def test_odd_paging_values_are_422_naming_the_parameter_never_a_5xx(people, name, value):
    path = "/v1/changes" if name == "since" else "/v1/cases"
    api = people["cw1"]
    query = f"{name}={value}" if value.startswith("%") else requests.models.RequestEncodingMixin._encode_params(
        {name: value})
    answer = requests.get(f"{api.base}{path}?{query}", headers={"Authorization": f"Bearer {api.token}"}, timeout=15)
    if answer.status_code == 414:  # longer than the server reads a request line: refused before any route
        return
    assert answer.status_code in (200, 422), (name, repr(value)[:40], answer.status_code, answer.text[:300])
    if answer.status_code == 422:
        assert name in answer.json()["errors"], answer.text[:300]


def test_a_cursor_of_one_list_opens_on_no_other_list(people, api):
    cw1, admin = people["cw1"], people["admin"]
    case_ids = []
    for _ in range(2):
        made = cw1.post("/v1/cases", {"survivor": {"name": "N"}, "risk_level": "low"})
        assert made.status_code == 201
        case_ids.append(made.json()["id"])
        assert cw1.post(f"/v1/cases/{case_ids[-1]}/consent", CONSENT).status_code == 201
        assert cw1.post(f"/v1/cases/{case_ids[-1]}/assessment", ASSESSMENT).status_code == 200
    cases = cw1.get("/v1/cases", params={"limit": 1}).json()
    users = admin.get("/v1/users", params={"limit": 1}).json()
    history = cw1.get(f"/v1/cases/{case_ids[0]}/history", params={"limit": 1}).json()
    assert history["next_cursor"]
    refused = [
        admin.get("/v1/users", params={"cursor": cases["next_cursor"]}),
        cw1.get("/v1/cases", params={"cursor": users["next_cursor"]}),
        cw1.get(f"/v1/cases/{case_ids[1]}/history", params={"cursor": history["next_cursor"]}),
        cw1.get("/v1/cases", params={"cursor": history["next_cursor"]}),
        cw1.get("/v1/changes", params={"since": cases["next_cursor"]}),
        cw1.get("/v1/cases", params={"cursor": cw1.get("/v1/changes").json()["next_cursor"]}),
    ]
    for answer in refused:
        assert answer.status_code == 422, answer.text


def test_another_teams_caseworker_with_a_cursor_sees_only_their_own_cases(people):
    cw1, cw3 = people["cw1"], people["cw3"]
    for _ in range(2):
        assert cw1.post("/v1/cases", {"survivor": {"name": "N"}, "risk_level": "low"}).status_code == 201
    cursor = cw1.get("/v1/cases", params={"limit": 1}).json()["next_cursor"]
    mine = {c["id"] for c in cw1.every("/v1/cases")}
    seen = cw3.get("/v1/cases", params={"cursor": cursor, "limit": 200})
    assert seen.status_code == 200, seen.text
    assert not mine & {c["id"] for c in seen.json()["items"]}
    changes = cw1.get("/v1/changes").json()["next_cursor"]
    theirs = cw3.get("/v1/changes", params={"since": changes})
    assert theirs.status_code == 200 and theirs.json()["reset"] is True
    assert not mine & {c["case_id"] for c in theirs.json()["items"]}


# --- Idempotency-Key reused across routes and users ------------------------------------------------

def test_one_key_on_two_of_the_gateways_routes_never_replays_the_first_routes_answer(people, api):
    admin, key = people["admin"], str(uuid.uuid4())
    made = admin.post("/v1/organisations", {"name": f"Org {key[:8]}"}, headers=keyed(key))
    assert made.status_code == 201, made.text
    body = {"username": f"u-{key[:8]}", "password": PASSWORD, "role": "auditor", "display_name": "U",
            "organisation": made.json()["id"]}
    again = admin.post("/v1/users", body, headers=keyed(key))
    assert again.status_code == 409, again.text
    login = api.post("/v1/auth/token", {"username": "cw1", "password": PASSWORD}, headers=keyed(key))
    assert login.status_code == 200 and "access_token" in login.json()  # another scope: a login of its own


def test_a_key_refused_once_runs_anew_and_another_users_key_is_their_own(people):
    cw1, cw2, key = people["cw1"], people["cw2"], str(uuid.uuid4())
    refused = cw1.post("/v1/cases", {"survivor": {"name": "N"}, "risk_level": "extreme"}, headers=keyed(key))
    assert refused.status_code == 422
    first = cw1.post("/v1/cases", {"survivor": {"name": "N"}, "risk_level": "low"}, headers=keyed(key))
    assert first.status_code == 201, first.text
    theirs = cw2.post("/v1/cases", {"survivor": {"name": "N"}, "risk_level": "low"}, headers=keyed(key))
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    assert theirs.json()["assigned_to"] != first.json()["assigned_to"]


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


def test_two_sessions_of_one_user_log_out_with_the_same_key_and_both_end(people, api):
    """A client library that makes its keys per action ("logout") must not keep a second device's
    session alive: each session's logout is a request of its own."""
    username = new_user(people["admin"], "auditor")
    phone, laptop, key = api.login(username, PASSWORD), api.login(username, PASSWORD), "logout"
    for device in (phone, laptop):
        assert device.post("/v1/auth/logout", headers=keyed(key)).status_code == 204
        assert device.post("/v1/auth/logout", headers=keyed(key)).status_code == 204  # its own retry
        assert device.get("/v1/users/me").status_code == 401
