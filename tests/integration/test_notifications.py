"""In-app notifications end to end: the right person, once, by case number only."""
import hashlib
import hmac
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from kombu import Connection, Producer, Queue

from services.cases.application import Cases
from services.cases.settings import CasesSettings
from services.notifications.application import Notifications
from services.notifications.settings import NotificationsSettings
from shared.bus import EXCHANGE
from tests.support import case_in_implementation, counter, database, free_port, wait_for_timer_runs, wait_until

SURVIVOR = {"name": "Rehema Notify-Plant", "phone": "+254722333444", "location": "Block 9 Kakuma"}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic", "responsible": "cw1", "due_date": "2026-12-15"}]}


def inbox(api, **query) -> list[dict]:
    return api.get("/v1/notifications", params=query).json()["items"]


def notified(api, case, kind) -> list[dict]:
    return [n for n in inbox(api) if n["case_id"] == case["id"] and n["type"] == kind]


def arrives(api, case, kind) -> dict:
    [notification] = wait_until(lambda: notified(api, case, kind), what=f"{kind} for {case['case_number']}")
    return notification


def new_case(api, risk="medium") -> dict:
    case = api.post("/v1/cases", {"survivor": SURVIVOR, "risk_level": risk,
                                  "intake_notes": "Rehema Notify-Plant fled on foot"}).json()
    assert api.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    assert api.post(f"/v1/cases/{case['id']}/assessment", {"needs": ["medical"], "safety_concerns": "x"}
                    ).status_code == 200
    assert api.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200
    return case


def test_approval_requested_goes_to_the_supervisor_and_the_decision_to_the_requester(people):
    cw1, sup1 = people["cw1"], people["sup1"]
    case = new_case(cw1)
    cw1.post(f"/v1/cases/{case['id']}/plan/submit")
    asked = arrives(sup1, case, "approval_requested")
    assert asked["case_number"] == case["case_number"] and "awaits your decision" in asked["message"]
    assert notified(people["sup2"], case, "approval_requested") == []

    [request] = wait_until(lambda: [r for r in sup1.get("/v1/approvals?status=pending").json()["items"]
                                    if r["case_id"] == case["id"]], what="the request in the queue")
    sup1.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"})
    decided = arrives(cw1, case, "approval_decided")
    assert "approved by sup1" in decided["message"]


def test_referrals_notify_the_focal_point_then_the_caseworker(people, pathway):
    cw1, clinic1 = people["cw1"], pathway["clinic1"]
    case = new_case(cw1)
    key = str(uuid.uuid4())
    referral = wait_until(lambda: (r := cw1.post(f"/v1/cases/{case['id']}/referrals",
                                                 {"provider_id": pathway["clinic"]["id"], "service_type": "medical"},
                                                 headers={"Idempotency-Key": key})).status_code == 201 and r.json(),
                          what="the referral")
    received = arrives(clinic1, case, "referral_received")
    assert "medical referral" in received["message"]
    assert notified(pathway["legal1"], case, "referral_received") == []
    clinic1.post(f"/v1/referrals/{referral['id']}/accept")
    assert "now accepted" in arrives(cw1, case, "referral_updated")["message"]


def test_reassignment_tells_both_caseworkers(people):
    case = people["cw1"].post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "low"}).json()
    wait_until(lambda: people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"}
                                           ).status_code == 200, what="the reassignment")
    arrives(people["cw1"], case, "case_reassigned")
    assert "from cw1 to cw2" in arrives(people["cw2"], case, "case_reassigned")["message"]


@pytest.fixture
def approved_hours_ago(people):
    """A high-risk case of cw1's whose plan was approved `hours` ago: its first follow-up fell due
    `hours` - 84 ago. The running services cannot travel in time, so its history is written by the cases
    service's own store, in this process, with its clock turned back; the running cases service's
    overdue scan, its outbox relay and the notifications service do the rest. Nothing is published by hand."""
    store = Cases(CasesSettings.from_env())

    def approved(hours: float) -> dict:
        then = datetime.now(UTC) - timedelta(hours=hours)
        store.clock = lambda: then
        case_id = case_in_implementation(store, {"username": "cw1", "role": "caseworker", "team": []}, "high")
        return people["cw1"].get(f"/v1/cases/{case_id}").json()
    yield approved
    store.close()


