"""RabbitMQ topology: one durable topic exchange for events, whose routing key is the event type;
another through which a consumer puts a message back into one of its own queues (a retry, a
quarantined event handed back), the routing key naming the queue.

Both are the administrator's (scripts/stack.sh declares them, with nameko's RPC exchange): services
only look them up, so a service's broker user needs no right to configure them and cannot delete
them. Where a deployment gives its services every right, the first one to start declares them."""
import json
from collections.abc import Callable

import amqp.exceptions
from kombu import Connection, Exchange
from nameko.amqp.publish import Publisher

EXCHANGE = Exchange("casetrail.events", type="topic", durable=True, passive=True)
REQUEUE = Exchange("casetrail.requeue", type="topic", durable=True, passive=True)


def ensure_exchanges(amqp_uri: str) -> None:
    with Connection(amqp_uri, connect_timeout=5) as conn:
        for exchange in (EXCHANGE, REQUEUE):
            try:
                exchange(conn.channel()).declare()
            except amqp.exceptions.NotFound:
                Exchange(exchange.name, type=exchange.type, durable=True)(conn.channel()).declare()


def event_publisher(amqp_uri: str) -> Publisher:
    """Persistent messages, publisher confirms: publish() returns only once the broker has the message."""
    if not amqp_uri:
        raise RuntimeError("environment variable AMQP_URI is required (the service's own RabbitMQ login)")
    return Publisher(amqp_uri, exchange=EXCHANGE, declare=[EXCHANGE], use_confirms=True,
                     retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2,
                                               "interval_step": 0.5, "interval_max": 1})


SIGNATURE_HEADER = "x-casetrail-signature"  # the source service's Ed25519 signature over the body


def publish_event(publisher: Publisher, envelope: dict, sign: Callable[[bytes], str]) -> None:
    """The envelope as JSON bytes, with the publishing service's signature over exactly those bytes."""
    body = json.dumps(envelope).encode()
    publisher.publish(body, routing_key=envelope["event_type"], message_id=envelope["event_id"],
                      content_type="application/json", content_encoding="utf-8",
                      headers={SIGNATURE_HEADER: sign(body)})
