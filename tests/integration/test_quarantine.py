"""Poison isolation on the real database and broker: in the outbox relay, a projection and a bus
consumer, an event that keeps failing is set aside whole, later events of its aggregate wait
behind it, other aggregates go on, and an operator's retry applies each exactly once, in order."""
import inspect
import json
import os
import uuid

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from nameko.amqp.publish import get_producer
from nameko.containers import ServiceContainer
from prometheus_client import REGISTRY

from services.approvals.service import ApprovalsService
from services.cases.service import CasesService
from services.cases.views import public_event
from services.gateway.service import GatewayService
from services.notifications.application import Notifications
from services.notifications.service import NotificationsService
from services.referrals.application import Referrals
from services.referrals.queries import Directory
from services.referrals.service import ReferralsService
from shared import quarantine_cli
from shared.bus import event_publisher
from shared.caller import Caller
from shared.consumer import EventConsumer
from shared.envelope import OWNERS
from shared.outbox import EventSourced, Projection, Projector, Relay
from shared.quarantine import Quarantine, Status, is_outage
from shared.settings import Settings, declared_settings_class
from tests.integration.test_consumer import registered
from tests.integration.test_outbox import bus  # noqa: F401  (a fixture)
from tests.integration.test_outbox import new_case as registered_case
from tests.support import free_port, publish_as_owner, signed_as_owner, wait_until

ADMIN = Caller.of({"username": "admin", "role": "admin", "team": [], "correlation_id": "req-q"})


class Applied(Projection):
    """A read model that fails, every time, on the events of the aggregates in `poisoned`."""

    name = "applied"

    def __init__(self, poisoned: set):
        self.poisoned = poisoned

    def apply(self, store, curs, event) -> None:
        if event.originator_id in self.poisoned:
            raise ValueError("cannot apply this event")
        curs.execute("SET LOCAL lock_timeout = '1s'")
        # UNIQUE: applying an event twice would fail loudly.
        curs.execute(store.sql("CREATE TABLE IF NOT EXISTS {schema}.applied (n serial, aggregate uuid,"
                               " version int, UNIQUE (aggregate, version))"))
        curs.execute(store.sql("INSERT INTO {schema}.applied (aggregate, version) VALUES (%s, %s)"),
                     (event.originator_id, event.originator_version))


def applied(store) -> list[tuple]:
    """The case events applied, in order (consent streams left out)."""
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT aggregate, version FROM {schema}.applied ORDER BY n"))
        return [(row["aggregate"], row["version"]) for row in curs.fetchall() if row["aggregate"] in CASES]


def assess(store, case) -> None:
    """A second event of the case (its consent first: an event of another stream)."""
    store.record_consent(CASEWORKER, case.id, CONSENT, OPTIONS)
    store.assess(CASEWORKER, case.id, ASSESSMENT, OPTIONS)


def new_case(store):
    case = registered_case(store)
    CASES.add(case.id)
    return case


def entries(store, follower: str) -> list:
    with store.transaction() as curs:
        return [e for e in Quarantine.of(store).entries(curs, include_resolved=True) if e.follower == follower]


def step_until(follower, predicate, what: str):
    def stepped():
        try:
            follower.step()
        except Exception:
            pass  # an attempt that failed: the loop backs off, here we just step again
        return predicate()
    return wait_until(stepped, timeout=30, what=what)


def retry(service: str, *ids: int) -> int:
    return quarantine_cli.main(["retry", service, *map(str, ids), "--wait", "20"])


def test_a_projection_sets_a_poison_event_aside_and_goes_on(store):
    poisoned_case, other_case = new_case(store), new_case(store)
    poisoned = {poisoned_case.id}
    projector = Projector(store, Applied(poisoned), max_attempts=3)

    for _attempt in range(2):  # the first attempts fail and stop the projection: it may be an outage
        with pytest.raises(ValueError):
            projector.step()
        assert entries(store, "applied") == []
    projector.step()  # the third sets it aside, and the projection goes on
    [entry] = entries(store, "applied")
    assert (entry.status, entry.attempts, entry.aggregate_id) == (Status.QUARANTINED, 3, poisoned_case.id)
    assert entry.error == "ValueError: cannot apply this event"
    assert applied(store) == [(other_case.id, 1)]

    # Later events of the poisoned case wait behind it; another case's are not held up.
    assess(store, poisoned_case)
    third_case = new_case(store)
    projector.step()
    held = [e for e in entries(store, "applied") if e.status == Status.HELD]
    assert [(e.aggregate_id, e.originator_version, e.blocked_by) for e in held] == [(poisoned_case.id, 2, entry.id)]
    assert applied(store)[-1] == (third_case.id, 1)

    poisoned.clear()  # the fix
    with store.transaction() as curs:
        Quarantine.of(store).retry(curs, entry.id)
    projector.step()
    assert {e.status for e in entries(store, "applied")} == {Status.RESOLVED}
    assert applied(store)[-2:] == [(poisoned_case.id, 1), (poisoned_case.id, 2)]
    projector.step()
    assert len(applied(store)) == 4  # exactly once


