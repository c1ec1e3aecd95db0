"""The changes feed for offline sync (issue 20.5, GET /v1/changes), through the gateway on the real
system: a client syncs, goes offline while others register, update, reassign away and in, close,
erase, refer and record consent; then it catches up, page by page, and its copy is exactly what GET
says of each case in its scope, nothing more. Resuming from an older cursor works; another team's and
another organisation's cases never appear; a supervisor whose team changed is told to start over."""
import time
import uuid

import pytest

from tests.support import PASSWORD, database, wait_until

NEW_CASE = {"survivor": {"name": "Amina"}, "risk_level": "medium"}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def member(admin, role: str, organisation: str, supervisor: str | None = None) -> str:
    username = unique(role[:3])
    response = admin.post("/v1/users", {"username": username, "password": PASSWORD, "role": role,
                                        "display_name": username, "supervisor": supervisor,
                                        "organisation": organisation})
    assert response.status_code == 201, response.text
    return username


@pytest.fixture
def agency(people, api):
    """An organisation of its own (nothing another test does is in scope): supervisor `sup` with
    caseworkers `a` and `b`, supervisor `sup2` with caseworker `c`; and `x`, a caseworker of another
    organisation."""
    admin = people["admin"]
    ids = [admin.post("/v1/organisations", {"name": unique("Agency")}).json()["id"] for _ in range(2)]
    names = {"sup": member(admin, "supervisor", ids[0]), "sup2": member(admin, "supervisor", ids[0]),
             "supx": member(admin, "supervisor", ids[1])}
    names |= {"a": member(admin, "caseworker", ids[0], names["sup"]),
              "b": member(admin, "caseworker", ids[0], names["sup"]),
              "c": member(admin, "caseworker", ids[0], names["sup2"]),
              "x": member(admin, "caseworker", ids[1], names["supx"])}
    return {"names": names, "admin": admin, **{who: api.login(name, PASSWORD) for who, name in names.items()}}


