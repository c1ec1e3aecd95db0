"""Bad input and racing clients over HTTP: a clear 4xx, and nothing stored."""
import json
import threading
import time

import jwt
import pytest
import requests

from tests.support import database

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