@pytest.fixture
def overdue_messages(test_env):
    """FollowUpOverdue messages as the cases service's relay published them: bytes and headers."""
    queue = Queue(f"test-overdue-{uuid.uuid4().hex[:8]}", exchange=EXCHANGE, routing_key="FollowUpOverdue")
    with Connection(test_env["AMQP_URI"]) as conn:
        queue(conn.channel()).declare()

    def of(case) -> list:
        with Connection(test_env["AMQP_URI"]) as conn:
            bound, kept = queue(conn.channel()), []
            while (message := bound.get(no_ack=True)) is not None:
                kept.append(message)
            return [m for m in kept if json.loads(m.body)["aggregate_id"] == case["id"]]
    yield of
    with Connection(test_env["AMQP_URI"]) as conn:
        queue(conn.channel()).delete()


def test_an_overdue_follow_up_notifies_the_caseworker_once_even_when_redelivered(people, test_env, system,
                                                                                 approved_hours_ago, overdue_messages):
    cw1 = people["cw1"]
    case = approved_hours_ago(84 + 2)  # due two hours ago: the overdue scan flags it
    notification = arrives(cw1, case, "follow_up_overdue")
    assert "Contact the survivor" in notification["message"]
    [flagged] = wait_until(lambda: overdue_messages(case), what="the FollowUpOverdue on the bus")

    duplicates = redeliveries_of_overdue(system)
    with Connection(test_env["AMQP_URI"]) as conn:  # as after a relay crash before it saved its position
        for _ in range(2):
            Producer(conn).publish(flagged.body, exchange=EXCHANGE, routing_key="FollowUpOverdue",
                                   headers=flagged.headers, content_type="application/json", content_encoding="utf-8")
    wait_until(lambda: redeliveries_of_overdue(system) == duplicates + 2, what="both redeliveries handled")
    assert len(notified(cw1, case, "follow_up_overdue")) == 1


def redeliveries_of_overdue(system) -> float:
    return counter(system["notifications"], "casetrail_events_consumed_total", consumer="notify",
                   event_type="FollowUpOverdue", outcome="duplicate")


def test_read_marks_one_notification_and_only_for_its_recipient(people):
    cw1 = people["cw1"]
    case = people["cw1"].post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "low"}).json()
    people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"})
    mine = arrives(cw1, case, "case_reassigned")
    assert people["cw2"].post(f"/v1/notifications/{mine['id']}/read").status_code == 404
    assert cw1.post(f"/v1/notifications/{mine['id']}/read").json() == {"id": mine["id"], "read": True}
    assert cw1.post(f"/v1/notifications/{mine['id']}/read").status_code == 200
    wait_until(lambda: mine["id"] not in {n["id"] for n in inbox(cw1, unread="true")}, what="read")
    assert mine["id"] in {n["id"] for n in inbox(cw1)}


def test_no_notification_carries_survivor_data(people, pathway):
    case = people["cw1"].post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "low",
                                            "intake_notes": "Rehema Notify-Plant fled on foot"}).json()
    wait_until(lambda: people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"}
                                           ).status_code == 200, what="the reassignment")
    # First the notifications about a case whose survivor data was planted, so the check reads
    # inboxes that hold them (empty inboxes would pass it).
    arrives(people["cw1"], case, "case_reassigned")
    arrives(people["cw2"], case, "case_reassigned")
    inboxes = [inbox(people[u]) for u in ("cw1", "cw2", "cw3", "sup1", "sup2")] + [
        inbox(pathway["clinic1"]), inbox(pathway["legal1"])]
    everything = json.dumps(inboxes)
    assert case["case_number"] in everything
    for planted in (*SURVIVOR.values(), "fled on foot"):
        assert planted not in everything


def test_a_follow_up_overdue_by_more_than_a_day_escalates_to_the_supervisor_once(people, system, approved_hours_ago):
    """The cases service's overdue scan flags both; the notifications service's escalation scan tells
    the supervisor of the one overdue by more than 24 hours, once."""
    cw1, sup1 = people["cw1"], people["sup1"]
    late, recent = approved_hours_ago(84 + 26), approved_hours_ago(84 + 2)

    escalated = arrives(sup1, late, "follow_up_overdue")
    assert "more than 24 hours" in escalated["message"] and "cw1" in escalated["message"]
    arrives(cw1, late, "follow_up_overdue")
    arrives(cw1, recent, "follow_up_overdue")
    # Two more escalation scans finished (the last began after both were watched): a second
    # escalation, or one for the recent one, would have been made by now.
    wait_for_timer_runs(system["notifications"], "escalate_overdue_follow_ups", runs=2)
    assert len(notified(sup1, late, "follow_up_overdue")) == 1
    assert notified(sup1, recent, "follow_up_overdue") == []


