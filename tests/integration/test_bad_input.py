"""Bad input and racing clients over HTTP: a clear 4xx, and nothing stored."""
import json
import threading
import time
import uuid

import jwt
import pytest
import requests

from tests.support import PASSWORD, Api, database, wait_until

JSON = {"Content-Type": "application/json"}
NEW_CASE = {"survivor": {"name": "Amina"}, "risk_level": "low"}


@pytest.fixture
def stored(test_env):
    """How many events every store holds: compare before and after a request."""
    def count() -> int:
        with database(test_env) as conn:
            tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables"
                                  " WHERE table_name LIKE '%%\\_events'").fetchall()
            return sum(conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
                       for schema, table in tables)
    return count


def raw(api, method: str, path: str, data: bytes | str, headers: dict) -> requests.Response:
    return requests.request(method, api.base + path, data=data, timeout=15,
                            headers={"Authorization": f"Bearer {api.token}", **headers})


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.json()


def test_racing_clients_with_the_same_if_match_one_wins_the_other_gets_412(people):
    cw1 = people["cw1"]
    for _ in range(5):
        case = cw1.post("/v1/cases", NEW_CASE).json()
        cw1.post(f"/v1/cases/{case['id']}/consent", {"services": True, "share_with_providers": False,
                                                     "mandatory_reporting_explained": True, "given_by": "survivor"})
        start, answers = threading.Barrier(2), []

        def assess(needs):
            start.wait()
            answers.append(cw1.post(f"/v1/cases/{case['id']}/assessment", {"needs": needs, "safety_concerns": "x"},
                                    headers={"If-Match": '"1"'}).status_code)
        racers = [threading.Thread(target=assess, args=(needs,)) for needs in (["medical"], ["legal"])]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert sorted(answers) == [200, 412]
        assert cw1.get(f"/v1/cases/{case['id']}").json()["version"] == 2


def test_oversized_deep_and_non_json_bodies_are_refused_and_store_nothing(people, stored):
    cw1, before = people["cw1"], stored()
    big = json.dumps({**NEW_CASE, "intake_notes": "x" * 300_000})
    assert "256 KiB" in problem(raw(cw1, "POST", "/v1/cases", big, JSON), 413)["detail"]
    problem(raw(cw1, "POST", "/v1/cases", "[" * 100_000 + "]" * 100_000, JSON), 400)
    deep = NEW_CASE | {"caregiver": {"name": json.loads("[" * 30 + "1" + "]" * 30)}}
    assert "nests deeper" in problem(raw(cw1, "POST", "/v1/cases", json.dumps(deep), JSON), 400)["detail"]
    problem(raw(cw1, "POST", "/v1/cases", json.dumps(NEW_CASE), {"Content-Type": "text/plain"}), 415)
    problem(raw(cw1, "POST", "/v1/cases", "survivor=Amina&risk_level=low",
                {"Content-Type": "application/x-www-form-urlencoded"}), 415)
    problem(raw(cw1, "POST", "/v1/cases", b"\xff\xfe{}", JSON), 400)
    problem(raw(cw1, "POST", "/v1/cases", '{"survivor": {"name": "A"}, "risk_level": "low", "x": 1e999999}', JSON), 422)
    problem(cw1.post("/v1/cases", [NEW_CASE]), 422)
    problem(cw1.post("/v1/cases", {"survivor": {"name": "A" * 201}, "risk_level": "low"}), 422)
    assert stored() == before


def test_sql_and_html_in_strings_are_only_text(people, stored):
    cw1, cw3 = people["cw1"], people["cw3"]
    cw1.post("/v1/cases", NEW_CASE)
    assert cw3.get("/v1/cases", params={"assigned_to": "' OR '1'='1"}).json()["items"] == []
    problem(cw3.get("/v1/cases", params={"stage": "engagement' OR 1=1 --"}), 422)
    problem(cw3.get("/v1/cases", params={"cursor": "'; DROP TABLE cases.case_index; --"}), 422)
    name = "Robert'); DROP TABLE cases_events; -- <script>alert(1)</script>"
    created = cw3.post("/v1/cases", {"survivor": {"name": name}, "risk_level": "low"})
    assert created.status_code == 201 and created.headers["Content-Type"] == "application/json"
    assert cw3.get(f"/v1/cases/{created.json()['id']}").json()["survivor"]["name"] == name
    assert cw1.get("/v1/cases?limit=1").status_code == 200  # the tables are all still there


