"""Issue 20, items 4 and 6: every list pages (limit, opaque cursors, a stable order), `case_number` finds
a case in scope and nothing outside it, a list shows a write of its own service once the write has
returned (read-your-writes), and every time in every answer is RFC 3339 UTC ending in Z. All through
the gateway, on the real system."""
import base64
import re
import threading
import uuid

import pytest

from tests.support import PASSWORD, new_organisation, wait_until

NEW_CASE = {"survivor": {"name": "Zawadi"}, "risk_level": "medium"}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic visit", "responsible": "cw", "due_date": "2026-12-15"}]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def registered(client) -> dict:
    response = client.post("/v1/cases", NEW_CASE)
    assert response.status_code == 201, response.text
    return response.json()


def refused(response, *fields: str) -> dict:
    assert response.status_code == 422, (response.status_code, response.text)
    body = response.json()
    assert set(body["errors"]) == set(fields), body
    return body


def walk(client, path: str, params: dict | None = None, limit: int = 1) -> list[dict]:
    """Every page of a list, `limit` at a time: each full page has a cursor, the last none."""
    items, cursor, pages = [], None, 0
    while True:
        response = client.get(path, params={**(params or {}), "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert set(body) == {"items", "next_cursor"}, body
        assert len(body["items"]) <= limit
        items += body["items"]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            return items
        assert len(body["items"]) == limit, (path, body)
        assert pages < 1000, path


def ids(items: list[dict], key: str = "id") -> list:
    return [item[key] for item in items]


@pytest.fixture(scope="module")
def lists(people, pathway, api):
    """At least three of everything each list shows, and the paths to read them."""
    admin, cw1, sup1 = people["admin"], people["cw1"], people["sup1"]
    cases = [registered(cw1) for _ in range(3)]
    case = cases[0]
    for other in cases:  # each plan waits for sup1 (the default policy: always)
        assert cw1.post(f"/v1/cases/{other['id']}/consent", CONSENT).status_code == 201
        assert cw1.post(f"/v1/cases/{other['id']}/assessment",
                        {"needs": ["medical"], "safety_concerns": "none"}).status_code == 200
        assert cw1.request("PUT", f"/v1/cases/{other['id']}/plan", PLAN).status_code == 200
        assert cw1.post(f"/v1/cases/{other['id']}/plan/submit").status_code == 202
    for provider in ("clinic", "legal", "clinic"):
        made = cw1.post(f"/v1/cases/{case['id']}/referrals",
                        {"provider_id": pathway[provider]["id"], "service_type": pathway[provider]["service_types"][0]})
        assert made.status_code == 201, made.text
    for _ in range(3):
        admin.post("/v1/providers", {"name": unique("Provider"), "service_types": ["legal"], "area": "Paging",
                                     "contact": "c"})  # an area of its own: other tests search Kakuma
        admin.post("/v1/organisations", {"name": unique("Agency")})
        hook = admin.post("/v1/webhooks", {"url": "http://127.0.0.1:9/paging-hook", "events": ["approval_requested"],
                                           "secret": "a-secret-of-sixteen"})
        assert hook.status_code == 201, hook.text
    # What other services' events make (approval requests, notifications) arrives in its own time.
    for client, path in ((sup1, "/v1/approvals"), (sup1, "/v1/notifications"), (pathway["clinic1"], "/v1/notifications")):
        wait_until(lambda: len(client.get(path, params={"limit": 200}).json()["items"]) >= 2, what=path)
    return {"cw1": cw1, "sup1": sup1, "admin": admin, "clinic1": pathway["clinic1"], "case": case}


def paths(lists) -> list[tuple[str, str, dict]]:
    case_id = lists["case"]["id"]
    return [("cw1", "/v1/cases", {}), ("cw1", "/v1/cases", {"risk_level": "medium"}),
            ("cw1", f"/v1/cases/{case_id}/history", {}), ("cw1", f"/v1/cases/{case_id}/referrals", {}),
            ("cw1", "/v1/referrals", {}), ("clinic1", "/v1/referrals", {}), ("cw1", "/v1/providers", {}),
            ("cw1", "/v1/providers", {"service_type": "legal"}), ("clinic1", "/v1/notifications", {}),
            ("sup1", "/v1/notifications", {}), ("sup1", "/v1/approvals", {}), ("cw1", "/v1/approvals", {}),
            ("admin", "/v1/users", {}), ("admin", "/v1/organisations", {}), ("admin", "/v1/webhooks", {})]


def test_every_list_pages_in_a_stable_order_to_the_same_items_as_one_page(lists):
    for who, path, params in paths(lists):
        client = lists[who]
        whole = client.get(path, params={**params, "limit": 200}).json()
        # Each read of the history is recorded in it: read 2 at a time, it grows by 1 a page, and ends.
        one_by_one = walk(client, path, params, limit=2 if path.endswith("/history") else 1)
        key = "sequence" if path.endswith("/history") else "id"
        assert len(set(ids(one_by_one, key))) == len(one_by_one), (path, "an item came twice")
        if not path.endswith("/history"):  # reading the history is recorded in it: it grows as it is read
            assert ids(one_by_one, key) == ids(whole["items"], key), path
        assert len(one_by_one) >= 2, (path, "too few items to show paging")


def test_items_created_between_pages_neither_repeat_nor_skip_another(lists):
    cw1 = lists["cw1"]
    first = cw1.get("/v1/cases", params={"limit": 2}).json()
    registered(cw1)
    rest = walk(cw1, "/v1/cases", {"cursor": first["next_cursor"]}, limit=2)  # the cursor travels in params
    seen = ids(first["items"]) + ids(rest)
    assert len(seen) == len(set(seen))
    assert set(ids(cw1.get("/v1/cases", params={"limit": 200}).json()["items"])) == set(seen)


def test_limits_are_1_to_200_and_anything_else_is_422_naming_limit(lists):
    for who, path, _ in paths(lists):
        for limit in ("0", "201", "-1", "ten", "1.5", "9" * 30, "\x00"):
            refused(lists[who].get(path, params={"limit": limit}), "limit")


def test_cursors_are_opaque_and_any_other_is_422_naming_cursor(lists):
    cw1 = lists["cw1"]
    cursor = cw1.get("/v1/cases", params={"limit": 1}).json()["next_cursor"]
    assert b"GBV" not in base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))  # sealed: nothing to read
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    history_cursor = cw1.get(f"/v1/cases/{lists['case']['id']}/history", params={"limit": 1}).json()["next_cursor"]
    forged = base64.urlsafe_b64encode(b'["GBV-2026-000001"]').decode()
    for who, path, _ in paths(lists):
        for bad in (flipped, cursor[:-2], forged, "AAAA", "x" * 600, "%00", "\x1b", "a\nb",
                    *([cursor] if path != "/v1/cases" else [history_cursor])):
            refused(lists[who].get(path, params={"cursor": bad}), "cursor")