def test_a_retry_that_fails_again_goes_back_to_quarantine_with_what_it_held(store):
    case = new_case(store)
    projector = Projector(store, Applied({case.id}), max_attempts=1)
    projector.step()
    assess(store, case)
    projector.step()
    first, second = entries(store, "applied")
    with store.transaction() as curs:
        Quarantine.of(store).retry(curs, first.id)
    projector.step()
    again, still_held = entries(store, "applied")
    assert (again.status, again.attempts) == (Status.QUARANTINED, 2)
    assert (still_held.status, still_held.blocked_by) == (Status.HELD, first.id)


def test_a_database_outage_is_waited_out_never_quarantined(store):
    new_case(store)
    projector = Projector(store, Applied(set()), max_attempts=1)
    projector.step()
    case = new_case(store)
    with store.transaction() as curs:  # the read model locked past the lock timeout: not the event's fault
        curs.execute(store.sql("LOCK TABLE {schema}.applied IN ACCESS EXCLUSIVE MODE"))
        with pytest.raises(Exception) as failure:
            projector.step()
        assert is_outage(failure.value)
    assert entries(store, "applied") == []
    projector.step()
    assert applied(store)[-1] == (case.id, 1)


def test_the_directory_quarantines_a_name_the_database_cannot_hold(test_env, monkeypatch):
    """Defence in depth: were a NUL to get past the edge, the read model strips nothing silently."""
    monkeypatch.setenv("REFERRALS_POSTGRES_SCHEMA", f"referrals_{uuid.uuid4().hex[:8]}")
    store = Referrals(Settings.for_service("referrals"))
    try:
        bad = store.register_provider(ADMIN, {"name": "x\x00", "service_types": ["medical"], "area": "Kakuma",
                                              "contact": "c"})
        good = store.register_provider(ADMIN, {"name": "Hope Clinic", "service_types": ["medical"],
                                               "area": "Kakuma", "contact": "c"})
        projector = Projector(store, Directory(), max_attempts=2)
        step_until(projector, lambda: store.queries.providers(None, None, None, 200), "the next provider to be listed")
        assert [p["provider_id"] for p in store.queries.providers(None, None, None, 200)] == [good.id]
        [entry] = entries(store, "directory")
        assert (entry.aggregate_id, entry.status) == (bad.id, Status.QUARANTINED)
        assert "NUL" in entry.error
    finally:
        store.close()


def test_the_relay_sets_aside_what_it_cannot_publish_and_publishes_the_rest(store, bus, private_bus):
    poisoned_case, other_case = new_case(store), new_case(store)
    poisoned = {poisoned_case.id}

    def publication(event):
        if event.originator_id in poisoned:
            raise ValueError("cannot publish this event")
        return public_event(event)

    relay = Relay(store, publication, event_publisher(private_bus["AMQP_URI"]), max_attempts=2)
    step_until(relay, lambda: entries(store, "outbox"), "the poison event to be set aside")
    assess(store, poisoned_case)
    relay.step()
    published = [e["aggregate_id"] for e in bus(2)]  # the other case, and the poisoned case's consent stream
    assert str(other_case.id) in published and str(poisoned_case.id) not in published
    assert [e.status for e in entries(store, "outbox")] == [Status.QUARANTINED, Status.HELD]

    poisoned.clear()
    [entry, _] = entries(store, "outbox")
    with store.transaction() as curs:
        Quarantine.of(store).retry(curs, entry.id)
    relay.step()
    published = bus(2)  # and no third: bus() fails on an extra message
    assert [(e["aggregate_id"], e["aggregate_version"]) for e in published] == [
        (str(poisoned_case.id), 1), (str(poisoned_case.id), 2)]


