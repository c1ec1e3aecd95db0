"""Consuming bus events: `@on_event("CaseRegistered", ...)` on a nameko service method.

Each handler gets its own durable queue `casetrail.<service>.<method>` bound to the events
exchange. A handler that raises is retried with growing delays through a `.delay` queue
(messages wait out a TTL there, then dead-letter back). Both queues are also bound to the requeue
exchange under their own names: a service puts messages back into its own queues through it, never
through the default exchange, which would let its broker user reach any queue. A database or broker
outage is waited out however long it lasts; any other failure is retried CONSUMER_MAX_ATTEMPTS times,
then the event is set aside in the service's quarantine (shared/quarantine.py), where later events of
the same aggregate wait behind it. An envelope that fails validation is set aside at once. A message
is acked only once it is handled or set aside: never silently dropped.
Handlers make their effect idempotent (ServiceStore.process_once, or an inbox row saved with the
events) and return whether the event was new to them.
"""
import logging
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from uuid import UUID

from kombu import Queue, binding
from marshmallow import ValidationError
from nameko.amqp.publish import get_connection, get_producer
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.messaging import Consumer

from shared.bus import EXCHANGE, REQUEUE, SIGNATURE_HEADER, amqp_ssl, connection, ensure_exchanges
from shared.envelope import OWNERS, PAYLOADS
from shared.identity import EVENTS_REFUSED, CallerKeys, event_refusal, keys_of
from shared.metrics import EVENTS_CONSUMED, StoreGauges, gauge
from shared.outbox import EventSourced
from shared.quarantine import QUARANTINE_HEADER, Arrival, Quarantine, describe, is_outage
from shared.rpc import BROKER_DOWN
from shared.settings import AmqpTls, Settings, of_service

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-casetrail-attempts"  # failures of the event's own (not outages)
WAITS_HEADER = "x-casetrail-waits"  # outages waited out
# "quorum" on a RabbitMQ cluster: replicated queues that survive the loss of a node. A queue keeps
# the type it was declared with; switching an existing installation means draining and redeclaring.
def queue_arguments(queue_type: str, **arguments) -> dict:
    if queue_type not in ("classic", "quorum"):
        raise RuntimeError("QUEUE_TYPE must be classic or quorum")
    return {**arguments, "x-queue-type": queue_type} if queue_type == "quorum" else arguments


_DEPTHS: dict[tuple[str, str], "QueueDepths"] = {}  # one per service and broker in a process


class QueueDepths:
    """Consumer lag for /metrics: messages waiting in each handler's queues, read from the broker."""

    def __init__(self, service: str, amqp_uri: str, tls: AmqpTls):
        self.service, self.amqp_uri, self.tls = service, amqp_uri, tls
        self.queues: set[tuple[str, str, str]] = set()
        self.gauges = StoreGauges(service, self.read, source="broker").register()

    def read(self) -> list:
        ready, consumers = [], []
        with connection(self.amqp_uri, self.tls, connect_timeout=2) as conn:
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


class Quarantined:
    """What one consumer sets aside in its service's quarantine (shared/quarantine.py), and takes back:
    its entries go by its queue's name."""

    def __init__(self, store, queue_name: str, handler: str):
        self.store, self.queue_name, self.handler = store, queue_name, handler
        self.quarantine = Quarantine.of(store)

    def refused(self, message, arrival: Arrival, why: str) -> None:
        with self.store.transaction() as curs:
            entry_id = _retried_entry(message)
            entry = self.quarantine.entry(curs, entry_id) if entry_id else None
            if entry is not None and entry.body == arrival.body:  # an operator's retry of this very event
                self.quarantine.failed_again(curs, entry, f"refused: {why}")
            else:
                # The case it names is not believed either: it must hold back none of that case's events.
                self.quarantine.set_aside(curs, self.queue_name, replace(arrival, aggregate_id=None), attempts=0,
                                          error=f"refused: {why}")

    def held(self, arrival: Arrival) -> bool:
        """Sets the event aside if an earlier event of its aggregate is in quarantine: it waits there."""
        if arrival.aggregate_id is None:
            return False
        # Looked up first on its own (one round trip, no transaction): there is almost never a blocker.
        with self.store.reading() as curs:
            if self.quarantine.blocker(curs, self.queue_name, arrival.aggregate_id) is None:
                return False
        with self.store.transaction() as curs:
            blocker = self.quarantine.blocker(curs, self.queue_name, arrival.aggregate_id)
            if blocker is not None:
                self.quarantine.set_aside(curs, self.queue_name, arrival, attempts=0,
                                          error="held behind an earlier event", blocked_by=blocker)
        return blocker is not None

    def resolve(self, message, send: Callable) -> None:
        """A quarantined event handled at last: resolved, and what waited behind it sent again (`send`),
        before the release commits: a send that fails leaves them held."""
        entry_id = _retried_entry(message)
        if entry_id is None:
            return
        with self.store.transaction() as curs:
            entry = self.quarantine.entry(curs, entry_id)
            self.quarantine.resolve(curs, entry_id)
            for held in self.quarantine.release_held(curs, self.queue_name, entry.aggregate_id if entry else None):
                send(held)

    def failed(self, message, arrival: Arrival, attempts: int, exc: BaseException) -> None:
        """Given up on: set aside (or, an operator's retry of an entry, recorded as failed again)."""
        with self.store.transaction() as curs:
            if (entry_id := _retried_entry(message)) is not None:
                entry = self.quarantine.entry(curs, entry_id)
                if entry is not None:
                    self.quarantine.failed_again(curs, entry, describe(exc))
                    return
            entry_id = self.quarantine.set_aside(curs, self.queue_name, arrival, attempts=attempts,
                                                 error=describe(exc))
        log.error("%s: %s event set aside (quarantine entry %d) after %d attempt(s): %s", self.handler,
                  arrival.event_type, entry_id, attempts, type(exc).__name__)


