"""Issue 24: an event is believed only from the service that owns its type (shared/envelope.py OWNERS),
signed by it. For every event type some service consumes, forgeries on the running system's bus (signed
with another service's key, published under another service's name, unsigned, or signed by the owner
and altered afterwards) are set aside in every consumer's quarantine as refused, counted, and change
nothing in any store. The same event from a test client holding the owner's credentials is believed."""
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from kombu import Connection, Producer

from services.approvals.domain import Approval, Submissions
from services.approvals.service import ApprovalsService
from services.cases.domain import CaseActivity, Consent
from services.cases.service import CasesService
from services.gateway.service import GatewayService
from services.notifications.service import NotificationsService
from services.referrals.service import ReferralsService
from shared import quarantine_cli
from shared.bus import EXCHANGE, SIGNATURE_HEADER, event_publisher
from shared.consumer import EventConsumer
from shared.envelope import OWNERS, make_envelope
from tests.integration.test_case_lifecycle import decide
from tests.support import PASSWORD, counter, database, publish_as_owner, queue_depths, signed_by, wait_until

SERVICES = (CasesService, ReferralsService, ApprovalsService, NotificationsService, GatewayService)
SCHEMAS = tuple(service.name for service in SERVICES)
CW1 = {"username": "cw1", "role": "caseworker", "correlation_id": None}
SUP1 = {"username": "sup1", "role": "supervisor", "correlation_id": None}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic", "responsible": "cw1", "due_date": "2026-12-15"}]}

# How each forgery is made, and the reason a consumer gives for refusing it.
FORGERIES = {"signed with another service's key": "bad signature",
             "published under another service's name": "source does not own the event type",
             "unsigned": "unsigned",
             "altered after its owner signed it": "bad signature"}


def consumers_of(event_type: str) -> list[tuple[str, str]]:
    """(service, handler) of each consumer of the type, from the services' own @on_event entrypoints."""
    return [(service.name, method) for service in SERVICES for method, attribute in vars(service).items()
            for entrypoint in getattr(attribute, "nameko_entrypoints", ())
            if isinstance(entrypoint, EventConsumer) and event_type in entrypoint.event_types]


CONSUMED = [event_type for event_type in OWNERS if consumers_of(event_type)]


@dataclass
class Targets:
    """Real things a forged event would change if it were believed."""
    planned: dict  # a plan awaiting sup1's decision
    plan_submission: int
    closing: dict  # a closure awaiting sup1's decision
    closure_submission: int
    unconsented: dict  # registered, no consent given
    unknown_case: uuid.UUID  # no such case anywhere
    referral: uuid.UUID
    clinic: str
    intruder: str  # no such user anywhere
    staff: str  # a user whose e-mail notifications are on

    @property
    def case_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(case["id"]) for case in (self.planned, self.closing, self.unconsented)] + [self.unknown_case]

    @property
    def streams(self) -> list[uuid.UUID]:
        """The cases' streams in the cases store (not who read them: reading a case records a view), and
        their latest submissions in the approvals store (its requests are in approval_queue)."""
        cases = [uuid.UUID(case["id"]) for case in (self.planned, self.closing, self.unconsented)]
        return [*cases, *map(Consent.id_for, cases), *map(CaseActivity.id_for, cases),
                *(Submissions.id_for(case, kind) for case in cases for kind in ("case_plan", "closure"))]


def version(event_type: str, variant: str | None = None) -> int:
    """Each forgery of each type, and its genuine counterpart, an event of its own (the aggregate
    version makes the event id): types share aggregates (a case, a referral, a request)."""
    return 1000 + 10 * CONSUMED.index(event_type) + (list(FORGERIES).index(variant) + 1 if variant else 0)