@pytest.fixture
def consumer(test_env, monkeypatch, private_bus):
    """The notifications service in-process, its directory consumer failing on `poisoned` cases."""
    monkeypatch.setenv("NOTIFICATIONS_POSTGRES_SCHEMA", f"notifications_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("AMQP_URI", private_bus["AMQP_URI"])
    poisoned, handled = set(), []

    def case_registered(self, envelope):
        if envelope["aggregate_id"] in poisoned:
            raise ValueError("cannot handle this event")
        return self.process_once("test", envelope["event_id"], lambda curs: handled.append(
            (envelope["aggregate_id"], envelope["aggregate_version"])))

    monkeypatch.setattr(Notifications, "case_registered", case_registered)
    container = ServiceContainer(NotificationsService, {
        "AMQP_URI": private_bus["AMQP_URI"], "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "serializer": "json"})
    container.start()
    store = next(d for d in container.dependencies if d.attr_name == "store").store
    yield store, poisoned, handled
    container.stop()


QUEUE = "casetrail.notifications.case_directory"


def test_a_consumer_sets_a_poison_event_aside_and_a_retry_applies_it_once(consumer, private_bus, capsys):
    store, poisoned, handled = consumer
    publisher = event_publisher(private_bus["AMQP_URI"])
    bad, good = uuid.uuid4(), uuid.uuid4()
    poisoned.add(bad)
    quarantined = _counted("quarantined")

    publish_as_owner(publisher, registered(bad, version=1))
    [entry] = wait_until(lambda: [e for e in entries(store, QUEUE) if e.status == Status.QUARANTINED],
                         what="the poison event to be set aside")
    assert entry.attempts == int(os.environ["CONSUMER_MAX_ATTEMPTS"])
    assert json.loads(entry.body)["aggregate_id"] == str(bad)  # kept whole
    publish_as_owner(publisher, registered(bad, version=2))
    publish_as_owner(publisher, registered(good))
    wait_until(lambda: (good, 1) in handled and len(entries(store, QUEUE)) == 2, what="the others to go on")
    assert [e.status for e in entries(store, QUEUE)] == [Status.QUARANTINED, Status.HELD]
    assert _counted("quarantined") == quarantined + 1

    assert quarantine_cli.main(["list", "--service", "notifications"]) == 0
    listing = capsys.readouterr().out
    assert f"{entry.id}  quarantined" in listing and "held" in listing and "ValueError" in listing

    poisoned.clear()  # the fix
    assert retry("notifications", entry.id) == 0
    wait_until(lambda: {e.status for e in entries(store, QUEUE)} == {Status.RESOLVED}, what="both resolved")
    assert handled == [(good, 1), (bad, 1), (bad, 2)]
    assert retry("notifications", entry.id) == 2  # nothing left to retry: applied once


def _counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("casetrail_events_quarantined_total", {
        "service": "notifications", "follower": QUEUE, "status": outcome}) or 0.0


CASEWORKER = Caller.of({"username": "cw1", "role": "caseworker", "team": [], "correlation_id": "req-1"})
CASES: set = set()
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
ASSESSMENT = {"needs": ["medical"], "safety_concerns": "none", "risk_level": None, "notes": None}
OPTIONS = {"if_match": None, "idempotency_key": None}


class Probe(Aggregate):
    """An event no follower has business with: it must simply go through."""


SERVICES = {"cases": CasesService, "referrals": ReferralsService, "approvals": ApprovalsService,
            "notifications": NotificationsService, "gateway": GatewayService}


@pytest.mark.parametrize("service", SERVICES)
def test_every_follower_of_every_store_sets_a_poison_event_aside(service, test_env, monkeypatch, private_bus):
    """A stored event no follower can read (its bytes damaged) in each service's log: the relay and
    every projection set it aside, hold the next event of its aggregate, and pass the others."""
    store_of = next(v for _, v in inspect.getmembers(SERVICES[service]) if isinstance(v, EventSourced))
    monkeypatch.setenv(f"{service.upper()}_POSTGRES_SCHEMA", f"{service}_{uuid.uuid4().hex[:8]}")
    store = store_of.store_class(declared_settings_class(SERVICES[service]).from_env())
    try:
        damaged = uuid.uuid4()
        store.recorder.insert_events([StoredEvent(damaged, version, "eventsourcing.domain:Aggregate.Created",
                                                  b"not an event") for version in (1, 2)])
        probe = Probe()
        store.recorder.insert_events([store.mapper.to_stored_event(e) for e in probe.collect_events()])
        followers = [Projector(store, p, max_attempts=2) for p in store_of.projections]
        if store_of.publication is not None:
            followers.append(Relay(store, store_of.publication, event_publisher(private_bus["AMQP_URI"]),
                                   max_attempts=2))
        assert followers
        for follower in followers:
            step_until(follower, lambda: store.position(follower.name) == store.max_notification_id(),
                       f"{service}'s {follower.name} to pass the others")
            assert [(e.aggregate_id, e.status) for e in entries(store, follower.name)] == [
                (damaged, Status.QUARANTINED), (damaged, Status.HELD)]
    finally:
        store.close()


@pytest.mark.parametrize("service", ["cases", "referrals", "approvals", "notifications"])
def test_every_consumer_of_every_service_sets_a_poison_event_aside(service, test_env, monkeypatch, private_bus):
    """Envelopes no handler can read, for each event type each consumer takes: each is set aside, the
    next one of the same aggregate waits behind it, another aggregate's is handled, not held."""
    monkeypatch.setenv(f"{service.upper()}_POSTGRES_SCHEMA", f"{service}_{uuid.uuid4().hex[:8]}")
    container = ServiceContainer(SERVICES[service], {
        "AMQP_URI": private_bus["AMQP_URI"], "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "serializer": "json"})
    container.start()
    try:
        store = next(d for d in container.dependencies if d.attr_name == "store").store
        consumers = [e for e in container.entrypoints if isinstance(e, EventConsumer)]
        assert consumers
        first, other = uuid.uuid4(), uuid.uuid4()
        for consumer in consumers:
            poison(private_bus, consumer, first)
            wait_until(lambda: entries(store, consumer.queue.name), what=f"{consumer.queue.name} to set aside")
            poison(private_bus, consumer, first, other)
            set_aside = wait_until(lambda: len(entries(store, consumer.queue.name)) == 3 and
                                   entries(store, consumer.queue.name), what=f"{consumer.queue.name} to go on")
            # Which of the last two is set aside first is the broker's and the retries' timing, not a rule.
            assert sorted((str(e.aggregate_id), e.status) for e in set_aside) == sorted([
                (str(first), Status.QUARANTINED), (str(first), Status.HELD), (str(other), Status.QUARANTINED)])
            assert set_aside[0].aggregate_id == first and set_aside[0].status == Status.QUARANTINED
    finally:
        container.stop()


def poison(bus, consumer, *aggregates) -> None:
    """Signed by the type's owner: it must reach the handler, whose failure is what is tested."""
    event_type = consumer.event_types[0]
    with get_producer(bus["AMQP_URI"]) as producer:
        for aggregate in aggregates:
            unreadable = {"event_type": event_type, "source": OWNERS[event_type], "aggregate_id": str(aggregate),
                          "payload": {}}
            producer.publish(**signed_as_owner(unreadable), exchange="", routing_key=consumer.queue.name)


def test_forged_retry_headers_neither_loop_nor_bypass(consumer, private_bus):
    """A message claiming to retry an entry, or to have failed a thousand times, with garbage in the
    headers: handled as an ordinary message (held like any other), never requeued for ever."""
    store, poisoned, handled = consumer
    bad, good = uuid.uuid4(), uuid.uuid4()
    poisoned.add(bad)
    publish_as_owner(event_publisher(private_bus["AMQP_URI"]), registered(bad))
    wait_until(lambda: entries(store, QUEUE), what="the poison event set aside")
    with get_producer(private_bus["AMQP_URI"]) as producer:
        for aggregate, forged in ((bad, {"x-casetrail-quarantine": "abc"}),
                                  (good, {"x-casetrail-quarantine": "abc", "x-casetrail-attempts": "x"})):
            message = signed_as_owner(registered(aggregate, version=2))
            producer.publish(**dict(message, headers={**message["headers"], **forged}), exchange="",
                             routing_key=QUEUE)
    wait_until(lambda: (good, 2) in handled and len(entries(store, QUEUE)) == 2, what="both handled")
    assert [e.status for e in entries(store, QUEUE)] == [Status.QUARANTINED, Status.HELD]
