"""Issue 20: Idempotency-Key on every POST, without exception. Every POST route the gateway declares
(read from its code: a new one without a recipe here fails) is sent twice with one key: the second
answer is the first (status, body, ETag, Location) and nothing changed; the key with another body is
409. Then what a retry must never do: another user's key, a key holding control characters or too
long, a refresh retried after its answer was lost."""
import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from nameko.web.handlers import HttpRequestHandler

from services.gateway.service import GatewayService
from tests.support import PASSWORD, Api, new_user, wait_until

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
ASSESSMENT = {"needs": ["medical"], "safety_concerns": "threats"}
PLAN = {"goals": [{"need": "medical", "action": "clinic", "responsible": "cw1", "due_date": "2026-12-15"}]}
OTHER_BODY = {"things": "the first request did not send"}  # a body that differs from any route's first one


def post_routes() -> list[str]:
    """Every POST route of the gateway, as declared."""
    return sorted({entrypoint.url for _, member in inspect.getmembers(GatewayService, inspect.isfunction)
                   for entrypoint in getattr(member, "nameko_entrypoints", ())
                   if isinstance(entrypoint, HttpRequestHandler) and "POST" in entrypoint.method.split(",")})


@dataclass
class Retry:
    """One POST to send twice: who sends it, where, with what; what it changes (`state`, read before the
    retry and after: equal), another body that must be refused with the same key (409), and `after`,
    checks on the first answer once retried."""
    api: Api
    path: str
    body: Any = None
    state: Callable[[], Any] = lambda: None
    other: Any = None
    after: Callable[[Any], None] = lambda first: None


# --- the cases a route needs ---------------------------------------------------------------------

def send(api, case, path, body=None, status=None, method="POST"):
    response = api.request(method, f"/v1/cases/{case['id']}/{path}", body)
    assert status is None or response.status_code == status, (path, response.text)
    return response


def new_case(cw) -> dict:
    response = cw.post("/v1/cases", {"survivor": {"name": "Halima"}, "risk_level": "medium"})
    assert response.status_code == 201, response.text
    return response.json()


def consented(people) -> dict:
    case = new_case(people["cw1"])
    send(people["cw1"], case, "consent", CONSENT, 201)
    return case


def planned(people) -> dict:
    case = consented(people)
    send(people["cw1"], case, "assessment", ASSESSMENT, 200)
    send(people["cw1"], case, "plan", PLAN, 200, method="PUT")
    return case


def pending_approval(people, case, kind) -> dict:
    return wait_until(lambda: next((i for i in people["sup1"].every("/v1/approvals", {"status": "pending"}) if i["case_id"] == case["id"] and i["type"] == kind), None),
                      what=f"the {kind} request")


def approved(people, case, kind, stage) -> dict:
    request = pending_approval(people, case, kind)
    assert people["sup1"].post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 200
    wait_until(lambda: people["cw1"].get(f"/v1/cases/{case['id']}").json()["stage"] == stage, what=stage)
    return case


def in_implementation(people) -> dict:
    case = planned(people)
    send(people["cw1"], case, "plan/submit", status=202)
    return approved(people, case, "case_plan", "implementation")


def closed(people) -> dict:
    case = in_implementation(people)
    send(people["cw1"], case, "closure", {"reason": "needs_met", "notes": "met"}, 202)
    return approved(people, case, "closure", "closed")


def own_events(people, case, username) -> list[str]:
    """What the user did to the case, as its history says (reads and other services' news aside);
    read by the team's supervisor, who reads every case of the team."""
    items = people["sup1"].get(f"/v1/cases/{case['id']}/history", params={"limit": 200}).json()["items"]
    return [i["type"] for i in items if i["actor"]["username"] == username
            and "Viewed" not in i["type"] and not i["type"].startswith(("Referral", "Approval"))]


def case_command(people, user, case, command, body, other=None) -> Retry:
    return Retry(people[user], f"/v1/cases/{case['id']}/{command}", body, lambda: own_events(people, case, user),
                 other)


def referral(people, pathway) -> dict:
    """A referral of a consented case to the clinic (once the referrals service knows the consent)."""
    case = consented(people)
    return wait_until(lambda: (r := people["cw1"].post(f"/v1/cases/{case['id']}/referrals", {
        "provider_id": pathway["clinic"]["id"], "service_type": "medical"})).status_code == 201 and r.json(),
        what="the referral")


def referrals_of(people, case_id) -> list:
    return people["cw1"].get(f"/v1/cases/{case_id}/referrals").json()["items"]