def envelope_of(event_type: str, targets: Targets, aggregate_version: int) -> dict:
    """A well-formed event of the type, about the targets, that would change them if believed."""
    planned, closing, unconsented = (uuid.UUID(c["id"]) for c in (targets.planned, targets.closing,
                                                                  targets.unconsented))
    referral = {"referral_id": str(targets.referral), "case_id": str(planned), "provider_id": targets.clinic,
                "service_type": "medical"}
    submitted = {"case_number": targets.unconsented["case_number"], "risk_level": "low", "is_child": False,
                 "submission": aggregate_version}

    def decision(case, kind, submission):
        return Approval.id_for(uuid.UUID(case["id"]), kind, submission), SUP1, {
            "case_id": case["id"], "submission": submission, "decided_by": "sup1", "requested_by": "cw1",
            "type": kind, "case_number": case["case_number"]}
    events = {
        "CaseRegistered": lambda: (targets.unknown_case, CW1, {
            "case_number": f"GBV-FORGED-{targets.unknown_case.hex[:6]}", "risk_level": "high", "is_child": False,
            "assigned_to": "cw1", "stage": "engagement"}),
        "ConsentRecorded": lambda: (Consent.id_for(unconsented), CW1, {
            "case_id": str(unconsented), "services": True, "share_with_providers": True}),
        "ConsentWithdrawn": lambda: (Consent.id_for(planned), CW1, {"case_id": str(planned)}),
        "CasePlanSubmitted": lambda: (unconsented, CW1, submitted),
        "ClosureRequested": lambda: (unconsented, CW1, dict(submitted, reason="needs_met")),
        "FollowUpRecorded": lambda: (planned, CW1, {
            "contacted": True, "next_due": (datetime.now(UTC) + timedelta(days=3)).isoformat()}),
        "FollowUpOverdue": lambda: (planned, {"username": "system", "role": "system"}, {
            "due": (datetime.now(UTC) - timedelta(hours=30)).isoformat()}),
        "CaseClosed": lambda: (planned, SUP1, {"reason": "needs_met"}),
        "CaseReopened": lambda: (planned, CW1, {"next_due": (datetime.now(UTC) + timedelta(days=3)).isoformat()}),
        "CaseReassigned": lambda: (planned, SUP1, {"previous": "cw1", "assigned_to": "cw2"}),
        "CaseErased": lambda: (planned, SUP1, {"case_id": str(planned)}),
        "ApprovalRequested": lambda: (Approval.id_for(unconsented, "case_plan", aggregate_version), CW1, {
            "case_id": str(unconsented), "case_number": targets.unconsented["case_number"], "type": "case_plan",
            "submission": aggregate_version, "requested_by": "cw1"}),
        "CasePlanApproved": lambda: decision(targets.planned, "case_plan", targets.plan_submission),
        "CasePlanRejected": lambda: decision(targets.planned, "case_plan", targets.plan_submission),
        "ClosureApproved": lambda: decision(targets.closing, "closure", targets.closure_submission),
        "ClosureRejected": lambda: decision(targets.closing, "closure", targets.closure_submission),
        **{event_type: (lambda status: lambda: (targets.referral, CW1, dict(referral, status=status)))(status)
           for event_type, status in (("ReferralMade", "requested"), ("ReferralAccepted", "accepted"),
                                      ("ReferralDeclined", "declined"), ("ReferralCompleted", "completed"),
                                      ("ReferralWithdrawn", "withdrawn"))},
        "UserRegistered": lambda: (uuid.uuid5(targets.unknown_case, "user"), {"username": "admin", "role": "admin"}, {
            "username": targets.intruder, "role": "admin", "supervisor": None, "provider_id": None,
            "email": "intruder@example.org"}),
        "UserPreferencesChanged": lambda: (uuid.uuid5(targets.unknown_case, "preferences"), CW1, {
            "username": targets.staff, "email_notifications": False}),
        "UserChanged": lambda: (uuid.uuid5(targets.unknown_case, "change"), {"username": "admin", "role": "admin"}, {
            "username": targets.staff, "role": "supervisor", "supervisor": None, "provider_id": None,
            "email": "intruder@example.org", "changed": ["role", "supervisor", "email"]}),
        **{event_type: (lambda name: lambda: (uuid.uuid5(targets.unknown_case, name),
                                              {"username": "admin", "role": "admin"}, {"username": targets.staff}))(
            event_type) for event_type in ("UserDeactivated", "UserReactivated")},
    }
    aggregate_id, actor, payload = events[event_type]()
    return make_envelope(source=OWNERS[event_type], event_type=event_type, aggregate_id=aggregate_id,
                         aggregate_version=aggregate_version, occurred_at=datetime.now(UTC), by=actor,
                         payload=payload)


