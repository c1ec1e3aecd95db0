"""CORS (../shared/api.md, Conventions): a listed origin's browser may call the API; any other
origin's gets no CORS header, so the browser keeps the answer from its page. Requests sent as a
browser sends them: a preflight (OPTIONS with Origin and Access-Control-Request-*), then the call."""
import requests

from tests.integration.conftest import WEB_ORIGIN

OTHER_ORIGIN = "https://evil.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, if-match, idempotency-key"}


def preflight(api, path: str, origin: str) -> requests.Response:
    return requests.options(api.base + path, headers={"Origin": origin, **PREFLIGHT}, timeout=15)


def test_a_listed_origins_preflight_is_answered_with_what_its_page_may_send(api):
    answer = preflight(api, "/v1/cases", WEB_ORIGIN)
    assert answer.status_code == 204, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    assert set(answer.headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST", "OPTIONS"}
    allowed = {h.strip().lower() for h in answer.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "if-match", "idempotency-key", "x-correlation-id"} <= allowed
    assert "Access-Control-Allow-Credentials" not in answer.headers  # bearer tokens, never cookies
    assert "Origin" in answer.headers["Vary"]
    # A path with a parameter, and one that takes PUT.
    plan = preflight(api, "/v1/cases/6f1c1b2e-0000-4000-8000-000000000000/plan", WEB_ORIGIN)
    assert plan.status_code == 204 and "PUT" in plan.headers["Access-Control-Allow-Methods"]


def test_a_listed_origin_reads_the_answer_and_the_headers_it_needs(api, people):
    cw1 = people["cw1"]
    created = requests.post(api.base + "/v1/cases", json={"survivor": {"name": "Amina"}, "risk_level": "low"},
                            headers={"Authorization": f"Bearer {cw1.token}", "Origin": WEB_ORIGIN}, timeout=15)
    assert created.status_code == 201, created.text
    assert created.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN
    exposed = {h.strip() for h in created.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ETag", "Location", "X-Correlation-Id"} <= exposed
    # An error too: a page must read the problem's code to tell its user what went wrong.
    refused = requests.get(api.base + "/v1/cases", headers={"Origin": WEB_ORIGIN}, timeout=15)
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == WEB_ORIGIN


def test_another_origin_gets_no_cors_header_on_a_preflight_or_a_call(api, people):
    answer = preflight(api, "/v1/cases", OTHER_ORIGIN)
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")], answer.headers
    called = requests.get(api.base + "/v1/cases", headers={"Authorization": f"Bearer {people['cw1'].token}",
                                                          "Origin": OTHER_ORIGIN}, timeout=15)
    assert called.status_code == 200
    assert not [h for h in called.headers if h.lower().startswith("access-control-")], called.headers
    # A listed origin's near miss (another scheme or port) is another origin.
    for near in (WEB_ORIGIN.replace("https", "http"), WEB_ORIGIN + ":8443", "null"):
        assert "Access-Control-Allow-Origin" not in preflight(api, "/v1/cases", near).headers


def test_options_without_an_origin_says_what_the_path_takes_and_an_unknown_path_is_404(api):
    answer = requests.options(api.base + "/v1/approvals", timeout=15)
    assert answer.status_code == 204
    assert set(answer.headers["Allow"].split(", ")) == {"GET", "OPTIONS"}
    unknown = requests.options(api.base + "/v1/nowhere", headers={"Origin": WEB_ORIGIN, **PREFLIGHT}, timeout=15)
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"] == "application/problem+json"
    assert unknown.json()["code"] == "not_found"