def test_invalid_ids_are_not_found_and_store_nothing(people, stored):
    cw1, sup1, before = people["cw1"], people["sup1"], stored()
    for path in ("/v1/cases/not-a-uuid", "/v1/cases/'%3B%20DROP%20TABLE%20x/history",
                 "/v1/cases/00000000-0000-0000-0000-000000000000/verify"):
        problem(cw1.get(path), 404)
    problem(cw1.post("/v1/cases/12345/consent", {"services": True, "share_with_providers": True,
                                                "mandatory_reporting_explained": True, "given_by": "survivor"}), 404)
    problem(sup1.post("/v1/approvals/<b>x</b>/decision", {"decision": "approve"}), 404)
    problem(cw1.post("/v1/referrals/00000000-0000-0000-0000-000000000000/withdraw", {"reason": "x"}), 404)
    assert stored() == before


def test_expired_forged_and_unsigned_tokens_are_refused(api, people, test_env, stored):
    before = stored()
    now = int(time.time())
    expired = jwt.encode({"sub": "cw1", "iat": now - 7200, "exp": now - 3600}, test_env["JWT_SECRET"], "HS256")
    forged = jwt.encode({"sub": "admin", "exp": now + 3600}, "not-the-secret-" * 3, "HS256")
    unsigned = jwt.encode({"sub": "admin", "exp": now + 3600}, None, "none")
    nobody = jwt.encode({"sub": "nobody", "exp": now + 3600}, test_env["JWT_SECRET"], "HS256")
    for token in (expired, forged, unsigned, nobody, "garbage", people["cw1"].token + "x"):
        response = requests.post(api.base + "/v1/cases", json=NEW_CASE, timeout=5,
                                 headers={"Authorization": f"Bearer {token}"})
        problem(response, 401)
    problem(requests.post(api.base + "/v1/cases", json=NEW_CASE, timeout=5,
                          headers={"Authorization": f"Basic {people['cw1'].token}"}), 401)
    assert stored() == before


# --- Text hygiene: NUL, other control characters and unpaired surrogates never get in ---------------

BAD_CHARACTERS = {"nul": "\x00", "escape": "\x1b", "c1": "\x85", "lone surrogate": "\ud800"}
NOWHERE = "00000000-0000-0000-0000-000000000000"  # refused text is refused before any lookup


def body_routes(case_id: str) -> list[tuple[str, str, str, object, str]]:
    """(who, method, path, body holding BAD, the field path the 422 names): one of every POST/PUT family."""
    c = f"/v1/cases/{case_id}"
    goal = {"need": "medical", "action": "BAD", "responsible": "Nurse", "due_date": "2030-01-01"}
    return [
        ("cw1", "POST", "/v1/cases", {"survivor": {"name": "BAD"}, "risk_level": "low"}, "survivor.name"),
        ("cw1", "POST", "/v1/cases", {**NEW_CASE, "intake_notes": "BAD"}, "intake_notes"),
        ("cw1", "POST", f"{c}/consent", {"services": True, "share_with_providers": True,
                                         "mandatory_reporting_explained": True, "given_by": "BAD"}, "given_by"),
        ("cw1", "POST", f"{c}/assessment", {"needs": ["medical"], "safety_concerns": "BAD"}, "safety_concerns"),
        ("cw1", "PUT", f"{c}/plan", {"goals": [goal]}, "goals.0.action"),
        ("cw1", "POST", f"{c}/follow-ups", {"contacted": True, "contact_date": "2026-01-01T00:00:00Z",
                                            "safety_reassessed": True, "notes": "BAD"}, "notes"),
        ("cw1", "POST", f"{c}/conferences", {"held_on": "2026-01-01", "participants": ["Amina", "BAD"],
                                             "decisions": "x"}, "participants.1"),
        ("cw1", "POST", f"{c}/closure", {"reason": "needs_met", "notes": "BAD"}, "notes"),
        ("cw1", "POST", f"{c}/reopen", {"reason": "BAD"}, "reason"),
        ("sup1", "POST", f"{c}/reassign", {"caseworker": "BAD"}, "caseworker"),
        ("sup1", "POST", f"{c}/feedback", {"answers": {"satisfied": "BAD"}}, "answers.satisfied"),
        ("sup1", "POST", f"{c}/erase", {"reason": "BAD"}, "reason"),
        ("cw1", "POST", f"{c}/referrals", {"provider_id": NOWHERE, "service_type": "medical", "notes": "BAD"},
         "notes"),
        ("cw1", "POST", f"/v1/referrals/{NOWHERE}/withdraw", {"reason": "BAD"}, "reason"),
        ("cw1", "POST", f"/v1/referrals/{NOWHERE}/decline", {"reason": "BAD"}, "reason"),
        ("sup1", "POST", f"/v1/approvals/{NOWHERE}/decision", {"decision": "reject", "comment": "BAD"}, "comment"),
        ("admin", "POST", "/v1/providers", {"name": "BAD", "service_types": ["legal"], "area": "Kakuma",
                                            "contact": "x@example.org"}, "name"),
        ("admin", "POST", "/v1/users", {"username": "newbie", "password": PASSWORD, "role": "caseworker",
                                        "display_name": "BAD", "supervisor": "sup1"}, "display_name"),
        ("admin", "PUT", "/v1/approval-policy", {"case_plan": "BAD", "closure": "always"}, "case_plan"),
        ("admin", "POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["approval_requested"],
                                           "secret": "BAD" * 8}, "secret"),
        ("cw1", "PUT", "/v1/users/me/preferences", {"email_notifications": "BAD"}, "email_notifications"),
    ]