def referral_action(people, pathway, api, action, body, other=None, accepted=False) -> Retry:
    made = referral(people, pathway)
    if accepted:
        assert pathway["clinic1"].post(f"/v1/referrals/{made['id']}/accept").status_code == 200
    return Retry(api, f"/v1/referrals/{made['id']}/{action}", body,
                 lambda: referrals_of(people, made["case_id"]), other)


def logged_in_user(people, api) -> tuple[str, Api, dict]:
    username = new_user(people["admin"], "caseworker", "sup1")
    answer = api.post("/v1/auth/token", {"username": username, "password": PASSWORD}).json()
    return username, Api(api.base, answer["access_token"]), answer


def works(api, username, password) -> bool:
    return api.post("/v1/auth/token", {"username": username, "password": password}).status_code == 200


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


# --- one recipe per POST route -------------------------------------------------------------------

def _make_referral(people, pathway, api):
    case = consented(people)
    wait_until(lambda: people["cw1"].post(f"/v1/cases/{case['id']}/referrals", {
        "provider_id": pathway["legal"]["id"], "service_type": "legal"}).status_code == 201,
        what="the referrals service knowing the consent")
    body = {"provider_id": pathway["clinic"]["id"], "service_type": "medical", "notes": "first"}
    return Retry(people["cw1"], f"/v1/cases/{case['id']}/referrals", body,
                 lambda: referrals_of(people, case["id"]), dict(body, notes="other"))


def _decision(people, pathway, api):
    case = planned(people)
    send(people["cw1"], case, "plan/submit", status=202)
    request = pending_approval(people, case, "case_plan")
    queue = lambda: [i for i in people["sup1"].get("/v1/approvals").json()["items"]  # noqa: E731
                     if i["case_id"] == case["id"]]
    return Retry(people["sup1"], f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": "ok"},
                 queue, {"decision": "reject", "comment": "no"})


def _read_notification(people, pathway, api):
    case = new_case(people["cw1"])
    assert people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"}).status_code == 200
    notice = wait_until(lambda: next((n for n in people["cw2"].get("/v1/notifications").json()["items"]
                                      if n["case_id"] == case["id"]), None), what="the reassignment notice")
    inbox = lambda: people["cw2"].get("/v1/notifications").json()["items"]  # noqa: E731
    return Retry(people["cw2"], f"/v1/notifications/{notice['id']}/read", None, inbox)


def _webhook(people, pathway, api):
    body = {"url": "http://127.0.0.1:9/unused", "events": ["case_reassigned"], "secret": "s" * 24}
    hooks = lambda: people["admin"].get("/v1/webhooks", params={"limit": 200}).json()  # noqa: E731
    return Retry(people["admin"], "/v1/webhooks", body, hooks, dict(body, secret="t" * 24))


def _provider(people, pathway, api):
    body = {"name": unique("Clinic"), "service_types": ["medical"], "area": "Kakuma", "contact": "c@example.org"}
    listed = lambda: sorted(p["id"] for p in people["admin"].get("/v1/providers").json()["items"])  # noqa: E731
    return Retry(people["admin"], "/v1/providers", body, listed, dict(body, area="Dadaab"))


def _create_user(people, pathway, api):
    body = {"username": f"cw-{uuid.uuid4().hex[:8]}", "password": PASSWORD, "role": "caseworker",
            "display_name": "C", "supervisor": "sup1"}
    return Retry(people["admin"], "/v1/users", body, other=dict(body, display_name="D"))


def _staff_action(action, deactivated=False):
    def recipe(people, pathway, api):
        username = new_user(people["admin"], "caseworker", "sup1")
        if deactivated:
            assert people["admin"].post(f"/v1/users/{username}/deactivate").status_code == 200
        user = lambda: people["admin"].get(f"/v1/users/{username}").json()  # noqa: E731
        after = (lambda first: (works(api, username, first.json()["temporary_password"]) or
                                pytest.fail("the first temporary password no longer works"))
                 ) if action == "password-reset" else (lambda first: None)
        return Retry(people["admin"], f"/v1/users/{username}/{action}", None, user, OTHER_BODY, after)
    return recipe


def _token(people, pathway, api):
    username = new_user(people["admin"], "caseworker", "sup1")

    def after(first):  # the one session the first login started still works, and refreshes once
        assert Api(api.base, first.json()["access_token"]).get("/v1/users/me").status_code == 200
        assert api.post("/v1/auth/refresh", {"refresh_token": first.json()["refresh_token"]}).status_code == 200
    return Retry(api, "/v1/auth/token", {"username": username, "password": PASSWORD}, after=after)