class OfflineCopy:
    """What a mobile client keeps: each case of its scope as GET showed it, and its cursor."""

    def __init__(self, api, cases: dict | None = None, cursor: str | None = None):
        self.api, self.cases, self.cursor = api, dict(cases or {}), cursor
        self.pages: list[dict] = []

    def sync(self, limit: int = 100) -> "OfflineCopy":
        while True:
            page = self.changes(limit)
            if page["reset"]:
                self.cases = {}
            for item in page["items"]:
                assert set(item) <= {"case_id", "case_number", "version", "change"}, item  # nothing identifying
                if item["change"] == "left_scope":
                    self.cases.pop(item["case_id"], None)
                else:
                    case = self.api.get(f"/v1/cases/{item['case_id']}")
                    assert case.status_code == 200, case.text
                    self.cases[item["case_id"]] = case.json()
            self.cursor = page["next_cursor"]
            if len(page["items"]) < limit:  # fewer than asked for: up to date
                return self

    def changes(self, limit: int = 100) -> dict:
        response = self.api.get("/v1/changes", params={"limit": limit, **({"since": self.cursor} if self.cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["next_cursor"], page  # always one to keep
        self.pages.append(page)
        return page

    def copy(self) -> "OfflineCopy":
        return OfflineCopy(self.api, self.cases, self.cursor)


def exactly_in_scope(client: OfflineCopy, expected: set[str]) -> None:
    """The copy holds exactly the expected cases, each as GET shows it now; and the case list agrees
    on which cases are in scope."""
    assert set(client.cases) == expected
    for case_id, kept in client.cases.items():
        assert kept == client.api.get(f"/v1/cases/{case_id}").json(), case_id
    wait_until(lambda: listed(client.api) == expected, what="the case list to agree with the copy")


def listed(api) -> set[str]:
    return {case["id"] for case in api.get("/v1/cases", params={"limit": 200}).json()["items"]}


def register(api) -> str:
    response = api.post("/v1/cases", NEW_CASE)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def test_a_client_that_was_offline_catches_up_exactly(agency, pathway):
    a, b, c, x, sup = (agency[who] for who in ("a", "b", "c", "x", "sup"))
    kept, away, consented, closing, erased = (register(a) for _ in range(5))
    ok(a.post(f"/v1/cases/{closing}/closure", {"reason": "needs_met", "notes": "done"}), 202)
    [request] = wait_until(lambda: [r for r in sup.get("/v1/approvals").json()["items"] if r["case_id"] == closing],
                           what="the closure request in the supervisor's queue")
    wait_until(lambda: a.get(f"/v1/cases/{closing}").json()["approvals"], what="the request on the case")
    coming = register(b)

    client = OfflineCopy(a).sync()
    assert client.pages[0]["reset"] is True
    exactly_in_scope(client, {kept, away, consented, closing, erased})
    first_cursor, first_copy = client.cursor, dict(client.cases)

    # Offline: others change what the client holds, and much it must never see.
    ok(sup.post(f"/v1/cases/{kept}/consent", CONSENT), 201)
    ok(sup.post(f"/v1/cases/{kept}/assessment", {"needs": ["medical"], "safety_concerns": "x"}))
    referral = ok(sup.post(f"/v1/cases/{kept}/referrals", {"provider_id": pathway["clinic"]["id"],
                                                          "service_type": "medical"}), 201)
    ok(sup.post(f"/v1/cases/{away}/reassign", {"caseworker": agency["names"]["b"]}))
    ok(sup.post(f"/v1/cases/{consented}/consent", CONSENT), 201)  # its own stream: the case's version stays
    ok(sup.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": "ok"}))
    ok(sup.post(f"/v1/cases/{erased}/erase", {"reason": "asked to be forgotten"}))
    ok(sup.post(f"/v1/cases/{coming}/reassign", {"caseworker": agency["names"]["a"]}))
    elsewhere = {register(b), register(c), register(x), register(sup)}
    sup.get(f"/v1/cases/{kept}")  # a read changes nothing
    wait_until(lambda: sup.get(f"/v1/cases/{closing}").json()["stage"] == "closed", what="the case closed")
    wait_until(lambda: sup.get(f"/v1/cases/{closing}").json()["approvals"][0]["status"] == "approved",
               what="the decision on the case")
    wait_until(lambda: any(r["referral_id"] == referral["id"] for r in sup.get(f"/v1/cases/{kept}").json()["referrals"]),
               what="the referral on the case")

    client.sync(limit=2)
    assert len(client.pages) > 3  # several pages
    now_in_scope = {kept, consented, closing, erased, coming}
    exactly_in_scope(client, now_in_scope)
    assert client.cases[erased]["survivor"]["name"] == "[erased]"
    assert client.cases[closing]["stage"] == "closed"
    assert client.cases[consented]["consent"]["services"] is True
    assert client.cases[consented]["version"] == first_copy[consented]["version"]
    items = [item for page in client.pages[1:] for item in page["items"]]
    assert {i["case_id"] for i in items if i["change"] == "left_scope"} == {away}
    assert not {i["case_id"] for i in items} & elsewhere
    assert [i["case_id"] for i in items].count(kept) == 1  # once, at its latest

    # Resuming from the older cursor, with the copy of then, comes to the same.
    resumed = OfflineCopy(a, first_copy, first_cursor).sync(limit=3)
    assert not any(page["reset"] for page in resumed.pages)
    exactly_in_scope(resumed, now_in_scope)
    # Up to date: nothing more, and a cursor to keep all the same.
    again = OfflineCopy(a, client.cases, client.cursor)
    assert again.changes()["items"] == []
    assert again.cursor

    # Another organisation's caseworker, and another team's, see none of it.
    for other in (x, c):
        seen = OfflineCopy(other).sync()
        assert seen.cases and not set(seen.cases) & (now_in_scope | {away})


def test_a_supervisor_whose_team_changed_is_told_to_start_over(agency):
    sup, a, b = agency["sup"], agency["a"], agency["b"]
    mine, of_a, of_b = register(sup), register(a), register(b)
    client = OfflineCopy(sup).sync()
    exactly_in_scope(client, {mine, of_a, of_b})
    # The team changes without any event of a case: b now works for sup2.
    ok(agency["admin"].request("PATCH", f"/v1/users/{agency['names']['b']}", {"supervisor": agency["names"]["sup2"]}))
    client.sync()
    assert client.pages[-1]["reset"] is True
    exactly_in_scope(client, {mine, of_a})
    # The new scope's cursor goes on as usual.
    later = register(a)
    client.sync()
    assert client.pages[-1]["reset"] is False
    exactly_in_scope(client, {mine, of_a, later})


def test_each_command_is_in_its_callers_next_changes(agency):
    """Read-your-writes: no waiting between a command's answer and the next sync."""
    a, sup = agency["a"], agency["sup"]
    client = OfflineCopy(a).sync()
    for _ in range(5):
        case_id = register(a)
        assert case_id in {i["case_id"] for i in client.changes()["items"]}
        client.cursor = client.pages[-1]["next_cursor"]
        ok(a.post(f"/v1/cases/{case_id}/consent", CONSENT), 201)
        assert [i["case_id"] for i in client.changes()["items"]] == [case_id]
        client.cursor = client.pages[-1]["next_cursor"]
    ok(sup.post(f"/v1/cases/{case_id}/reassign", {"caseworker": agency["names"]["b"]}))
    assert client.changes()["items"] == [{"case_id": case_id, "version": 2, "change": "left_scope"}]


def test_only_caseworkers_and_supervisors_sync(people, pathway):
    for who in (people["admin"], people["aud1"], pathway["clinic1"]):
        response = who.get("/v1/changes")
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize("params", [
    {"since": "garbage"}, {"since": ""}, {"since": "1.2.3"}, {"since": "x" * 5000}, {"since": "0\x00"},
{"since": "9" * 40}, {"limit": "0"}, {"limit": "201"}, {"limit": "abc"},
    {"limit": "9" * 400}, {"limit": "-1"}, {"cursor": "x"}, {"sinse": "x"},
])
def test_a_query_it_does_not_take_is_422_naming_it(people, params):
    response = people["cw1"].get("/v1/changes", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation"
    assert set(response.json()["errors"]) == set(params), response.text


def test_a_tampered_cursor_is_422_and_one_of_another_user_starts_over(people):
    cw1, cw2 = people["cw1"], people["cw2"]
    cursor = OfflineCopy(cw1).sync().cursor
    position, scope, mac = cursor.split(".")
    for forged in (f"{int(position) + 1}.{scope}.{mac}", f"{position}.{'0' * 32}.{mac}",
                   f"{position}.{scope}.{'0' * 32}", f"{position}.{scope}.{mac}\n", f" {cursor}"):
        response = cw1.get("/v1/changes", params={"since": forged})
        assert response.status_code == 422, forged
        assert set(response.json()["errors"]) == {"since"}
    # Another user's cursor is of another scope: everything of cw2's, from the start.
    answer = OfflineCopy(cw2, cursor=cursor).changes()
    assert answer["reset"] is True


def test_the_feed_waits_for_its_projection_to_take_in_what_came_before(agency, test_env):
    """While the projection is held back (its place in the log locked, as another instance following
    would), the feed waits for it (a quarter of RPC_TIMEOUT_SECONDS), then answers with what it has:
    late, never wrong. Once it is free the case is there."""
    a = agency["a"]
    client = OfflineCopy(a).sync()
    wait = float(test_env["RPC_TIMEOUT_SECONDS"]) / 4
    with database(test_env) as held:
        held.execute("SELECT 1 FROM cases.positions WHERE follower = 'case_changes' FOR UPDATE")
        case_id = register(a)
        started = time.monotonic()
        page = client.changes()
        assert time.monotonic() - started >= wait
        assert page["items"] == []
    client.cursor = page["next_cursor"]
    assert [item["case_id"] for item in client.changes()["items"]] == [case_id]