def with_bad(body, bad: str):
    return json.loads(json.dumps(body).replace("BAD", json.dumps(bad)[1:-1]))


def test_nul_controls_and_lone_surrogates_in_any_body_field_are_refused_naming_it_and_store_nothing(people, stored):
    case = people["cw1"].post("/v1/cases", NEW_CASE).json()
    before = stored()
    for who, method, path, body, field in body_routes(case["id"]):
        for name, bad in BAD_CHARACTERS.items():
            refused = problem(people[who].request(method, path, with_bad(body, bad)), 422)
            assert refused["code"] == "validation" and field in refused["errors"], (method, path, name, refused)
    assert stored() == before


def test_keys_are_checked_like_values(people, stored):
    cw1, sup1 = people["cw1"], people["sup1"]
    case = cw1.post("/v1/cases", NEW_CASE).json()
    before = stored()
    for bad in BAD_CHARACTERS.values():
        refused = problem(sup1.post(f"/v1/cases/{case['id']}/feedback", {"answers": {f"q{bad}": "yes"}}), 422)
        assert [path for path in refused["errors"] if path.startswith("answers.q\\")], refused
        assert not any(bad in path for path in refused["errors"])  # never echoed raw
        refused = problem(cw1.post("/v1/cases", {**NEW_CASE, f"x{bad}": 1}), 422)
        assert refused["errors"]
    for line_break in ("\t", "\n"):  # keys are never free text
        refused = problem(sup1.post(f"/v1/cases/{case['id']}/feedback", {"answers": {f"q{line_break}": "yes"}}), 422)
        assert any(path.startswith("answers.q") for path in refused["errors"]), refused
    assert stored() == before


def test_tab_and_line_breaks_pass_in_free_text_and_are_refused_in_single_line_fields(people, stored):
    cw1, admin = people["cw1"], people["admin"]
    notes = "First line\n\tindented\r\nlast line"
    created = cw1.post("/v1/cases", {**NEW_CASE, "intake_notes": notes})
    assert created.status_code == 201, created.text
    before = stored()
    for line_break in ("\t", "\n", "\r"):
        refused = problem(cw1.post("/v1/cases", {"survivor": {"name": f"Ami{line_break}na"}, "risk_level": "low"}), 422)
        assert "single line" in refused["errors"]["survivor.name"][0]
        refused = problem(admin.post("/v1/providers", {"name": "Clinic", "service_types": ["legal"],
                                                       "area": f"Kak{line_break}uma", "contact": "x"}), 422)
        assert set(refused["errors"]) == {"area"}
    problem(admin.post("/v1/providers", {"name": "x\u0000", "service_types": ["legal"], "area": "K", "contact": "x"}),
            422)
    assert stored() == before
    assert admin.get("/v1/providers").status_code == 200  # the directory still reads


def test_an_idempotency_key_holding_a_control_character_is_refused(people, stored):
    before = stored()
    refused = problem(people["cw1"].post("/v1/cases", NEW_CASE, headers={"Idempotency-Key": "key\x01"}), 422)
    assert set(refused["errors"]) == {"headers.idempotency_key"}
    assert stored() == before


LIST_ROUTES = ("/v1/cases", "/v1/providers", "/v1/approvals", "/v1/notifications", "/v1/referrals")