def _refresh(people, pathway, api):
    _, _, answer = logged_in_user(people, api)

    def after(first):  # no reuse detected: the session lives on, and the new refresh token works
        assert Api(api.base, first.json()["access_token"]).get("/v1/users/me").status_code == 200
        assert api.post("/v1/auth/refresh", {"refresh_token": first.json()["refresh_token"]}).status_code == 200
    return Retry(api, "/v1/auth/refresh", {"refresh_token": answer["refresh_token"]}, after=after)


def _logout(people, pathway, api):
    _, user, _ = logged_in_user(people, api)
    return Retry(user, "/v1/auth/logout", None, lambda: user.get("/v1/users/me").status_code)


def _password_change(people, pathway, api):
    username, user, _ = logged_in_user(people, api)
    body = {"current_password": PASSWORD, "new_password": "another-long-enough-secret"}
    return Retry(user, "/v1/users/me/password", body, other=dict(body, new_password="yet-another-long-secret"),
                 after=lambda first: works(api, username, body["new_password"]) or pytest.fail("not changed"))


def _organisation(people, pathway, api):
    return Retry(people["admin"], "/v1/organisations", {"name": unique("Agency")}, other={"name": unique("Other")})


C = "/v1/cases/<string:case_id>"
RECIPES: dict[str, Callable[..., Retry]] = {
    "/v1/cases": lambda people, pathway, api: Retry(
        people["cw1"], "/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"},
        other={"survivor": {"name": "Amina"}, "risk_level": "high"}),
    f"{C}/consent": lambda people, *_: case_command(people, "cw1", new_case(people["cw1"]), "consent", CONSENT,
                                                    dict(CONSENT, share_with_providers=False)),
    f"{C}/consent/withdraw": lambda people, *_: case_command(people, "cw1", consented(people), "consent/withdraw",
                                                             None),
    f"{C}/assessment": lambda people, *_: case_command(people, "cw1", consented(people), "assessment", ASSESSMENT,
                                                       dict(ASSESSMENT, safety_concerns="other")),
    f"{C}/plan/submit": lambda people, *_: case_command(people, "cw1", planned(people), "plan/submit", None),
    f"{C}/follow-ups": lambda people, *_: case_command(
        people, "cw1", in_implementation(people), "follow-ups",
        {"contacted": True, "safety_reassessed": True, "contact_date": datetime.now(UTC).isoformat()},
        {"contacted": False, "safety_reassessed": True, "contact_date": datetime.now(UTC).isoformat()}),
    f"{C}/conferences": lambda people, *_: case_command(
        people, "cw1", planned(people), "conferences",
        {"held_on": "2026-01-20", "participants": ["cw1"], "decisions": "x"},
        {"held_on": "2026-01-21", "participants": ["cw1"], "decisions": "x"}),
    f"{C}/closure": lambda people, *_: case_command(people, "cw1", in_implementation(people), "closure",
                                                    {"reason": "needs_met", "notes": "x"},
                                                    {"reason": "needs_met", "notes": "y"}),
    f"{C}/reopen": lambda people, *_: case_command(people, "cw1", closed(people), "reopen", {"reason": "x"},
                                                   {"reason": "y"}),
    f"{C}/feedback": lambda people, *_: case_command(people, "cw2", closed(people), "feedback",
                                                     {"answers": {"satisfied": "yes"}},
                                                     {"answers": {"satisfied": "no"}}),
    f"{C}/reassign": lambda people, *_: case_command(people, "sup1", new_case(people["cw1"]), "reassign",
                                                     {"caseworker": "cw2"}, {"caseworker": "cw1"}),
    f"{C}/erase": lambda people, *_: case_command(people, "sup1", new_case(people["cw1"]), "erase",
                                                  {"reason": "asked"}, {"reason": "other"}),
    f"{C}/referrals": _make_referral,
    "/v1/referrals/<string:referral_id>/accept": lambda people, pathway, api: referral_action(
        people, pathway, pathway["clinic1"], "accept", None),
    "/v1/referrals/<string:referral_id>/decline": lambda people, pathway, api: referral_action(
        people, pathway, pathway["clinic1"], "decline", {"reason": "full"}, {"reason": "closed"}),
    "/v1/referrals/<string:referral_id>/complete": lambda people, pathway, api: referral_action(
        people, pathway, pathway["clinic1"], "complete", {"outcome": "seen"}, {"outcome": "not seen"}, accepted=True),
    "/v1/referrals/<string:referral_id>/withdraw": lambda people, pathway, api: referral_action(
        people, pathway, people["cw1"], "withdraw", {"reason": "moved"}, {"reason": "changed her mind"}),
    "/v1/approvals/<string:approval_id>/decision": _decision,
    "/v1/notifications/<string:notification_id>/read": _read_notification,
    "/v1/webhooks": _webhook,
    "/v1/providers": _provider,
    "/v1/organisations": _organisation,
    "/v1/users": _create_user,
    "/v1/users/<string:username>/deactivate": _staff_action("deactivate"),
    "/v1/users/<string:username>/reactivate": _staff_action("reactivate", deactivated=True),
    "/v1/users/<string:username>/password-reset": _staff_action("password-reset"),
    "/v1/users/<string:username>/unlock": _staff_action("unlock"),
    "/v1/users/me/password": _password_change,
    "/v1/auth/token": _token,
    "/v1/auth/refresh": _refresh,
    "/v1/auth/logout": _logout,
}