def forge(envelope: dict, variant: str) -> tuple[bytes, dict]:
    """The message a forger puts on the bus: its bytes and headers."""
    owner = envelope["source"]
    other = "cases" if owner != "cases" else "approvals"  # a service with every reason to want it
    if variant == "published under another service's name":
        envelope = dict(envelope, source=other)
    body = json.dumps(envelope).encode()
    if variant == "unsigned":
        return body, {}
    signature = signed_by(owner if variant == "altered after its owner signed it" else other)(body)
    if variant == "altered after its owner signed it":
        body = json.dumps(dict(envelope, actor={"username": "intruder", "role": "admin"})).encode()
    return body, {SIGNATURE_HEADER: signature}


def publish_forged(env, envelope: dict, variant: str) -> None:
    """A forgery on the events exchange, put there as any process that reaches the broker would."""
    body, headers = forge(envelope, variant)
    with Connection(env["AMQP_URI"]) as conn:
        Producer(conn).publish(body, exchange=EXCHANGE, routing_key=envelope["event_type"], headers=headers,
                               content_type="application/json", content_encoding="utf-8")


def post(api, path, body=None, status=201) -> dict:
    response = api.post(path, body)
    assert response.status_code == status, response.text
    return response.json()


def submitted_plan(cw1) -> tuple[dict, int]:
    case = post(cw1, "/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "medium"})
    post(cw1, f"/v1/cases/{case['id']}/consent", CONSENT)
    post(cw1, f"/v1/cases/{case['id']}/assessment", {"needs": ["medical"], "safety_concerns": "x"}, 200)
    assert cw1.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200
    return case, post(cw1, f"/v1/cases/{case['id']}/plan/submit", status=202)["version"]


def closure_requested(cw1, sup1) -> tuple[dict, int]:
    case, submission = submitted_plan(cw1)
    decide(sup1, case, "case_plan", submission)
    wait_until(lambda: cw1.get(f"/v1/cases/{case['id']}").json()["stage"] == "implementation",
               what="the plan approved")
    return case, post(cw1, f"/v1/cases/{case['id']}/closure", {"reason": "needs_met", "notes": "done"}, 202)["version"]


def settled(env) -> bool:
    """Everything published so far is handled: every consumer queue empty (its count includes messages
    being handled, and retries waiting), every follower (relays, read models) past its store's last event."""
    if any(count for queue, count in queue_depths(env["VHOST"]).items() if queue.startswith("casetrail.")):
        return False
    with database(env) as conn:
        return not any(conn.execute(f"SELECT 1 FROM {schema}.positions WHERE position <"
                                    f" (SELECT coalesce(max(notification_id), 0) FROM {schema}.{schema}_events)"
                                    ).fetchone() for schema in SCHEMAS)


@pytest.fixture(scope="module")
def targets(people, pathway, test_env) -> Targets:
    cw1, sup1, admin = people["cw1"], people["sup1"], people["admin"]
    planned, plan_submission = submitted_plan(cw1)
    closing, closure_submission = closure_requested(cw1, sup1)
    unconsented = post(cw1, "/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"})
    staff = f"staff-{uuid.uuid4().hex[:6]}"
    post(admin, "/v1/users", {"username": staff, "password": PASSWORD, "role": "caseworker", "display_name": "S",
                              "supervisor": "sup1", "email": f"{staff}@example.org"})
    wait_until(lambda: settled(test_env), timeout=60, what="the setup handled everywhere")
    return Targets(planned, plan_submission, closing, closure_submission, unconsented, uuid.uuid4(), uuid.uuid4(),
                   pathway["clinic"]["id"], f"intruder-{uuid.uuid4().hex[:6]}", staff)


# Tables that a timer works through whatever the test does (deliveries retried); what they deliver is
# made together with an inbox row and a notification, which are compared.
OUTBOUND = ["deliveries", "delivery_attempts", "email_deliveries"]