def test_query_parameters_are_single_lines_known_to_the_route_and_given_once(people, pathway):
    cw1 = people["cw1"]
    case = cw1.post("/v1/cases", NEW_CASE).json()
    known = {"/v1/cases": "assigned_to", "/v1/providers": "area", "/v1/approvals": "status",
             "/v1/notifications": "unread", f"/v1/cases/{case['id']}": "as_of",
             f"/v1/cases/{case['id']}/history": "cursor"}
    for path, name in known.items():
        for bad in ("\x00", "\x1b", "a\tb", "a\nb", "\x85"):
            refused = problem(cw1.get(path, params={name: bad}), 422)
            assert refused["code"] == "validation" and set(refused["errors"]) == {name}, (path, bad, refused)
        refused = problem(cw1.get(f"{path}?{name}=a&{name}=b"), 422)
        assert set(refused["errors"]) == {name}
    for path in (*LIST_ROUTES, f"/v1/cases/{case['id']}", f"/v1/cases/{case['id']}/referrals",
                 f"/v1/cases/{case['id']}/verify", "/v1/users/me", "/v1/approval-policy"):
        refused = problem(cw1.get(path, params={"unknown": "1"}), 422)
        assert set(refused["errors"]) == {"unknown"}, (path, refused)


def test_malformed_cursors_are_refused_naming_the_cursor(people):
    cw1 = people["cw1"]
    case = cw1.post("/v1/cases", NEW_CASE).json()
    for cursor in ("AAAA", "AA==", "!!!", "%00", "x" * 500, "-1", "99999999999999999999999"):
        for path in (*LIST_ROUTES, f"/v1/cases/{case['id']}/history", f"/v1/cases/{case['id']}/referrals"):
            refused = problem(cw1.get(f"{path}?cursor={cursor}"), 422)
            assert set(refused["errors"]) == {"cursor"}, (path, cursor, refused)


# --- HTTP hygiene --------------------------------------------------------------------------------------

def test_unknown_routes_and_wrong_methods_are_problem_documents(api, people):
    cw1 = people["cw1"]
    for client in (cw1, Api(api.base)):
        for path in ("/nope", "/v1/nope", "/v1/cases/x/y/z", "/v1/cases/", "/app/nope.js", "/app/"):
            # The app's files are read only: another method on one of their addresses is 405 (below).
            for method in ("GET",) if path == "/app/nope.js" else ("GET", "POST", "PUT", "DELETE"):
                missing = problem(client.request(method, path), 404)
                assert missing["code"] == "not_found" and missing["type"].endswith("/not_found")
    for method, path, allow in (("DELETE", "/v1/cases", "GET, HEAD, POST"),
                                ("PATCH", f"/v1/cases/{NOWHERE}", "GET, HEAD"),
                                ("POST", f"/v1/cases/{NOWHERE}", "GET, HEAD"),
                                ("GET", f"/v1/cases/{NOWHERE}/assessment", "POST"),
                                ("BREW", "/v1/providers", "GET, HEAD, POST"),
                                ("GET", "/v1/auth/token", "POST"),
                                ("POST", "/", "GET, HEAD"),  # the web app's shell (tests/integration/test_web_app.py)
                                ("BREW", "/", "GET, HEAD"),
                                ("POST", "/app/nope.js", "GET, HEAD"), ("DELETE", "/app/main.js", "GET, HEAD")):
        response = cw1.request(method, path)
        wrong = problem(response, 405)
        assert wrong["code"] == "method_not_allowed" and response.headers["Allow"] == allow, (method, path)


def test_every_v1_answer_says_no_store(api, people):
    cw1 = people["cw1"]
    answers = [cw1.get("/v1/cases"), cw1.post("/v1/cases", NEW_CASE), Api(api.base).get("/v1/cases"),
               cw1.get("/v1/nope"), cw1.request("DELETE", "/v1/cases"), cw1.get("/v1/cases", params={"x": "1"}),
               cw1.get("/v1/openapi.json"), cw1.get(f"/v1/cases/{NOWHERE}"),
               raw(cw1, "POST", "/v1/cases", "{", JSON)]
    assert [a.status_code for a in answers] == [200, 201, 401, 404, 405, 422, 200, 404, 400]
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store", answer.request.url
        if answer.status_code >= 400:
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert answer.json()["code"]


def test_the_access_log_keeps_query_parameter_names_never_values_nor_tokens(people, system):
    cw1, log = people["cw1"], system["gateway"].log_path
    marker = f"Plantedvalue{uuid.uuid4().hex}"
    assert cw1.get("/v1/providers", params={"area": marker}).status_code == 200
    problem(cw1.get("/v1/cases", params={"token": cw1.token, "assigned_to": marker}), 422)
    wait_until(lambda: "/v1/cases?token&assigned_to " in log.read_text(errors="replace"), what="the access log line")
    text = log.read_text(errors="replace")
    assert "/v1/providers?area " in text
    assert marker not in text and cw1.token not in text and cw1.token.split(".")[1] not in text