# How a route refuses its key sent with another body, where it is not 409 `conflict`: a decision
# retried as another decision is deciding twice.
CONFLICT = {"/v1/approvals/<string:approval_id>/decision": "invalid_transition"}
# What a case command's replay shows as it is now, not as it was: what other services added to the case
# meanwhile (an approval requested after a submission, a referral's news). The rest is the first answer.
LIVE_FIELDS = ("approvals", "referrals")


def answer_of(response, url: str) -> tuple:
    body = response.json() if response.content else None
    if url.startswith(C + "/") and isinstance(body, dict) and "case_number" in body:
        body = {name: value for name, value in body.items() if name not in LIVE_FIELDS}
    return response.status_code, body, response.headers.get("ETag"), response.headers.get("Location")


def test_the_gateway_declares_the_post_routes_this_test_walks():
    assert len(post_routes()) >= 30 and "/v1/auth/refresh" in post_routes()


@pytest.mark.parametrize("url", post_routes())
def test_a_post_retried_with_its_key_gets_the_first_answer_and_changes_nothing(url, people, pathway, api):
    assert url in RECIPES, f"POST {url} has no retry recipe here: give it one (and Idempotency-Key)"
    retry = RECIPES[url](people, pathway, api)
    conflict = CONFLICT.get(url, "conflict")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = retry.api.post(retry.path, retry.body, headers=key)
    assert first.status_code < 300, first.text
    before = retry.state()
    again = retry.api.post(retry.path, retry.body, headers=key)
    assert answer_of(again, url) == answer_of(first, url), again.text
    assert retry.state() == before
    if retry.other is not None:
        refused = retry.api.post(retry.path, retry.other, headers=key)
        assert (refused.status_code, refused.json()["code"]) == (409, conflict), refused.text
        assert retry.state() == before
    retry.after(first)


# --- what a key must never do ---------------------------------------------------------------------

def test_a_key_is_the_users_own_another_user_with_it_gets_their_own_answer(people):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = people["admin"].post(f"/v1/users/{new_user(people['admin'], 'caseworker', 'sup1')}/password-reset",
                                 headers=key)
    assert first.status_code == 200, first.text
    mine = people["cw1"].post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"}, headers=key)
    theirs = people["cw2"].post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"}, headers=key)
    assert mine.status_code == theirs.status_code == 201 and mine.json()["id"] != theirs.json()["id"]
    assert "temporary_password" not in mine.text + theirs.text


@pytest.mark.parametrize("value", ["key\x01", "key\x7f", "x" * 201, ""])
def test_a_key_that_is_not_a_short_single_line_is_refused(people, value):
    refused = people["admin"].post("/v1/organisations", {"name": unique("Agency")}, headers={"Idempotency-Key": value})
    assert refused.status_code == 422 and set(refused.json()["errors"]) == {"headers.idempotency_key"}, refused.text


def test_a_login_replays_only_to_the_same_username_and_password(people, api):
    username, key = new_user(people["admin"], "caseworker", "sup1"), {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/v1/auth/token", {"username": username, "password": PASSWORD}, headers=key)
    wrong = api.post("/v1/auth/token", {"username": username, "password": PASSWORD + "x"}, headers=key)
    assert first.status_code == 200 and wrong.status_code == 401, wrong.text  # a login attempt of its own


def test_a_refresh_token_reused_without_a_key_still_ends_its_session(people, api):
    _, _, answer = logged_in_user(people, api)
    body, key = {"refresh_token": answer["refresh_token"]}, {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/v1/auth/refresh", body, headers=key)
    assert first.status_code == 200
    assert api.post("/v1/auth/refresh", body).status_code == 401  # reuse: the session ends
    assert Api(api.base, first.json()["access_token"]).get("/v1/users/me").status_code == 401


def test_retries_racing_the_first_request_all_get_its_answer(people):
    from concurrent.futures import ThreadPoolExecutor
    username, key = new_user(people["admin"], "caseworker", "sup1"), {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/v1/users/{username}/password-reset"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: people["admin"].post(path, headers=key), range(4)))
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}, answers
    assert answers[0].status_code == 200