class EventConsumer(Consumer):
    def __init__(self, *event_types: str, **kwargs):
        self.event_types = event_types
        super().__init__(queue=None, requeue_on_error=False, **kwargs)

    def setup(self) -> None:
        self.settings: Settings = of_service(self.container)
        self.max_attempts = self.settings.consumer_max_attempts
        self.first_delay = self.settings.consumer_retry_delay
        self.tls = self.settings.amqp_tls
        name = f"casetrail.{self.container.service_name}.{self.method_name}"
        # Named anew (it was `.retry`, dead-lettering through the default exchange): an old retry queue
        # keeps its arguments, so it drains back into its handler's queue and `make up` removes it.
        delay = f"{name}.delay"
        self.queue = Queue(name, bindings=[*(binding(EXCHANGE, routing_key=t) for t in self.event_types),
                                           binding(REQUEUE, routing_key=name)],
                           durable=True, queue_arguments=queue_arguments(self.settings.queue_type))
        self.retry_queue = Queue(delay, bindings=[binding(REQUEUE, routing_key=delay)], durable=True,
                                 queue_arguments=queue_arguments(self.settings.queue_type, **{
                                     "x-dead-letter-exchange": REQUEUE.name, "x-dead-letter-routing-key": name}))
        self.amqp_uri = self.container.config[AMQP_URI_CONFIG_KEY]
        ensure_exchanges(self.amqp_uri, self.tls)
        with get_connection(self.amqp_uri, amqp_ssl(self.amqp_uri, self.tls)) as conn:
            channel = conn.channel()
            for entity in (self.queue, self.retry_queue):
                entity(channel).declare()
        key = (self.container.service_name, self.amqp_uri)
        depths = _DEPTHS.get(key) or _DEPTHS.setdefault(key, QueueDepths(*key, self.tls))
        depths.queues |= {(self.method_name, kind, queue.name) for kind, queue in
                          (("main", self.queue), ("retry", self.retry_queue))}
        super().setup()

    @cached_property
    def events(self) -> EventSourced:
        """The service's store dependency (its store exists once that dependency is set up)."""
        return next(d for d in self.container.dependencies if isinstance(d, EventSourced))

    @property
    def store(self):
        return self.events.store

    @property
    def quarantined(self) -> Quarantined:
        return Quarantined(self.store, self.queue.name, self.method_name)

    def handle_message(self, body, message):
        if self._refused(body, message):
            return
        if _retried_entry(message) is None and self._held(body, message):
            return
        super().handle_message(body, message)

    def _refused(self, body, message) -> bool:
        """An event is believed only from the service that owns its type, signed by it (every delivery:
        first arrival, retry, release from quarantine). Any other is set aside, counted, never handled."""
        arrival = self._arrival(body, message)
        envelope = body if isinstance(body, dict) else {}
        event_type = envelope.get("event_type")
        why = event_refusal(self.keys, arrival.body, arrival.signature, envelope.get("source"),
                            OWNERS.get(event_type) if isinstance(event_type, str) else None)
        if why is None:
            return False
        EVENTS_REFUSED.labels(self.container.service_name, self.method_name, why).inc()
        log.error("%s: refused a %s event: %s", self.method_name, arrival.event_type, why)
        try:
            self.quarantined.refused(message, arrival, why)
        except Exception as failed:  # the database is away: waited out like any outage, never handled
            if not is_outage(failed):
                raise
            self._after_failure(message, (type(failed), failed, None))
        self.queue_consumer.ack_message(message)
        return True

    @cached_property
    def keys(self) -> CallerKeys:
        return keys_of(self.container.service_name, of_service(self.container).caller_keys)

    def _held(self, body, message) -> bool:
        arrival = self._arrival(body, message)
        try:
            held = self.quarantined.held(arrival)
        except Exception:
            # Could not look (the database is away): the handler needs it too, fails and is retried.
            log.warning("%s: could not check the quarantine", self.method_name, exc_info=True)
            return False
        if held:
            EVENTS_CONSUMED.labels(self.container.service_name, self.method_name, arrival.event_type, "held").inc()
            self.queue_consumer.ack_message(message)
        return held

    def handle_message_processed(self, message, result=None, exc_info=None):
        try:
            self._settle(message, result, exc_info)
        except BROKER_DOWN:
            # The connection is gone: the broker hands the message out again, and the inbox makes
            # the second handling a no-op. nameko would otherwise stop the service here.
            log.warning("%s: could not settle a message (broker unavailable)", self.method_name)

    def _settle(self, message, result, exc_info) -> None:
        event_type = self._arrival(None, message).event_type
        try:
            if exc_info is None:
                # A handler returns whether the event was new to it (False: a redelivery, no effect).
                outcome = "processed" if result else "duplicate"
                self._resolve(message)
            else:
                outcome = self._after_failure(message, exc_info)
        except Exception:
            # Could not record or move it (database or broker trouble): hand it back, it comes again.
            log.warning("could not settle a %s message; requeued", event_type, exc_info=True)
            self.queue_consumer.requeue_message(message)
            return
        EVENTS_CONSUMED.labels(self.container.service_name, self.method_name, event_type, outcome).inc()
        self.queue_consumer.ack_message(message)

    def _resolve(self, message) -> None:
        self.quarantined.resolve(message, lambda held: self._send(held.body, self.queue.name, held.content_type, {
            QUARANTINE_HEADER: held.id, SIGNATURE_HEADER: held.signature}))

    def _after_failure(self, message, exc_info) -> str:
        """Waits out an outage; retries any other failure, then sets the event aside."""
        exc_type, exc, _ = exc_info
        headers = dict(message.headers or {})
        if is_outage(exc):
            waits = _counted(headers, WAITS_HEADER) + 1
            self._send(message.body, self.retry_queue.name, message.content_type, dict(headers, **{
                WAITS_HEADER: waits}), delay=min(self.first_delay * 2 ** (waits - 1), 30.0))
            return "waited"
        attempts = _counted(headers, ATTEMPTS_HEADER) + 1
        if issubclass(exc_type, ValidationError) or attempts >= self.max_attempts:
            self._set_aside(message, attempts, exc)
            return "quarantined"
        self._send(message.body, self.retry_queue.name, message.content_type, dict(headers, **{
            ATTEMPTS_HEADER: attempts, "x-casetrail-error": exc_type.__name__}),
            delay=min(self.first_delay * 2 ** (attempts - 1), 300.0))
        return "retried"

    def _set_aside(self, message, attempts: int, exc: BaseException) -> None:
        self.quarantined.failed(message, self._arrival(None, message), attempts, exc)

    def _arrival(self, body, message) -> Arrival:
        """The message whole, and the aggregate it is about if its envelope says (it may not)."""
        raw = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        if body is None:
            try:
                body = message.payload  # decoded once when it arrived: kombu keeps it
            except Exception:
                body = None  # not JSON at all: set aside whole all the same
        envelope = body if isinstance(body, dict) else {}
        # A known type only: it becomes a metric label (a retried message's routing key is its queue's name).
        claimed = envelope.get("event_type")
        event_type = claimed if isinstance(claimed, str) and claimed in PAYLOADS else "unknown"
        signature = (message.headers or {}).get(SIGNATURE_HEADER)
        return Arrival(aggregate_id=_uuid(envelope.get("aggregate_id")), event_id=_uuid(envelope.get("event_id")),
                       event_type=event_type, body=raw, content_type=message.content_type,
                       signature=signature if isinstance(signature, str) and len(signature) < 200 else None)

    def _send(self, body, queue_name: str, content_type, headers: dict, delay: float | None = None) -> None:
        with get_producer(self.amqp_uri, ssl=amqp_ssl(self.amqp_uri, self.tls)) as producer:
            producer.publish(body, exchange=REQUEUE.name, routing_key=queue_name, headers=headers,
                             content_type=content_type or "application/json", content_encoding="utf-8",
                             delivery_mode=2, expiration=delay, retry=True)


def _counted(headers: dict, name: str) -> int:
    value = headers.get(name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000 else 0


def _retried_entry(message) -> int | None:
    """The quarantine entry a message retries, if it says so (a malformed header says nothing)."""
    value = (message.headers or {}).get(QUARANTINE_HEADER)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _uuid(value) -> UUID | None:
    try:
        return UUID(str(value)) if value is not None else None
    except ValueError:
        return None


on_event = EventConsumer.decorator