def test_filters_refuse_unknown_values_naming_the_field(lists):
    cw1, admin = lists["cw1"], lists["admin"]
    for path, field, value in (("/v1/cases", "stage", "done"), ("/v1/cases", "risk_level", "extreme"),
                               ("/v1/cases", "overdue", "maybe"), ("/v1/approvals", "status", "superseded"),
                               ("/v1/providers", "service_type", "magic"), ("/v1/notifications", "unread", "yes!"),
                               ("/v1/cases", "case_number", "x" * 65)):
        refused(cw1.get(path, params={field: value}), field)
    for field, value in (("role", "king"), ("active", "maybe"), ("organisation", "nope")):
        refused(admin.get("/v1/users", params={field: value}), field)
    for path in ("/v1/referrals", "/v1/organisations", "/v1/webhooks", f"/v1/cases/{lists['case']['id']}/referrals"):
        client = admin if path in ("/v1/organisations", "/v1/webhooks") else cw1
        refused(client.get(path, params={"status": "open"}), "status")


def test_case_number_finds_a_case_in_scope_and_nothing_outside_it(people, api):
    cw1, cw2, cw3, admin = people["cw1"], people["cw2"], people["cw3"], people["admin"]
    mine, theirs = registered(cw1), registered(cw3)
    found = cw1.get("/v1/cases", params={"case_number": mine["case_number"]}).json()
    assert ids(found["items"]) == [mine["id"]] and found["next_cursor"] is None
    assert people["sup1"].get("/v1/cases", params={"case_number": mine["case_number"]}).json()["items"]
    # Another team's, a teammate's not assigned to them, another organisation's, none at all: empty, the same.
    organisation = new_organisation(admin)
    outsider = unique("sup")
    assert admin.post("/v1/users", {"username": outsider, "password": PASSWORD, "role": "supervisor",
                                    "display_name": "x", "organisation": organisation}).status_code == 201
    other_org = api.login(outsider, PASSWORD)
    for client, number in ((cw1, theirs["case_number"]), (cw2, mine["case_number"]),
                           (other_org, mine["case_number"]), (cw1, "GBV-1999-999999"), (cw1, "' OR 1=1 --")):
        assert client.get("/v1/cases", params={"case_number": number}).json() == {"items": [], "next_cursor": None}


