"""Idempotent consumption, retries and quarantine, on a real broker and database."""
import json
import os
import uuid
from datetime import UTC, datetime

import pytest
from kombu import Connection
from nameko.amqp.publish import get_producer
from nameko.containers import ServiceContainer
from prometheus_client import REGISTRY

from services.notifications.service import NotificationsService
from shared.bus import EXCHANGE, event_publisher
from shared.envelope import make_envelope
from shared.quarantine import Quarantine
from tests.support import free_port, publish_as_owner, queue_depths, rabbitmqctl, signed_as_owner, wait_until

QUEUE = "casetrail.notifications.case_directory"


def registered(case_id=None, case_number="GBV-2026-000042", version=1):
    return make_envelope(source="cases", event_type="CaseRegistered", aggregate_id=case_id or uuid.uuid4(),
                         aggregate_version=version, occurred_at=datetime.now(UTC),
                         by={"username": "cw1", "role": "caseworker", "correlation_id": "c-1"},
                         payload={"case_number": case_number, "risk_level": "high", "is_child": False,
                                  "assigned_to": "cw1", "stage": "engagement"})


@pytest.fixture
def notifications(test_env, monkeypatch, private_bus):
    yield from _notifications(monkeypatch, private_bus)


@pytest.fixture
def quorum_bus(test_env, identities):
    """A vhost of its own (the harness's alone): a queue keeps the type it was first declared with."""
    bus = identities.add_vhost(f"{test_env['VHOST']}-quorum-{uuid.uuid4().hex[:6]}", services=False)
    yield bus
    rabbitmqctl("delete_vhost", bus["VHOST"])


@pytest.fixture
def on_quorum_queues(test_env, monkeypatch, quorum_bus):
    monkeypatch.setenv("QUEUE_TYPE", "quorum")
    yield from _notifications(monkeypatch, quorum_bus)


def _notifications(monkeypatch, bus):
    monkeypatch.setenv("NOTIFICATIONS_POSTGRES_SCHEMA", f"notifications_{uuid.uuid4().hex[:8]}")
    container = ServiceContainer(NotificationsService, {
        "AMQP_URI": bus["AMQP_URI"], "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "serializer": "json"})
    container.start()
    yield _store_of(container)
    container.stop()
    with Connection(bus["AMQP_URI"]) as conn:
        for name in (QUEUE, f"{QUEUE}.delay"):
            conn.default_channel.queue_purge(name)


def _store_of(container):
    return next(d for d in container.dependencies if d.attr_name == "store").store


def _count(store, table: str) -> int:
    with store.transaction() as curs:
        curs.execute(store.sql(f"SELECT count(*) AS n FROM {{schema}}.{table}"))
        return curs.fetchone()["n"]


def _settled(vhost: str) -> bool:
    depths = queue_depths(vhost)
    return depths.get(QUEUE, 0) == 0 and depths.get(f"{QUEUE}.delay", 0) == 0


def _outcomes(outcome: str) -> float:
    return REGISTRY.get_sample_value("casetrail_events_consumed_total", {
        "service": "notifications", "consumer": "case_directory", "event_type": "CaseRegistered",
        "outcome": outcome}) or 0.0


def test_a_redelivered_event_has_one_effect(notifications, private_bus):
    envelope = registered()
    duplicates_before = _outcomes("duplicate")
    publisher = event_publisher(private_bus["AMQP_URI"])
    publish_as_owner(publisher, envelope)
    publish_as_owner(publisher, envelope)

    wait_until(lambda: _outcomes("duplicate") == duplicates_before + 1 and _settled(private_bus["VHOST"]),
               what="both deliveries handled")
    assert _count(notifications, "inbox") == 1
    assert _count(notifications, "case_directory") == 1
    assert _set_aside(notifications) == []


def test_a_failing_handler_is_retried_then_set_aside_never_dropped(notifications, private_bus):
    retried_then_set_aside(notifications, private_bus)


def test_on_quorum_queues_retries_and_quarantine_work_the_same(on_quorum_queues, quorum_bus):
    listed = rabbitmqctl("list_queues", "-p", quorum_bus["VHOST"], "name", "type", "--no-table-headers", "-q")
    types = dict(line.split() for line in listed.splitlines() if line.startswith(QUEUE))
    assert types == {QUEUE: "quorum", f"{QUEUE}.delay": "quorum"}
    retried_then_set_aside(on_quorum_queues, quorum_bus)


def retried_then_set_aside(notifications, bus):
    case_id = uuid.uuid4()
    publisher = event_publisher(bus["AMQP_URI"])
    publish_as_owner(publisher, registered(case_id))
    wait_until(lambda: _count(notifications, "case_directory") == 1, what="the first event")

    # Another event for the same case id: the directory insert fails every time.
    clash = registered(case_id, version=2)
    publish_as_owner(publisher, clash)

    [entry] = wait_until(lambda: _set_aside(notifications), timeout=30, what="the event set aside")
    assert json.loads(entry.body)["event_id"] == clash["event_id"]
    assert (entry.status, entry.attempts) == ("quarantined", int(os.environ["CONSUMER_MAX_ATTEMPTS"]))
    assert entry.error.startswith("IntegrityError: duplicate key value") and str(case_id) not in entry.error
    # Set aside (committed), then acked: the queues empty a moment after the entry shows.
    wait_until(lambda: _settled(bus["VHOST"]), timeout=10, what="the queues to empty")
    assert _count(notifications, "case_directory") == 1
    assert _count(notifications, "inbox") == 1  # the failed attempts recorded nothing


def test_a_malformed_envelope_is_set_aside_at_once(notifications, private_bus):
    malformed = {"event_type": "CaseRegistered", "source": "cases", "payload": {"name": "x"}}
    with get_producer(private_bus["AMQP_URI"]) as producer:  # signed: the handler's validation is tested
        producer.publish(**signed_as_owner(malformed), exchange=EXCHANGE, routing_key="CaseRegistered",
                         declare=[EXCHANGE])

    [entry] = wait_until(lambda: _set_aside(notifications), timeout=30, what="the event set aside")
    assert (entry.attempts, entry.aggregate_id) == (1, None)
    assert entry.error.startswith("ValidationError")
    assert _count(notifications, "inbox") == 0


def _set_aside(store) -> list:
    with store.transaction() as curs:
        return Quarantine.of(store).entries(curs)
