"""Consuming bus events: `@on_event("CaseRegistered", ...)` on a nameko service method.

Each handler gets its own durable queue `casetrail.<service>.<method>` bound to the events
exchange. A handler that raises is retried with growing delays through a `.retry` queue
(messages wait out a TTL there, then dead-letter back); after CONSUMER_MAX_ATTEMPTS it is
moved to `.dead` for an operator. A message is acked only once it is handled or moved:
never silently dropped. An envelope that fails validation goes to `.dead` at once.
Handlers make their effect idempotent (ServiceStore.process_once, or an inbox row saved with the
events) and return whether the event was new to them.
"""
import logging

from kombu import Connection, Queue, binding
from marshmallow import ValidationError
from nameko.amqp.publish import get_connection, get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.messaging import Consumer

from shared.bus import EXCHANGE
from shared.metrics import EVENTS_CONSUMED, StoreGauges, gauge
from shared.rpc import BROKER_DOWN
from shared.settings import env

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-casetrail-attempts"
# "quorum" on a RabbitMQ cluster: replicated queues that survive the loss of a node. A queue keeps
# the type it was declared with; switching an existing installation means draining and redeclaring.
def queue_arguments(**arguments) -> dict:
    queue_type = env("QUEUE_TYPE", "classic")
    if queue_type not in ("classic", "quorum"):
        raise RuntimeError("QUEUE_TYPE must be classic or quorum")
    return {**arguments, "x-queue-type": queue_type} if queue_type == "quorum" else arguments


_DEPTHS: dict[tuple[str, str], "QueueDepths"] = {}  # one per service and broker in a process


class QueueDepths:
    """Consumer lag for /metrics: messages waiting in each handler's queues, read from the broker."""

    def __init__(self, service: str, amqp_uri: str):
        self.service, self.amqp_uri, self.queues = service, amqp_uri, set()
        self.gauges = StoreGauges(service, self.read, source="broker").register()

    def read(self) -> list:
        ready, consumers = [], []
        with Connection(self.amqp_uri, connect_timeout=2) as conn:
            for consumer, kind, name in sorted(self.queues):
                _, messages, listening = conn.default_channel.queue_declare(queue=name, passive=True)
                ready.append((self.service, consumer, kind, messages))
                if kind == "main":
                    consumers.append((self.service, consumer, listening))
        return [gauge("casetrail_consumer_queue_messages", "Bus events waiting in a handler's queue"
                      " (main: not yet handled; retry: waiting to be retried; dead: given up on)",
                      ["service", "consumer", "queue"], ready),
                gauge("casetrail_consumer_count", "Consumers attached to a handler's queue",
                      ["service", "consumer"], consumers)]


class EventConsumer(Consumer):
    def __init__(self, *event_types: str, **kwargs):
        self.event_types = event_types
        super().__init__(queue=None, requeue_on_error=False, **kwargs)

    def setup(self) -> None:
        self.max_attempts = int(env("CONSUMER_MAX_ATTEMPTS", "8"))
        self.first_delay = float(env("CONSUMER_RETRY_DELAY", "0.5"))
        name = f"casetrail.{self.container.service_name}.{self.method_name}"
        self.queue = Queue(name, bindings=[binding(EXCHANGE, routing_key=t) for t in self.event_types],
                           durable=True, queue_arguments=queue_arguments())
        self.retry_queue = Queue(f"{name}.retry", durable=True, queue_arguments=queue_arguments(**{
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": name}))
        self.dead_queue = Queue(f"{name}.dead", durable=True, queue_arguments=queue_arguments())
        self.amqp_uri = self.container.config[AMQP_URI_CONFIG_KEY]
        with get_connection(self.amqp_uri) as conn:
            channel = conn.channel()
            for entity in (EXCHANGE, self.queue, self.retry_queue, self.dead_queue):
                entity(channel).declare()
        key = (self.container.service_name, self.amqp_uri)
        depths = _DEPTHS.get(key) or _DEPTHS.setdefault(key, QueueDepths(*key))
        depths.queues |= {(self.method_name, kind, queue.name) for kind, queue in
                          (("main", self.queue), ("retry", self.retry_queue), ("dead", self.dead_queue))}
        super().setup()

    def handle_message_processed(self, message, result=None, exc_info=None):
        try:
            self._settle(message, result, exc_info)
        except BROKER_DOWN:
            # The connection is gone: the broker hands the message out again, and the inbox makes
            # the second handling a no-op. nameko would otherwise stop the service here.
            log.warning("%s: could not settle a message (broker unavailable)", self.method_name)

    def _settle(self, message, result, exc_info) -> None:
        event_type = message.delivery_info.get("routing_key", "?")
        if exc_info is None:
            # A handler returns whether the event was new to it (False: a redelivery, no effect).
            outcome = "processed" if result else "duplicate"
            EVENTS_CONSUMED.labels(self.container.service_name, self.method_name, event_type, outcome).inc()
            self.queue_consumer.ack_message(message)
            return
        try:
            outcome = self._retry_or_bury(message, exc_info)
        except Exception:
            # Could not move it (broker trouble): hand it back, it will come again.
            log.warning("could not move failed %s message; requeued", event_type, exc_info=True)
            self.queue_consumer.requeue_message(message)
            return
        EVENTS_CONSUMED.labels(self.container.service_name, self.method_name, event_type, outcome).inc()
        self.queue_consumer.ack_message(message)

    def _retry_or_bury(self, message, exc_info) -> str:
        exc_type, exc, _ = exc_info
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0)) + 1
        poison = issubclass(exc_type, ValidationError)
        headers = dict(message.headers or {}, **{ATTEMPTS_HEADER: attempts,
                                                 "x-casetrail-error": exc_type.__name__})
        if poison or attempts >= self.max_attempts:
            target, expiration, outcome = self.dead_queue.name, None, "dead_lettered"
            log.error("%s: %s message moved to %s after %d attempt(s): %s", self.method_name,
                      message.delivery_info.get("routing_key"), target, attempts, exc_type.__name__)
        else:
            target, outcome = self.retry_queue.name, "retried"
            expiration = min(self.first_delay * 2 ** (attempts - 1), 300.0)
        with get_producer(self.amqp_uri) as producer:
            producer.publish(message.body, exchange="", routing_key=target, headers=headers,
                             content_type=message.content_type,
                             content_encoding=message.content_encoding,
                             delivery_mode=2, expiration=expiration, retry=True,
                             message_id=message.properties.get("message_id"))
        return outcome


on_event = EventConsumer.decorator
