"""Webhooks that cannot be turned on the inside, listed and deleted, through the gateway. Nothing here
sends traffic anywhere but 127.0.0.1 (listed in WEBHOOK_ALLOWED_HOSTS for the tests): every other
address is refused before any connection, and no name here is looked up in DNS."""
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.support import database, free_port, wait_for_timer_runs, wait_until

SURVIVOR = {"name": "Rehema Notify-Plant", "phone": "+254722333444"}
SECRET = "a-webhook-secret-never-shown"


class Receiver:
    """A local endpoint answering every POST with `status` (and `headers`); it records each call."""

    def __init__(self, status: int = 200, headers: dict | None = None):
        self.calls: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(status: int = 200, headers: dict | None = None) -> Receiver:
        made.append(Receiver(status, headers))
        return made[-1]
    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def register(people):
    """Registers webhooks for case_reassigned, and deletes them after the test."""
    admin, ids = people["admin"], []

    def hook(url: str) -> str:
        response = admin.post("/v1/webhooks", {"url": url, "events": ["case_reassigned"], "secret": SECRET})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
        return ids[-1]
    yield hook
    for webhook_id in ids:
        admin.request("DELETE", f"/v1/webhooks/{webhook_id}")


def listed(admin) -> dict:
    response = admin.get("/v1/webhooks")
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in response.json()["items"]}


def reassign_a_case(people) -> dict:
    case = people["cw1"].post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "low"}).json()
    wait_until(lambda: people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"}
                                           ).status_code == 200, what="the reassignment")
    return case


def deliveries(admin, webhook_id) -> list[dict]:
    return admin.get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"]


# 127.0.0.1 itself is listed for these tests, so it is allowed here (as WEBHOOK_ALLOWED_HOSTS says);
# tests/unit/test_webhook_destinations.py shows https://127.0.0.1/ refused when it is not listed.
@pytest.mark.parametrize("url", [
    "http://example.org/hook",  # http to a host not listed
    "http://127.0.0.2:9/hook",
    "https://127.0.0.2/", "https://10.0.0.5/", "https://169.254.169.254/latest/meta-data/", "https://[::1]/",
    "https://[::ffff:10.0.0.5]/", "https://[fd00:ec2::254]/", "https://localhost/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://user:pass@example.org/hook", "https://user@127.0.0.1/",
    "ftp://example.org/", "file:///etc/passwd",
])
def test_a_webhook_url_that_would_reach_inside_is_refused_naming_url(people, url):
    response = people["admin"].post("/v1/webhooks", {"url": url, "events": ["case_reassigned"], "secret": SECRET})
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == ["url"]
    assert url not in listed(people["admin"]).values()


def test_the_list_shows_webhooks_without_their_secrets_to_admins_only(people, receivers, register):
    admin, receiver = people["admin"], receivers()
    webhook_id = register(receiver.url)
    wait_until(lambda: webhook_id in listed(admin), what="the webhook in the list")
    response = admin.get("/v1/webhooks")
    body = response.json()
    assert body["next_cursor"] is None and SECRET not in response.text and "secret" not in response.text
    item = listed(admin)[webhook_id]
    assert (item["url"], item["events"]) == (receiver.url, ["case_reassigned"])
    assert item["registered_at"].endswith("Z")
    assert people["cw1"].get("/v1/webhooks").status_code == 403
    assert admin.get("/v1/webhooks", params={"limit": 0}).status_code == 422
    assert admin.get("/v1/webhooks", params={"cursor": "nope"}).status_code == 422
    assert admin.get("/v1/webhooks", params={"colour": "red"}).status_code == 422

    page = admin.get("/v1/webhooks", params={"limit": 1}).json()
    if len(listed(admin)) > 1:
        following = admin.get("/v1/webhooks", params={"limit": 200, "cursor": page["next_cursor"]}).json()
        assert page["items"][0]["id"] not in {item["id"] for item in following["items"]}


def test_a_redirect_is_never_followed_but_recorded_as_a_failed_attempt(people, receivers, register):
    admin, elsewhere = people["admin"], receivers()
    redirecting = receivers(302, {"Location": elsewhere.url})
    webhook_id = register(redirecting.url)
    wait_until(lambda: webhook_id in listed(admin), what="the webhook in the read model")
    reassign_a_case(people)

    def attempted() -> list[dict]:
        return [a for d in deliveries(admin, webhook_id) for a in d["attempts"]]
    [first, *_] = wait_until(attempted, what="an attempt at the redirecting receiver")
    assert first["status_code"] == 302 and redirecting.calls
    assert elsewhere.calls == []
    [delivery] = deliveries(admin, webhook_id)
    assert delivery["status"] in ("pending", "failed")  # retried with backoff, never delivered


def test_after_a_webhook_is_deleted_nothing_more_is_delivered_to_it(people, receivers, register):
    admin, kept, gone = people["admin"], receivers(), receivers()
    kept_id, gone_id = register(kept.url), register(gone.url)
    wait_until(lambda: {kept_id, gone_id} <= set(listed(admin)), what="both webhooks in the read model")

    assert people["cw1"].request("DELETE", f"/v1/webhooks/{gone_id}").status_code == 403
    assert admin.request("DELETE", "/v1/webhooks/not-a-uuid").status_code == 404
    assert admin.request("DELETE", f"/v1/webhooks/{uuid.uuid4()}").status_code == 404
    deleted = admin.request("DELETE", f"/v1/webhooks/{gone_id}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert admin.request("DELETE", f"/v1/webhooks/{gone_id}").status_code == 404
    wait_until(lambda: gone_id not in listed(admin), what="the deleted webhook gone from the list")

    case = reassign_a_case(people)
    wait_until(lambda: any(c["case_number"] == case["case_number"] for c in kept.calls),
               what="the still-registered webhook to receive the event")
    # The kept webhook's delivery was queued in the transaction that would have queued one for the
    # deleted webhook, and has been made: a delivery to the deleted one would be in its list now.
    assert gone.calls == [] and deliveries(admin, gone_id) == []


def test_deleting_a_webhook_cancels_its_deliveries_not_yet_made(people, receivers, register, system, test_env):
    admin, failing = people["admin"], receivers(503)
    webhook_id = register(failing.url)
    wait_until(lambda: webhook_id in listed(admin), what="the webhook in the read model")
    reassign_a_case(people)
    wait_until(lambda: failing.calls, what="a first, failed attempt")

    assert admin.request("DELETE", f"/v1/webhooks/{webhook_id}").status_code == 204
    wait_until(lambda: deliveries(admin, webhook_id)[0]["status"] == "cancelled", what="the delivery cancelled")
    tried = len(failing.calls)
    # Positive markers: the time of the next try, had the delivery not been cancelled, has passed,
    # and two delivery scans finished after that.
    with database(test_env) as conn:
        due = conn.execute("SELECT max(next_attempt_at) FROM notifications.deliveries WHERE webhook_id = %s",
                           (webhook_id,)).fetchone()[0]

    def past_due() -> bool:
        with database(test_env) as conn:
            return conn.execute("SELECT now() > %s", (due,)).fetchone()[0]
    wait_until(past_due, what="the cancelled delivery's next try to be due")
    wait_for_timer_runs(system["notifications"], "deliver_webhooks", runs=2)
    assert len(failing.calls) == tried
