"""RabbitMQ topology: one durable topic exchange; the routing key is the event type."""
from kombu import Exchange
from nameko.amqp.publish import Publisher

EXCHANGE = Exchange("casetrail.events", type="topic", durable=True)


def event_publisher(amqp_uri: str) -> Publisher:
    """Persistent messages, publisher confirms: publish() returns only once the broker has the message."""
    return Publisher(amqp_uri, exchange=EXCHANGE, declare=[EXCHANGE], use_confirms=True,
                     retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2,
                                               "interval_step": 0.5, "interval_max": 1})


def publish_event(publisher: Publisher, envelope: dict) -> None:
    publisher.publish(envelope, routing_key=envelope["event_type"], message_id=envelope["event_id"],
                      serializer="json")
