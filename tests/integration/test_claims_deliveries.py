"""README, "Notifications" and settings: webhook and e-mail deliveries are given up after their maximum
attempts, and an endpoint that is down delays its own deliveries only. The session's notifications
service is restarted for this module with a few attempts and a long webhook timeout (its usual
settings are restored after), so giving up takes seconds and a hanging endpoint is plain to see."""
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support import PASSWORD, database, free_port, wait_for_timer_runs, wait_until

SETTINGS = {"WEBHOOK_MAX_ATTEMPTS": "3", "EMAIL_MAX_ATTEMPTS": "3", "WEBHOOK_TIMEOUT_SECONDS": "10"}
HANGS_FOR = 10.0  # the webhook timeout above: how long a hanging endpoint holds the delivery timer's request
SECRET = "a-webhook-secret-for-these-tests"


@pytest.fixture(scope="module")
def notifications(system):
    service = system["notifications"]
    usual = service.env
    service.stop()
    service.env = {**usual, **SETTINGS}
    service.start()
    yield service
    service.stop()
    service.env = usual
    service.start()


class Endpoint:
    """A local webhook endpoint answering `status`, or, with `hang`, holding each request until released."""

    def __init__(self, status: int = 200, hang: bool = False):
        self.calls, self.released = [], threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                endpoint.calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                if hang:
                    endpoint.released.wait(60)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self, case) -> list[dict]:
        return [call for call in self.calls if call["case_number"] == case["case_number"]]

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()


@pytest.fixture
def endpoints():
    made: list[Endpoint] = []

    def make(status: int = 200, hang: bool = False) -> Endpoint:
        made.append(Endpoint(status, hang))
        return made[-1]
    yield make
    for endpoint in made:
        endpoint.close()


@pytest.fixture
def register(people, test_env):
    """Registers webhooks for case_reassigned (known to the delivery table on return); deletes them after."""
    admin, ids = people["admin"], []

    def hook(endpoint: Endpoint) -> str:
        response = admin.post("/v1/webhooks", {"url": endpoint.url, "events": ["case_reassigned"], "secret": SECRET})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
        wait_until(lambda: webhook_known(test_env, ids[-1]), what="the webhook in the delivery table")
        return ids[-1]
    yield hook
    for webhook_id in ids:
        admin.request("DELETE", f"/v1/webhooks/{webhook_id}")


def webhook_known(env, webhook_id) -> bool:
    with database(env) as conn:
        return conn.execute("SELECT 1 FROM notifications.webhooks WHERE webhook_id = %s", (webhook_id,)
                            ).fetchone() is not None


def reassigned(people, supervisor="sup1", caseworker="cw1", to="cw2") -> dict:
    case = people[caseworker].post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"}).json()
    wait_until(lambda: people[supervisor].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": to}
                                               ).status_code == 200, what="the reassignment")
    return case


def deliveries(people, webhook_id) -> list[dict]:
    return people["admin"].get(f"/v1/webhooks/{webhook_id}/deliveries").json()["items"]


def past(env, table: str, column: str, value) -> None:
    """Waits until every next attempt the given-up deliveries would have had, had they not been, is due."""
    with database(env) as conn:
        due = conn.execute(f"SELECT max(next_attempt_at) FROM notifications.{table} WHERE {column} = ANY(%s)",
                           (value,)).fetchone()[0]

    def passed() -> bool:
        with database(env) as conn:
            return conn.execute("SELECT now() > %s", (due,)).fetchone()[0]
    wait_until(passed, what="the next attempt's time, had there been one")


def test_a_webhook_delivery_is_given_up_after_webhook_max_attempts(people, notifications, endpoints, register,
                                                                  test_env):
    failing = endpoints(500)
    webhook_id = register(failing)
    case = reassigned(people)

    [delivery] = wait_until(lambda: [d for d in deliveries(people, webhook_id) if d["status"] == "failed"],
                            what="the delivery given up")
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500]
    past(test_env, "deliveries", "webhook_id", [webhook_id])
    wait_for_timer_runs(notifications, "deliver_webhooks", runs=2)
    assert len(failing.received(case)) == 3
    assert [d["status"] for d in deliveries(people, webhook_id)] == ["failed"]


def test_a_hanging_webhook_endpoint_delays_only_its_own_deliveries(people, notifications, endpoints, register):
    hanging, healthy = endpoints(hang=True), endpoints(204)
    register(hanging)
    first = reassigned(people)
    wait_until(lambda: hanging.received(first), what="the hanging endpoint holding its first delivery")

    register(healthy)
    second = reassigned(people)
    # While the hanging endpoint still holds the first request, the other endpoint gets its delivery,
    # and the in-app notification is made.
    wait_until(lambda: healthy.received(second), timeout=HANGS_FOR / 2,
               what="the healthy endpoint's delivery while the other hangs")
    wait_until(lambda: any(n["case_id"] == second["id"] for n in people["cw2"].get("/v1/notifications").json()["items"]),
               timeout=HANGS_FOR / 2, what="the in-app notification while the endpoint hangs")
    assert not hanging.released.is_set() and len(hanging.received(first)) == 1


def test_an_email_is_given_up_after_email_max_attempts(people, notifications, smtp, test_env, api):
    away, back = (user_with_email(people["admin"]) for _ in range(2))
    wait_until(lambda: known_with_email(test_env, away, back), what="both people known with their address")
    case = people["admin"].login(away, PASSWORD).post("/v1/cases", {"survivor": {"name": "Amina"},
                                                                    "risk_level": "low"}).json()
    smtp.stop()
    try:
        wait_until(lambda: people["sup2"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": back}
                                               ).status_code == 200, what="the reassignment")
        wait_until(lambda: email_deliveries(test_env, away, back) == {(away, "failed", 3), (back, "failed", 3)},
                   what="both e-mails given up after three attempts")
    finally:
        smtp.start()
    past(test_env, "email_deliveries", "recipient", [away, back])
    # Positive marker: a later e-mail to the same people is sent through the server, now back.
    assert people["sup2"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": away}).status_code == 200
    wait_until(lambda: len(mails(smtp, case, f"{back} to {away}")) == 2, what="the later e-mails")
    wait_for_timer_runs(notifications, "send_email", runs=2)
    assert mails(smtp, case, f"{away} to {back}") == []
    assert {(r, s, n) for r, s, n in email_deliveries(test_env, away, back) if s == "failed"} == {
        (away, "failed", 3), (back, "failed", 3)}


def user_with_email(admin) -> str:
    username = f"mail-{uuid.uuid4().hex[:8]}"
    response = admin.post("/v1/users", {"username": username, "password": PASSWORD, "role": "caseworker",
                                        "display_name": username, "supervisor": "sup2",
                                        "email": f"{username}@example.org"})
    assert response.status_code == 201, response.text
    return username


def known_with_email(env, *usernames) -> bool:
    with database(env) as conn:
        return conn.execute("SELECT count(*) FROM notifications.people WHERE username = ANY(%s)"
                            " AND email IS NOT NULL", (list(usernames),)).fetchone()[0] == len(usernames)


def email_deliveries(env, *recipients) -> set[tuple]:
    with database(env) as conn:
        return set(conn.execute("SELECT recipient, status, attempts FROM notifications.email_deliveries"
                                " WHERE recipient = ANY(%s)", (list(recipients),)).fetchall())


def mails(smtp, case, moved: str) -> list:
    return [m for m in smtp.messages() if case["case_number"] in m["Subject"] and moved in m.get_payload()]