def held_about(env, targets: Targets) -> dict:
    """What every service's store holds about the targets: the rows of each table with a case_id, the
    events of their streams, and the people."""
    held = {}
    with database(env) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.columns WHERE"
                              " column_name = 'case_id' AND table_schema = ANY(%s) AND NOT table_name = ANY(%s)",
                              (list(SCHEMAS), OUTBOUND)).fetchall()
        for schema, table in tables:
            held[f"{schema}.{table}"] = sorted(map(repr, conn.execute(
                f'SELECT * FROM "{schema}"."{table}" WHERE case_id = ANY(%s)', (targets.case_ids,)).fetchall()))
        for schema in SCHEMAS:
            held[f"{schema} events"] = sorted(conn.execute(
                f"SELECT originator_id, originator_version FROM {schema}.{schema}_events"
                " WHERE originator_id = ANY(%s)", (targets.streams,)).fetchall())
        held["people"] = conn.execute("SELECT * FROM notifications.people WHERE username = ANY(%s) ORDER BY 1",
                                      ([targets.intruder, targets.staff, "cw1"],)).fetchall()
    assert held["cases.case_index"] and held["notifications.case_directory"] and held["people"]  # a real view
    return held


def rows_about(env, table: str, event_ids: list[str]) -> list[tuple]:
    """(schema, ...) rows of every service's `table` (inbox or quarantine) about these events."""
    columns = {"inbox": "consumer, event_id::text", "quarantine": "follower, event_id::text, error"}[table]
    with database(env) as conn:
        return [(schema, *row) for schema in SCHEMAS for row in conn.execute(
            f"SELECT {columns} FROM {schema}.{table} WHERE event_id = ANY(%s::uuid[])", (event_ids,)).fetchall()]


def refused_counts(system, event_type: str) -> dict:
    return {(service, handler, reason): counter(system[service], "casetrail_events_refused_total", service=service,
                                                consumer=handler, reason=reason)
            for service, handler in consumers_of(event_type) for reason in set(FORGERIES.values())}


def test_every_event_type_a_service_consumes_is_forged_here():
    """A type a service starts to consume is forged below or this fails; the rest change nothing anywhere."""
    assert set(CONSUMED) == set(OWNERS) - {"AssessmentRecorded", "RiskLevelChanged", "CasePlanDrafted",
                                           "CaseConferenceHeld"}
    assert all(consumers_of(event_type) for event_type in CONSUMED)


@pytest.mark.parametrize("event_type", CONSUMED)
def test_a_forged_event_is_refused_counted_and_changes_nothing(event_type, targets, system, test_env):
    wait_until(lambda: settled(test_env), timeout=60, what="everything before handled")
    before, counted = held_about(test_env, targets), refused_counts(system, event_type)
    forged = {variant: envelope_of(event_type, targets, version(event_type, variant)) for variant in FORGERIES}
    for variant, envelope in forged.items():
        publish_forged(test_env, envelope, variant)

    ids = [envelope["event_id"] for envelope in forged.values()]
    consumers = consumers_of(event_type)
    set_aside = wait_until(lambda: (rows := rows_about(test_env, "quarantine", ids)) and
                           len(rows) == len(ids) * len(consumers) and rows,
                           what=f"every consumer of {event_type} to set the forgeries aside")
    expected = {(service, f"casetrail.{service}.{handler}", envelope["event_id"], f"refused: {FORGERIES[variant]}")
                for variant, envelope in forged.items() for service, handler in consumers}
    assert set(set_aside) == expected
    assert rows_about(test_env, "inbox", ids) == []  # handled by no one
    assert refused_counts(system, event_type) == {
        (service, handler, reason): count + sum(reason == r for r in FORGERIES.values())
        for (service, handler, reason), count in counted.items()}
    wait_until(lambda: settled(test_env), timeout=60, what="everything handled")
    assert held_about(test_env, targets) == before


def believed_by_all(env, event_type: str, event_id: str) -> bool:
    handled = rows_about(env, "inbox", [event_id])
    return sorted(schema for schema, *_ in handled) == sorted(service for service, _ in consumers_of(event_type))


def one(env, query: str, *params):
    with database(env) as conn:
        return conn.execute(query, params).fetchone()