def test_a_list_shows_its_own_services_write_once_the_write_returned(people, pathway):
    """Many writers at once, each listing right after its write: never a miss."""
    cw1, cw2, sup1, admin = people["cw1"], people["cw2"], people["sup1"], people["admin"]
    misses: list[str] = []

    def recorded(work):
        def run(*args):
            try:
                work(*args)
            except Exception as failure:  # noqa: BLE001  a thread's failure fails the test
                misses.append(repr(failure))
        return run

    def cases(client, rounds: int = 6):
        for _ in range(rounds):
            case = registered(client)
            listed = client.get("/v1/cases", params={"case_number": case["case_number"]}).json()["items"]
            if ids(listed) != [case["id"]]:
                misses.append(f"new case {case['case_number']}")
            assert client.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
            high = client.post(f"/v1/cases/{case['id']}/assessment",
                               {"needs": ["medical"], "safety_concerns": "x", "risk_level": "high"})
            assert high.status_code == 200, high.text
            listed = client.get("/v1/cases", params={"case_number": case["case_number"]}).json()["items"]
            if [(i["risk_level"], i["stage"]) for i in listed] != [("high", "case_plan")]:
                misses.append(f"assessed case {case['case_number']}: {listed}")

    def directory(rounds: int = 4):
        for _ in range(rounds):
            provider = admin.post("/v1/providers", {"name": unique("Clinic"), "service_types": ["shelter"],
                                                    "area": unique("Area"), "contact": "c"}).json()
            if ids(cw1.get("/v1/providers", params={"area": provider["area"]}).json()["items"]) != [provider["id"]]:
                misses.append(f"provider {provider['id']}")
            username = unique("cw")
            assert admin.post("/v1/users", {"username": username, "password": PASSWORD, "role": "caseworker",
                                            "display_name": "x", "supervisor": "sup1"}).status_code == 201
            if username not in [u["username"] for u in walk(admin, "/v1/users", {"role": "caseworker"}, 200)]:
                misses.append(f"user {username}")
            hook = admin.post("/v1/webhooks", {"url": "http://127.0.0.1:9/paging-h", "events": ["case_reassigned"],
                                               "secret": "a-secret-of-sixteen"}).json()
            if hook["id"] not in ids(walk(admin, "/v1/webhooks", limit=200)):
                misses.append(f"webhook {hook['id']}")

    threads = [threading.Thread(target=recorded(cases), args=(client,)) for client in (cw1, cw2, sup1)]
    threads.append(threading.Thread(target=recorded(directory)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert misses == []

    # A referral is listed where it was made, and a notification read is read in the inbox, at once.
    case = registered(cw1)
    assert cw1.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    for _ in range(3):
        made = cw1.post(f"/v1/cases/{case['id']}/referrals",
                        {"provider_id": pathway["legal"]["id"], "service_type": "legal"}).json()
        assert made["id"] in ids(cw1.get("/v1/referrals", params={"limit": 1}).json()["items"])
    unread = sup1.get("/v1/notifications", params={"unread": "true", "limit": 200}).json()["items"]
    for item in unread[:5]:
        assert sup1.post(f"/v1/notifications/{item['id']}/read").status_code == 200
        still = sup1.get("/v1/notifications", params={"unread": "true", "limit": 200}).json()["items"]
        assert item["id"] not in ids(still)


TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def times_in(value, path: str = "") -> list[tuple[str, str]]:
    """Every timestamp-looking string in a JSON value, with where it is."""
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in times_in(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in times_in(item, f"{path}[{index}]")]
    return [(path, value)] if isinstance(value, str) and TIMESTAMP.match(value) else []


def test_every_time_in_every_answer_is_utc_ending_in_z(lists, people, pathway):
    cw1, sup1, admin, auditor = lists["cw1"], lists["sup1"], lists["admin"], people["aud1"]
    case = lists["case"]
    follow = cw1.get(f"/v1/cases/{case['id']}").json()
    referral = cw1.get(f"/v1/cases/{case['id']}/referrals").json()["items"][0]
    hook = admin.get("/v1/webhooks").json()["items"][0]
    answers = {
        "case": follow, "as_of": cw1.get(f"/v1/cases/{case['id']}", params={"as_of": follow["updated_at"]}).json(),
        "cases": cw1.get("/v1/cases").json(), "history": cw1.get(f"/v1/cases/{case['id']}/history").json(),
        "auditor history": auditor.get(f"/v1/cases/{case['id']}/history").json(),
        "referrals": cw1.get("/v1/referrals").json(), "provider's": lists["clinic1"].get("/v1/referrals").json(),
        "accepted": lists["clinic1"].post(f"/v1/referrals/{referral['id']}/accept").json(),
        "approvals": sup1.get("/v1/approvals").json(), "own approvals": cw1.get("/v1/approvals").json(),
        "notifications": sup1.get("/v1/notifications").json(), "users": admin.get("/v1/users").json(),
        "me": cw1.get("/v1/users/me").json(), "webhooks": admin.get("/v1/webhooks").json(),
        "deliveries": admin.get(f"/v1/webhooks/{hook['id']}/deliveries").json(),
        "organisations": admin.get("/v1/organisations").json(), "providers": cw1.get("/v1/providers").json(),
        "verify": cw1.get(f"/v1/cases/{case['id']}/verify").json(),
        "registered": registered(cw1),
        "erased": sup1.post(f"/v1/cases/{registered(cw1)['id']}/erase", {"reason": "asked to be forgotten"}).json(),
    }
    found = [(name, where, value) for name, answer in answers.items() for where, value in times_in(answer)]
    kinds = {name for name, _, _ in found}
    assert {"case", "cases", "history", "referrals", "notifications", "approvals", "webhooks", "erased"} <= kinds
    assert [entry for entry in found if not entry[2].endswith("Z")] == [], "times not in UTC with Z"