@pytest.fixture
def escalation_half_a_day_later():
    """The notifications service's escalation scan as it will run twelve hours from now: its own store,
    in this process, with its clock turned forward (the running service escalates what is overdue by
    more than a day now, and a follow-up recorded now cannot be dated later)."""
    store = Notifications(NotificationsSettings.from_env())
    later = datetime.now(UTC) + timedelta(hours=12)
    store.clock = lambda: later
    yield store.escalate_overdue
    store.close()


def test_a_follow_up_recorded_after_it_fell_due_stops_its_escalation(people, test_env, approved_hours_ago,
                                                                     escalation_half_a_day_later):
    cw1, sup1 = people["cw1"], people["sup1"]
    done, forgotten = approved_hours_ago(84 + 16), approved_hours_ago(84 + 16)  # due 16 hours ago
    for case in (done, forgotten):
        arrives(cw1, case, "follow_up_overdue")  # flagged, and watched by the notifications service
    assert cw1.post(f"/v1/cases/{done['id']}/follow-ups", {"contacted": True, "safety_reassessed": True,
                                                            "contact_date": datetime.now(UTC).isoformat()}
                    ).status_code == 201
    wait_until(lambda: followed_up(test_env, done), what="the follow-up known to notifications")

    escalation_half_a_day_later()  # 28 hours after both fell due
    assert escalated(test_env, forgotten) is True and escalated(test_env, done) is False
    assert "more than 24 hours" in arrives(sup1, forgotten, "follow_up_overdue")["message"]
    assert notified(sup1, done, "follow_up_overdue") == []


def escalated(test_env, case) -> bool | None:
    with database(test_env) as conn:
        row = conn.execute("SELECT escalated FROM notifications.overdue_watch WHERE case_id = %s",
                           (case["id"],)).fetchone()
    return row and row[0]


def followed_up(test_env, case) -> bool:
    with database(test_env) as conn:
        row = conn.execute("SELECT last_follow_up_at FROM notifications.case_directory WHERE case_id = %s",
                           (case["id"],)).fetchone()
    return bool(row and row[0])


@pytest.fixture
def receiver():
    """A webhook endpoint that fails twice, then accepts; it checks every signature."""
    secret, received = "a-shared-secret-of-some-length", []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            received.append({"signed": hmac.compare_digest(expected, self.headers["X-Signature"]),
                             "delivery": self.headers["X-Delivery-Id"], "body": json.loads(body)})
            self.send_response(500 if len(received) <= 2 else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/hook", "secret": secret, "received": received}
    server.shutdown()


def test_a_webhook_that_fails_twice_then_succeeds_gets_one_signed_delivery(people, receiver, test_env):
    admin = people["admin"]
    assert people["cw1"].post("/v1/webhooks", {"url": receiver["url"], "events": ["case_reassigned"],
                                               "secret": receiver["secret"]}).status_code == 403
    assert admin.post("/v1/webhooks", {"url": "ftp://x", "events": ["nope"], "secret": "short"}).status_code == 422
    hook = admin.post("/v1/webhooks", {"url": receiver["url"], "events": ["case_reassigned"],
                                       "secret": receiver["secret"]})
    assert hook.status_code == 201 and "secret" not in hook.json()
    wait_until(lambda: webhook_known(test_env, hook.json()["id"]), what="the webhook in the delivery table")

    case = people["cw1"].post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "low"}).json()
    wait_until(lambda: people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"}
                                           ).status_code == 200, what="the reassignment")
    wait_until(lambda: len(receiver["received"]) >= 3, what="three attempts")
    # No fourth attempt after the success: a later event's delivery reaches the same endpoint (the
    # delivery scans ran past the first delivery's next try) and the first has still three tries.
    wait_until(lambda: people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw1"}
                                           ).status_code == 200, what="the reassignment back")
    wait_until(lambda: len({t["delivery"] for t in receiver["received"]}) == 2, what="the later delivery")
    first = receiver["received"][0]["delivery"]
    tries = [t for t in receiver["received"] if t["delivery"] == first]
    assert len(tries) == 3 and all(t["signed"] for t in tries)
    assert tries[-1]["body"]["case_number"] == case["case_number"] and tries[-1]["body"]["type"] == "case_reassigned"
    for planted in SURVIVOR.values():
        assert planted not in json.dumps(tries)

    [delivery] = [d for d in admin.get(f"/v1/webhooks/{hook.json()['id']}/deliveries").json()["items"]
                  if d["id"] == first]
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]


