"""The transactional outbox against real PostgreSQL and RabbitMQ."""
import json
import uuid

import pytest
from kombu import Connection, Queue

from services.cases.views import public_event
from shared.bus import EXCHANGE, event_publisher
from shared.caller import Caller
from shared.envelope import EnvelopeSchema
from shared.outbox import Relay
from shared.quarantine import is_outage
from tests.support import Infrastructure, wait_until

CASEWORKER = Caller.of({"username": "cw1", "role": "caseworker", "team": [], "correlation_id": "req-1"})
SURVIVOR = {"name": "Zawadi Unique-Name", "phone": "+254700111222", "location": "Kakuma block 4"}


def new_case(store, risk="high"):
    return store.register_case(CASEWORKER, {"survivor": SURVIVOR, "risk_level": risk, "is_child": False,
                                            "caregiver": None, "intake_notes": "private notes"})


@pytest.fixture
def relay(store, private_bus):
    return Relay(store, public_event, event_publisher(private_bus["AMQP_URI"]))


def observer(amqp_uri: str):
    """Every message on the events exchange, in a durable queue that outlives a broker stop.
    Returns (received, delete)."""
    queue = Queue(f"test-observer-{uuid.uuid4().hex[:8]}", exchange=EXCHANGE, routing_key="#", durable=True)
    with Connection(amqp_uri) as conn:
        queue(conn.channel()).declare()

    def received(expected: int) -> list[dict]:
        messages = []
        with Connection(amqp_uri) as conn:
            bound = queue(conn.channel())

            def drain():
                while (message := bound.get(no_ack=True)) is not None:
                    messages.append(message.body)
                return len(messages) >= expected
            wait_until(drain, timeout=10, what=f"{expected} messages")
            bound.get(no_ack=True) and messages.append("unexpected extra message")
        return [json.loads(body) if isinstance(body, (bytes, str)) else body for body in messages]

    def delete() -> None:
        with Connection(amqp_uri) as conn:
            queue(conn.channel()).delete()
    return received, delete


@pytest.fixture
def bus(private_bus):
    received, delete = observer(private_bus["AMQP_URI"])
    yield received
    delete()


@pytest.fixture(scope="module")
def own_broker(infrastructure, tmp_path_factory):
    """A RabbitMQ of this module's own (scripts/stack.sh on other ports and another data folder):
    stopping it takes down neither the broker `make up` started nor the other tests' one."""
    broker = Infrastructure(tmp_path_factory.mktemp("outbox-broker") / "run")
    broker("rabbitmq-start")
    try:
        yield broker
    finally:
        broker("rabbitmq-stop")


def test_relay_publishes_public_events_in_order_once_without_survivor_data(store, relay, bus):
    cases = [new_case(store) for _ in range(3)]

    assert relay.step() == 3
    assert relay.step() == 0

    envelopes = bus(3)
    assert [e["aggregate_id"] for e in envelopes] == [str(c.id) for c in cases]
    for envelope, case in zip(envelopes, cases):
        EnvelopeSchema().load(envelope)
        assert envelope["event_type"] == "CaseRegistered"
        assert envelope["actor"] == {"username": "cw1", "role": "caseworker"}
        assert envelope["correlation_id"] == "req-1"
        assert envelope["payload"]["case_number"] == case.case_number
        text = json.dumps(envelope)
        for secret in (*SURVIVOR.values(), "private notes"):
            assert secret not in text
    assert store.position("outbox") == store.max_notification_id()


def test_event_committed_while_broker_is_down_is_published_when_it_returns(store, own_broker):
    relay = Relay(store, public_event, event_publisher(own_broker.amqp_uri))
    received, delete = observer(own_broker.amqp_uri)
    own_broker("rabbitmqctl", "stop_app")
    try:
        case = new_case(store)  # the command commits: it needs no broker
        with pytest.raises(Exception) as failed:
            relay.step()
        assert is_outage(failed.value), repr(failed.value)  # waited out, never counted against the event
        assert store.position("outbox") == 0
    finally:
        own_broker("rabbitmqctl", "start_app")
        own_broker("rabbitmqctl", "await_startup")

    wait_until(lambda: _step_through_outage(relay), timeout=30, what="the relay to publish again")
    [envelope] = received(1)
    assert envelope["aggregate_id"] == str(case.id)
    delete()


def _step_through_outage(relay) -> int:
    try:
        return relay.step()
    except Exception as exc:
        if not is_outage(exc):
            raise
        return 0


def test_relay_that_crashed_mid_batch_resumes_from_its_position(store, relay, bus, private_bus):
    cases = [new_case(store) for _ in range(3)]
    published = []

    def crashes_on_third(event):
        if len(published) == 2:
            raise RuntimeError("crash")
        published.append(event)
        return public_event(event)

    with pytest.raises(RuntimeError):
        Relay(store, crashes_on_third, relay.publisher).step()
    assert store.position("outbox") == 2

    restarted = Relay(store, public_event, event_publisher(private_bus["AMQP_URI"]))
    assert restarted.step() == 1
    assert [e["aggregate_id"] for e in bus(3)] == [str(c.id) for c in cases]


def test_a_lost_position_save_republishes_with_the_same_event_ids(store, relay, bus):
    new_case(store)
    new_case(store)
    relay.step()
    first = bus(2)
    with store.transaction() as curs:  # as if the process died before saving its position
        curs.execute(store.sql("UPDATE {schema}.positions SET position = 0 WHERE follower = 'outbox'"))

    assert relay.step() == 2
    assert [e["event_id"] for e in bus(2)] == [e["event_id"] for e in first]


def test_only_one_instance_relays_at_a_time(store, relay, bus):
    new_case(store)
    with store.transaction() as curs:
        assert store.lock_position(curs, "outbox") == 0  # another instance holds the position
        assert relay.step() == 0
    assert relay.step() == 1
