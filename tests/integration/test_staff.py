"""Running an agency's staff through the gateway, on the real system with TWO gateway instances
sharing one database: sessions (refresh tokens that work once, logout), user administration
(list, read, change, deactivate, reactivate), passwords (policy, change, reset), the login throttle
and its unlock, and the events that keep the notifications directory true."""
import threading
import uuid
from pathlib import Path

import pytest
import requests
from argon2 import PasswordHasher
from requests.adapters import HTTPAdapter

from shared.settings import Settings
from tests.support import PASSWORD, Api, ServiceProcess, database, new_user, service_env, wait_until

NEW_CASE = {"survivor": {"name": "Amina"}, "risk_level": "medium"}


@pytest.fixture(scope="module")
def gateway_b(system, test_env):
    """A second gateway instance on the same database and bus."""
    process = ServiceProcess("gateway", service_env(test_env), Path(test_env["LOG_DIR"]), instance="-b").start()
    yield Api(process.url)
    process.stop()


@pytest.fixture(scope="module")
def bosses(people) -> tuple[str, str]:
    """Two supervisors of this module's own: the session's teams (sup1, sup2) are other tests' to count."""
    return fresh(people["admin"], "supervisor"), fresh(people["admin"], "supervisor")


def login(api: Api, username: str, password: str = PASSWORD) -> tuple[Api, str]:
    response = api.post("/v1/auth/token", {"username": username, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    return Api(api.base, body["access_token"]), body["refresh_token"]


def as_user(api: Api, token: str) -> Api:
    return Api(api.base, token)


def fresh(admin: Api, role: str = "caseworker", supervisor: str | None = None) -> str:
    """A new user; a caseworker under `supervisor`, or a supervisor of their own."""
    if role == "caseworker" and supervisor is None:
        supervisor = new_user(admin, "supervisor")
    return new_user(admin, role, supervisor if role == "caseworker" else None)


def listed_case(user: Api, case: dict) -> bool:
    """Whether the case list (what the cases service answers an admin's caseload question from) has it."""
    return any(item["id"] == case["id"] for item in user.get("/v1/cases", params={"limit": "200"}).json()["items"])


def directory_row(test_env, username: str) -> dict | None:
    with database(test_env) as conn:
        row = conn.execute("SELECT role, supervisor, email, active FROM notifications.people WHERE username = %s",
                           (username,)).fetchone()
    return dict(zip(("role", "supervisor", "email", "active"), row)) if row else None


# --- sessions -------------------------------------------------------------------------------------------------

def test_a_refresh_token_works_once_and_a_reused_one_ends_the_session(api, people, gateway_b):
    username = fresh(people["admin"])
    first, refresh = login(api, username)
    renewed = api.post("/v1/auth/refresh", {"refresh_token": refresh})
    assert renewed.status_code == 200, renewed.text
    pair = renewed.json()
    assert pair["refresh_token"] != refresh and pair["token_type"] == "bearer"
    assert as_user(gateway_b, pair["access_token"]).get("/v1/users/me").status_code == 200  # another instance
    # The old refresh token again (a thief's copy): refused, and the whole session ends.
    assert gateway_b.post("/v1/auth/refresh", {"refresh_token": refresh}).status_code == 401
    assert api.post("/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}).status_code == 401
    assert as_user(api, pair["access_token"]).get("/v1/users/me").status_code == 401
    assert first.get("/v1/users/me").status_code == 401
    # Garbage is refused without a 5xx.
    for garbage in ("", "x", "not-a-uuid.secret", f"{uuid.uuid4()}.secret", "a" * 201):
        assert api.post("/v1/auth/refresh", {"refresh_token": garbage}).status_code in (401, 422)
    assert api.post("/v1/auth/refresh", {"refresh_token": "ok\x00"}).status_code == 422


def test_logout_on_one_instance_is_401_on_the_other_and_other_sessions_go_on(api, people, gateway_b):
    username = fresh(people["admin"])
    on_a, refresh = login(api, username)
    elsewhere, _ = login(gateway_b, username)  # the same user on another device
    assert as_user(gateway_b, on_a.token).get("/v1/users/me").status_code == 200
    assert as_user(gateway_b, on_a.token).post("/v1/auth/logout").status_code == 204
    assert on_a.get("/v1/users/me").status_code == 401
    assert api.post("/v1/auth/refresh", {"refresh_token": refresh}).status_code == 401
    assert elsewhere.get("/v1/users/me").status_code == 200
    assert as_user(api, "not-a-token").post("/v1/auth/logout").status_code == 401


def test_a_race_of_two_refreshes_with_one_token_lets_exactly_one_win(api, people, gateway_b):
    username = fresh(people["admin"])
    for _ in range(3):
        _, refresh = login(api, username)
        statuses: list[int] = []
        barrier = threading.Barrier(2)

        def refresh_on(gateway: Api) -> None:
            barrier.wait()
            statuses.append(requests.post(gateway.base + "/v1/auth/refresh", json={"refresh_token": refresh},
                                          timeout=15).status_code)

        racers = [threading.Thread(target=refresh_on, args=(g,)) for g in (api, gateway_b)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert sorted(statuses) == [200, 401], statuses


# --- user administration -------------------------------------------------------------------------------------

def test_an_admin_lists_and_reads_users_paged_without_any_password(api, people, test_env):
    admin = people["admin"]
    names = sorted(fresh(admin, "auditor") for _ in range(3))
    admin.post(f"/v1/users/{names[0]}/deactivate")

    def listed(**params) -> list[dict]:
        items, cursor = [], None
        while True:
            page = admin.get("/v1/users", params={**params, "limit": "2", **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["items"]) <= 2
            items += body["items"]
            cursor = body["next_cursor"]
            if cursor is None:
                return items
            assert len(body["items"]) == 2  # a full page has a cursor

    wait_until(lambda: {u["username"]: u["active"] for u in listed(role="auditor")}.get(names[0]) is False,
               what="the user list to show the deactivation")
    auditors = listed(role="auditor")
    assert [u["username"] for u in auditors] == sorted(u["username"] for u in auditors)
    assert set(names) <= {u["username"] for u in auditors} and {u["role"] for u in auditors} == {"auditor"}
    assert names[0] not in {u["username"] for u in listed(role="auditor", active="true")}
    assert names[0] in {u["username"] for u in listed(active="false")}
    text = admin.get("/v1/users", params={"limit": "200"}).text
    assert "argon2" not in text and "password_hash" not in text and PASSWORD not in text
    one = admin.get(f"/v1/users/{names[1]}")
    assert one.status_code == 200 and one.json()["username"] == names[1] and one.json()["active"] is True
    assert "argon2" not in one.text
    for params in ({"role": "king"}, {"active": "maybe"}, {"limit": "0"}, {"limit": "201"}, {"cursor": "Bad Cursor"},
                   {"colour": "red"}, {"role": "auditor\x01"}):
        assert admin.get("/v1/users", params=params).status_code == 422, params
    assert admin.get("/v1/users/nobody-here").status_code == 404
    assert admin.get("/v1/users/nobody-here/x").status_code == 404
    for caller in (people["cw1"], people["sup1"], people["aud1"]):
        assert caller.get("/v1/users").status_code == 403
        assert caller.get(f"/v1/users/{names[1]}").status_code == 403


def test_non_admins_get_403_on_every_admin_route_and_unknown_users_404(people):
    target = fresh(people["admin"])
    for caller in (people["cw1"], people["sup1"], people["aud1"]):
        assert caller.request("PATCH", f"/v1/users/{target}", {"display_name": "X"}).status_code == 403
        for action in ("deactivate", "reactivate", "password-reset", "unlock"):
            assert caller.post(f"/v1/users/{target}/{action}").status_code == 403, action
    admin = people["admin"]
    for unknown in ("nobody-here", "a" * 2000, "%01abc", "%C3%A9t%C3%A9", "ADMIN"):
        assert admin.get(f"/v1/users/{unknown}").status_code == 404, unknown
        assert admin.request("PATCH", f"/v1/users/{unknown}", {"display_name": "X"}).status_code == 404
        for action in ("deactivate", "reactivate", "password-reset", "unlock"):
            assert admin.post(f"/v1/users/{unknown}/{action}").status_code == 404, action
    # An admin does not take away their own role (nor deactivate themselves: see below).
    assert admin.request("PATCH", "/v1/users/admin", {"role": "auditor"}).status_code == 409


def test_a_change_is_validated_as_at_creation(people, pathway):
    admin = people["admin"]
    target = fresh(admin)

    def patch(body) -> requests.Response:
        return admin.request("PATCH", f"/v1/users/{target}", body)

    refused = [
        {"role": "provider"},  # a provider user needs a provider
        {"role": "provider", "provider_id": str(uuid.uuid4())},  # that exists
        {"provider_id": pathway["clinic"]["id"]},  # a caseworker acts for no provider
        {"supervisor": None},  # a caseworker needs a supervisor
        {"supervisor": "cw2"},  # who is a supervisor
        {"supervisor": "nobody-here"},
        {"supervisor": target},
        {"display_name": ""}, {"display_name": "x" * 201}, {"display_name": "bad\nname"},
        {"display_name": "nul\x00"}, {"email": "not-an-email"}, {"email": "a" * 250 + "@example.org"},
        {"role": "king"}, {"password": "a-new-long-password"}, {"username": "renamed"},
    ]
    for body in refused:
        answer = patch(body)
        assert answer.status_code == 422, (body, answer.text)
    assert patch("not an object").status_code in (400, 422)
    assert admin.request("PATCH", f"/v1/users/{target}", raw="{", headers={"Content-Type": "application/json"}
                         ).status_code == 400
    changed = patch({"display_name": "Renamed Person", "email": "renamed@example.org"})
    assert changed.status_code == 200 and changed.json()["email"] == "renamed@example.org"
    provider = patch({"role": "provider", "provider_id": pathway["legal"]["id"]})
    assert provider.status_code == 200, provider.text
    assert provider.json()["supervisor"] is None and provider.json()["provider_id"] == pathway["legal"]["id"]


def test_a_role_or_supervisor_change_ends_sessions_and_moves_the_team(api, people, gateway_b, bosses):
    admin, (first, second) = people["admin"], bosses
    username = fresh(admin, supervisor=first)
    worker, _ = login(api, username)
    case = worker.post("/v1/cases", NEW_CASE)
    assert case.status_code == 201, case.text
    wait_until(lambda: listed_case(worker, case.json()), what="the case list to have the case")
    other_instance = as_user(gateway_b, worker.token)
    moved = admin.request("PATCH", f"/v1/users/{username}", {"supervisor": second})
    assert moved.status_code == 200, moved.text
    assert worker.get("/v1/users/me").status_code == 401 and other_instance.get("/v1/cases").status_code == 401
    # The new supervisor now holds the caseworker's case; the previous one no longer reaches it.
    assert login(api, second)[0].get(f"/v1/cases/{case.json()['id']}").status_code == 200
    assert login(gateway_b, first)[0].get(f"/v1/cases/{case.json()['id']}").status_code == 404
    worker, _ = login(api, username)
    # Away from casework while holding an open case: refused, naming the case to move.
    refused = admin.request("PATCH", f"/v1/users/{username}", {"role": "auditor"})
    assert refused.status_code == 409 and case.json()["case_number"] in refused.json()["detail"]
    # A supervisor who supervises someone cannot stop being one.
    assert admin.request("PATCH", f"/v1/users/{second}", {"role": "auditor"}).status_code == 409
    promoted = admin.request("PATCH", f"/v1/users/{username}", {"role": "supervisor", "supervisor": None})
    assert promoted.status_code == 200, promoted.text
    assert worker.get("/v1/users/me").status_code == 401
    assert login(api, username)[0].get("/v1/users/me").json()["role"] == "supervisor"
    # No one supervises themselves up a chain.
    assert admin.request("PATCH", f"/v1/users/{second}", {"supervisor": username}).status_code == 200
    assert admin.request("PATCH", f"/v1/users/{username}", {"supervisor": second}).status_code == 422
    # The first supervisor's team is empty now: they may become an auditor.
    assert admin.request("PATCH", f"/v1/users/{first}", {"role": "auditor"}).status_code == 200


def test_deactivation_refuses_while_work_is_held_then_ends_every_session_at_once(api, people, gateway_b, test_env):
    admin = people["admin"]
    supervisor = fresh(admin, "supervisor")
    worker_name = fresh(admin, supervisor=supervisor)
    worker, refresh = login(api, worker_name)
    boss, _ = login(api, supervisor)
    case = worker.post("/v1/cases", NEW_CASE).json()
    wait_until(lambda: listed_case(worker, case), what="the case list to have the case")
    held = admin.post(f"/v1/users/{worker_name}/deactivate")
    assert held.status_code == 409, held.text
    assert case["case_number"] in held.json()["detail"] and "reassign" in held.json()["detail"]
    supervising = admin.post(f"/v1/users/{supervisor}/deactivate")
    assert supervising.status_code == 409 and worker_name in supervising.json()["detail"]
    assert admin.post("/v1/users/admin/deactivate").status_code == 409  # not oneself
    # The supervisor moves the case to another caseworker of the team; then the caseworker may leave.
    colleague = fresh(admin, supervisor=supervisor)
    moved = boss.post(f"/v1/cases/{case['id']}/reassign", {"caseworker": colleague})
    assert moved.status_code == 200, moved.text

    def deactivated() -> bool:
        answer = admin.post(f"/v1/users/{worker_name}/deactivate")
        assert answer.status_code in (200, 409), answer.text
        return answer.status_code == 200
    wait_until(deactivated, what="the reassignment to reach the case list")
    assert admin.get(f"/v1/users/{worker_name}").json()["active"] is False
    for gateway in (api, gateway_b):  # a still-valid token, on every instance at once
        assert as_user(gateway, worker.token).get("/v1/users/me").status_code == 401
    assert api.post("/v1/auth/refresh", {"refresh_token": refresh}).status_code == 401
    assert gateway_b.post("/v1/auth/token", {"username": worker_name, "password": PASSWORD}).status_code == 401
    assert admin.post(f"/v1/users/{worker_name}/deactivate").status_code == 200  # again: as it is
    wait_until(lambda: (directory_row(test_env, worker_name) or {}).get("active") is False,
               what="the notifications directory to hear of the deactivation")
    assert admin.post(f"/v1/users/{worker_name}/reactivate").status_code == 200
    assert login(gateway_b, worker_name)[0].get("/v1/users/me").status_code == 200
    wait_until(lambda: (directory_row(test_env, worker_name) or {}).get("active") is True,
               what="the notifications directory to hear of the reactivation")


def test_a_change_reaches_the_notifications_directory(people, test_env, bosses):
    admin = people["admin"]
    username = fresh(admin)
    wait_until(lambda: directory_row(test_env, username), what="UserRegistered to reach notifications")
    assert admin.request("PATCH", f"/v1/users/{username}", {"email": "moved@example.org", "supervisor": bosses[1]}
                         ).status_code == 200
    wait_until(lambda: directory_row(test_env, username) == {"role": "caseworker", "supervisor": bosses[1],
                                                              "email": "moved@example.org", "active": True},
               what="UserChanged to reach the notifications directory")


def test_a_deactivated_focal_point_is_no_longer_told_of_referrals(api, people, test_env):
    admin = people["admin"]
    provider = admin.post("/v1/providers", {"name": "Staff Test Legal", "service_types": ["legal"],
                                            "area": "Dadaab", "contact": "legal@example.org"}).json()
    staying, leaving = (f"pro-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for username in (staying, leaving):
        created = admin.post("/v1/users", {"username": username, "password": PASSWORD, "role": "provider",
                                           "display_name": "Focal point", "provider_id": provider["id"]})
        assert created.status_code == 201, created.text
    assert admin.post(f"/v1/users/{leaving}/deactivate").status_code == 200
    wait_until(lambda: (directory_row(test_env, leaving) or {}).get("active") is False,
               what="the notifications directory to hear of the deactivation")
    worker, _ = login(api, fresh(admin))
    case = worker.post("/v1/cases", NEW_CASE).json()
    assert worker.post(f"/v1/cases/{case['id']}/consent", {
        "services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
        "given_by": "survivor"}).status_code == 201

    def referred() -> bool:
        return worker.post(f"/v1/cases/{case['id']}/referrals", {"provider_id": provider["id"],
                                                                 "service_type": "legal"}).status_code == 201
    wait_until(referred, what="the referral to be made")
    focal_point, _ = login(api, staying)
    wait_until(lambda: any(n["case_number"] == case["case_number"]
                           for n in focal_point.get("/v1/notifications").json()["items"]),
               what="the active focal point to be told")
    with database(test_env) as conn:
        told = conn.execute("SELECT count(*) FROM notifications.inbox_items WHERE recipient = %s",
                            (leaving,)).fetchone()[0]
    assert told == 0
    # A provider user needs an existing provider, and only a provider user has one.
    for body in ({"role": "provider"}, {"role": "provider", "provider_id": str(uuid.uuid4())},
                 {"role": "auditor", "provider_id": provider["id"]}):
        refused = admin.post("/v1/users", {"username": f"pro-{uuid.uuid4().hex[:8]}", "password": PASSWORD,
                                           "display_name": "X", **body})
        assert refused.status_code == 422 and "provider_id" in refused.json()["errors"], body


# --- passwords -------------------------------------------------------------------------------------------------

def test_weak_passwords_are_refused_on_create_change_and_the_policy_names_the_field(api, people):
    admin = people["admin"]
    for weak in ("password1234", "P@ssw0rd12345", "short", "qwertyuiop123"):
        answer = admin.post("/v1/users", {"username": f"aud-{uuid.uuid4().hex[:8]}", "password": weak,
                                          "role": "auditor", "display_name": "A"})
        assert answer.status_code == 422 and "password" in answer.json()["errors"], weak
    username = f"aud-{uuid.uuid4().hex[:8]}"
    bearing = admin.post("/v1/users", {"username": username, "password": f"my-{username}-is-long",
                                       "role": "auditor", "display_name": "A"})
    assert bearing.status_code == 422
    assert admin.post("/v1/users", {"username": username, "password": "x" * 2000, "role": "auditor",
                                    "display_name": "A"}).status_code == 422


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(api, people, gateway_b):
    username = fresh(people["admin"])
    here, _ = login(api, username)
    there, there_refresh = login(gateway_b, username)
    change = "/v1/users/me/password"
    assert here.post(change, {"current_password": "wrong-password-here", "new_password": "a-brand-new-passphrase"}
                     ).status_code == 422
    assert here.post(change, {"current_password": PASSWORD, "new_password": "password1234"}).status_code == 422
    assert here.post(change, {"current_password": PASSWORD, "new_password": PASSWORD}).status_code == 422
    assert here.post(change, {"current_password": PASSWORD, "new_password": "a-brand-new-passphrase\x07"}
                     ).status_code == 422
    assert here.post(change, {"current_password": PASSWORD}).status_code == 422
    assert here.post(change, {"current_password": PASSWORD, "new_password": "long-" * 400}).status_code == 422
    done = here.post(change, {"current_password": PASSWORD, "new_password": "a-brand-new-passphrase"})
    assert done.status_code == 204, done.text
    assert here.get("/v1/users/me").status_code == 200
    assert there.get("/v1/users/me").status_code == 401
    assert gateway_b.post("/v1/auth/refresh", {"refresh_token": there_refresh}).status_code == 401
    assert api.post("/v1/auth/token", {"username": username, "password": PASSWORD}).status_code == 401
    login(gateway_b, username, "a-brand-new-passphrase")


def test_a_reset_password_is_good_only_for_setting_a_new_one(api, people, gateway_b):
    admin = people["admin"]
    username = fresh(admin)
    before, _ = login(api, username)
    reset = admin.post(f"/v1/users/{username}/password-reset")
    assert reset.status_code == 200, reset.text
    temporary = reset.json()["temporary_password"]
    assert len(temporary) >= 12 and set(reset.json()) == {"temporary_password"}
    assert before.get("/v1/users/me").status_code == 401  # every session ended
    assert api.post("/v1/auth/token", {"username": username, "password": PASSWORD}).status_code == 401
    limited, refresh = login(gateway_b, username, temporary)
    me = limited.get("/v1/users/me")
    assert me.status_code == 200 and me.json()["password_change_required"] is True
    for method, path, body in (("GET", "/v1/cases", None), ("POST", "/v1/cases", NEW_CASE),
                               ("PUT", "/v1/users/me/preferences", {"email_notifications": False}),
                               ("GET", "/v1/notifications", None), ("GET", "/v1/providers", None)):
        refused = limited.request(method, path, body)
        assert refused.status_code == 403 and refused.json()["code"] == "password_change_required", path
    # A refreshed token is no better.
    renewed = api.post("/v1/auth/refresh", {"refresh_token": refresh}).json()["access_token"]
    assert as_user(api, renewed).get("/v1/cases").json()["code"] == "password_change_required"
    assert as_user(api, renewed).post("/v1/users/me/password", {
        "current_password": temporary, "new_password": "set-by-the-user-again"}).status_code == 204
    assert as_user(api, renewed).get("/v1/cases").status_code == 200
    assert login(api, username, "set-by-the-user-again")[0].get("/v1/cases").status_code == 200


def test_argon2_parameters_are_upgraded_at_login(api, people):
    from services.gateway.application import SYSTEM, Identity
    username = fresh(people["admin"])
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    store = Identity(Settings.for_service("gateway"))
    try:
        user = store.user(username)
        user.rehash_password(weak.hash(PASSWORD), by=SYSTEM)
        store.save(user)
        assert store.hasher.check_needs_rehash(store.user(username).password_hash)
        login(api, username)
        upgraded = store.user(username).password_hash
        assert not store.hasher.check_needs_rehash(upgraded) and store.hasher.verify(upgraded, PASSWORD)
    finally:
        store.close()


# --- login throttling ------------------------------------------------------------------------------------------

def test_five_failures_lock_an_account_on_every_instance_until_an_admin_unlocks_it(api, people, gateway_b):
    admin = people["admin"]
    username = fresh(admin)
    ghost = f"cw-{uuid.uuid4().hex[:8]}"  # no such user: answered exactly alike
    for name in (username, ghost):
        for attempt in range(5):
            gateway = (api, gateway_b)[attempt % 2]
            wrong = gateway.post("/v1/auth/token", {"username": name, "password": "not-the-password"})
            assert wrong.status_code == 401 and wrong.json()["detail"] == "Wrong username or password."
        for gateway in (api, gateway_b):
            locked = gateway.post("/v1/auth/token", {"username": name, "password": PASSWORD})
            assert locked.status_code == 429 and locked.json()["code"] == "rate_limited"
            assert 0 < int(locked.headers["Retry-After"]) <= 900
    unlocked = admin.post(f"/v1/users/{username}/unlock")
    assert unlocked.status_code == 200, unlocked.text
    login(gateway_b, username)


def test_failures_from_one_address_across_accounts_are_throttled_too(system, test_env, people):
    """A gateway instance allowing 3 failures per address (LOGIN_ADDRESS_FAILURE_LIMIT); this test comes
    from an address of its own (all of 127.0.0.0/8 reaches the machine), so no other test's logins count."""
    env = {**service_env(test_env), "LOGIN_ADDRESS_FAILURE_LIMIT": "3"}
    process = ServiceProcess("gateway", env, Path(test_env["LOG_DIR"]), instance="-c").start()
    try:
        gateway_c = Api(process.url)
        guessed_from_one_address(gateway_c)
    finally:
        process.stop()


def from_address() -> requests.Session:
    """A client whose requests come from an address of its own in 127.0.0.0/8."""
    address = f"127.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 2}"
    session = requests.Session()

    class FromAddress(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = (address, 0)
            super().init_poolmanager(*args, **kwargs)
    session.mount("http://", FromAddress())
    return session


def guessed_from_one_address(gateway_c: Api) -> None:
    guesser = from_address()
    for _ in range(3):
        guess = {"username": f"cw-{uuid.uuid4().hex[:8]}", "password": "not-the-password"}
        assert guesser.post(gateway_c.base + "/v1/auth/token", json=guess, timeout=15).status_code == 401
    refused = guesser.post(gateway_c.base + "/v1/auth/token", json={"username": "cw2", "password": PASSWORD},
                           timeout=15)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # From another address, cw2 logs in.
    elsewhere = from_address().post(gateway_c.base + "/v1/auth/token", json={"username": "cw2", "password": PASSWORD},
                                    timeout=15)
    assert elsewhere.status_code == 200, elsewhere.text