# What the gravest of them do once believed (each forgery of them above did none of it).
EFFECTS = {
    "CasePlanApproved": lambda env, t: one(env, "SELECT stage FROM cases.case_index WHERE case_id = %s",
                                           t.planned["id"]) == ("implementation",),
    "ClosureApproved": lambda env, t: one(env, "SELECT stage FROM cases.case_index WHERE case_id = %s",
                                          t.closing["id"]) == ("closed",),
    "ConsentRecorded": lambda env, t: one(env, "SELECT services, share_with_providers FROM referrals.consent"
                                               " WHERE case_id = %s", t.unconsented["id"]) == (True, True),
    "UserRegistered": lambda env, t: one(env, "SELECT role FROM notifications.people WHERE username = %s",
                                         t.intruder) == ("admin",),
    "UserChanged": lambda env, t: one(env, "SELECT role, email FROM notifications.people WHERE username = %s",
                                      t.staff) == ("supervisor", "intruder@example.org"),
}


@pytest.mark.parametrize("event_type", CONSUMED)
def test_the_same_event_signed_by_its_owner_is_believed(event_type, targets, test_env):
    """The control: what was refused above, but from a test client holding the owner's credentials."""
    genuine = envelope_of(event_type, targets, version(event_type))
    publish_as_owner(event_publisher(test_env["AMQP_URI"]), genuine)
    wait_until(lambda: believed_by_all(test_env, event_type, genuine["event_id"]),
               what=f"every consumer of {event_type} to handle it")
    assert rows_about(test_env, "quarantine", [genuine["event_id"]]) == []
    if event_type in EFFECTS:
        wait_until(lambda: EFFECTS[event_type](test_env, targets), what=f"what {event_type} does")


def test_a_refused_forgery_holds_back_no_genuine_event_of_its_case(targets, test_env):
    """Events of a case wait behind an earlier one of it that failed; a forgery naming the case is not one."""
    forged = envelope_of("FollowUpRecorded", targets, 9001)
    publish_forged(test_env, forged, "unsigned")
    wait_until(lambda: rows_about(test_env, "quarantine", [forged["event_id"]]), what="the forgery set aside")
    genuine = envelope_of("FollowUpRecorded", targets, 9002)
    publish_as_owner(event_publisher(test_env["AMQP_URI"]), genuine)
    wait_until(lambda: believed_by_all(test_env, "FollowUpRecorded", genuine["event_id"]) or
               rows_about(test_env, "quarantine", [genuine["event_id"]]), what="the genuine event handled or held")
    assert rows_about(test_env, "quarantine", [genuine["event_id"]]) == []


def test_an_operator_retrying_a_refused_forgery_gets_it_refused_again(people, test_env):
    """Checked on every delivery: a release from quarantine (casetrail-quarantine retry, which sends the
    kept signature along) is refused as the first arrival was, and the plan still awaits its decision."""
    cw1 = people["cw1"]
    case, submission = submitted_plan(cw1)
    approval = make_envelope(
        source="approvals", event_type="CasePlanApproved", occurred_at=datetime.now(UTC), by=SUP1,
        aggregate_id=Approval.id_for(uuid.UUID(case["id"]), "case_plan", submission), aggregate_version=1,
        payload={"case_id": case["id"], "submission": submission, "decided_by": "sup1", "requested_by": "cw1",
                 "type": "case_plan", "case_number": case["case_number"]})
    publish_forged(test_env, approval, "altered after its owner signed it")
    queue = "casetrail.cases.approval_decided"
    [entry_id] = wait_until(lambda: one(test_env, "SELECT id FROM cases.quarantine WHERE follower = %s AND"
                                                  " event_id = %s", queue, approval["event_id"]),
                            what="the forgery set aside")

    assert quarantine_cli.main(["retry", "cases", str(entry_id), "--wait", "20"]) == 1  # failed again
    assert one(test_env, "SELECT status, attempts, error FROM cases.quarantine WHERE id = %s", entry_id) == (
        "quarantined", 1, "refused: bad signature")
    assert rows_about(test_env, "inbox", [approval["event_id"]]) == []
    assert cw1.get(f"/v1/cases/{case['id']}").json()["plan"]["status"] == "submitted"