def test_email_reaches_those_who_want_it_and_waits_out_an_smtp_outage(people, smtp, test_env):
    admin, sup2 = people["admin"], people["sup2"]
    for username in ("cw8", "cw9"):
        assert admin.post("/v1/users", {"username": username, "password": "a-long-enough-password",
                                        "role": "caseworker", "display_name": username, "supervisor": "sup2",
                                        "email": f"{username}@example.org"}).status_code == 201
    cw8 = people["admin"].login("cw8", "a-long-enough-password")
    assert cw8.request("PUT", "/v1/users/me/preferences", {"email_notifications": False}
                       ).json()["email_notifications"] is False
    cw9 = people["admin"].login("cw9", "a-long-enough-password")
    wait_until(lambda: directory_people(test_env, "cw8", "cw9") == {"cw8": False, "cw9": True},
               what="the sign-ups and the preference known to the notifications service")
    case = cw9.post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "low"}).json()

    smtp.stop()  # the mail server is away while the notification is made
    try:
        wait_until(lambda: sup2.post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw8"}).status_code == 200,
                   what="the reassignment")
        arrives(cw9, case, "case_reassigned")
        wait_until(lambda: email_attempts(test_env, "cw9") >= 2, what="attempts failing, and retried")
    finally:
        smtp.start()

    def mail_for(address):
        return [m for m in smtp.messages() if m["To"] == address and case["case_number"] in m["Subject"]]
    [sent] = wait_until(lambda: mail_for("cw9@example.org"), what="the e-mail after the outage")
    assert case["case_number"] in sent.get_payload() and "cw9 to cw8" in sent.get_payload()
    for planted in SURVIVOR.values():
        assert planted not in sent.as_string()
    arrives(cw8, case, "case_reassigned")
    # cw9's e-mail is queued with the notification, in the transaction that would queue cw8's; it
    # is sent, so one for cw8 would have been queued too, and a second one to cw9 is never due.
    assert email_attempts(test_env, "cw8") is None  # e-mail turned off: the in-app notification only
    assert mail_for("cw8@example.org") == []
    wait_until(lambda: email_status(test_env, "cw9") == {"sent"}, what="cw9's e-mail recorded as sent")
    assert len(mail_for("cw9@example.org")) == 1


def webhook_known(env, webhook_id) -> bool:
    with database(env) as conn:
        return conn.execute("SELECT 1 FROM notifications.webhooks WHERE webhook_id = %s", (webhook_id,)
                            ).fetchone() is not None


def directory_people(env, *usernames) -> dict[str, bool]:
    """Whether each person wants e-mail, as the notifications service knows them (if it does)."""
    with database(env) as conn:
        return dict(conn.execute("SELECT username, email_on FROM notifications.people WHERE username = ANY(%s)"
                                 " AND email IS NOT NULL", (list(usernames),)).fetchall())


def email_attempts(env, recipient) -> int | None:
    """Attempts at the recipient's e-mails (None: none queued)."""
    with database(env) as conn:
        return conn.execute("SELECT sum(attempts) FROM notifications.email_deliveries WHERE recipient = %s",
                            (recipient,)).fetchone()[0]


def email_status(env, recipient) -> set[str]:
    with database(env) as conn:
        return {row[0] for row in conn.execute("SELECT status FROM notifications.email_deliveries"
                                               " WHERE recipient = %s", (recipient,))}


def test_registering_a_webhook_twice_with_one_idempotency_key_adds_one(people):
    admin, key = people["admin"], {"Idempotency-Key": str(uuid.uuid4())}
    body = {"url": "http://127.0.0.1:9/unused", "events": ["approval_requested"], "secret": "s" * 24}
    first, again = admin.post("/v1/webhooks", body, headers=key), admin.post("/v1/webhooks", body, headers=key)
    assert first.status_code == again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert admin.post("/v1/webhooks", dict(body, secret="t" * 24), headers=key).status_code == 409
