"""RabbitMQ topology: one durable topic exchange; the routing key is the event type."""
import json
from collections.abc import Callable

from kombu import Exchange
from nameko.amqp.publish import Publisher

EXCHANGE = Exchange("casetrail.events", type="topic", durable=True)


def event_publisher(amqp_uri: str) -> Publisher:
    """Persistent messages, publisher confirms: publish() returns only once the broker has the message."""
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
