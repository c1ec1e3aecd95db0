"""Followers of a service's notification log, and the nameko dependency that runs them.

- The outbox relay publishes each public event to RabbitMQ, in log order, then records the
  position it reached. A crash between publish and position-save re-publishes (consumers
  dedupe by event_id); nothing is ever skipped.
- A projection applies events to read tables and records its position in the same transaction.

Each follower takes its position row FOR UPDATE SKIP LOCKED, so with several instances of a
service exactly one follows at a time, in order.
"""
import logging
import threading
import time
from collections.abc import Callable

import eventlet
from nameko.extensions import DependencyProvider

from shared.bus import event_publisher, publish_event
from shared.envelope import make_envelope
from shared.metrics import EVENTS_PUBLISHED, FOLLOWER_ERRORS, PUBLISH_DURATION, StoreGauges
from shared.settings import Settings
from shared.store import ServiceStore

log = logging.getLogger(__name__)

# A service's publication: domain event -> (event type, payload), or None for a private event.
Publication = Callable[[object], tuple[str, dict] | None]


class Follower:
    """Follows the store's notification log from the position it recorded under `name`."""

    def __init__(self, store: ServiceStore, name: str, batch_size: int):
        self.store, self.name, self.batch_size = store, name, batch_size
        store.add_follower(name)

    def step(self) -> int:
        """Handles the next batch; returns how many notifications it moved past."""
        with self.store.transaction() as curs:
            # No need to wait for this commit to reach the disk: after a crash a follower re-derives
            # what it lost from the log (the relay publishes again, consumers dedupe).
            curs.execute("SET LOCAL synchronous_commit = off")
            position = self.store.lock_position(curs, self.name)
            if position is None:
                return 0  # another instance is following
            notifications = self.store.notification_log.select(start=position + 1, limit=self.batch_size)
            reached, failure = self.handle(curs, position, notifications)
            self.store.advance(curs, self.name, reached)
        if failure is not None:
            raise failure
        return len(notifications)

    def handle(self, curs, position: int, notifications) -> tuple[int, Exception | None]:
        """Returns the position reached, and the failure that stopped it, if any."""
        raise NotImplementedError


class Relay(Follower):
    def __init__(self, store: ServiceStore, publication: Publication, publisher, batch_size: int = 100):
        super().__init__(store, "outbox", batch_size)
        self.publication, self.publisher = publication, publisher
        self.source = store.settings.service

    def handle(self, curs, position, notifications):
        # What was published is committed even when the broker fails half-way.
        reached = position
        for notification in notifications:
            try:
                self._publish(notification)
            except Exception as exc:
                return reached, exc
            reached = notification.id
        return reached, None

    def _publish(self, notification) -> None:
        event = self.store.mapper.to_domain_event(notification)
        public = self.publication(event)
        if public is None:
            return
        event_type, payload = public
        envelope = make_envelope(source=self.source, event_type=event_type,
                                 aggregate_id=event.originator_id,
                                 aggregate_version=event.originator_version,
                                 occurred_at=event.timestamp, by=event.by, payload=payload)
        started = time.perf_counter()
        publish_event(self.publisher, envelope)
        PUBLISH_DURATION.labels(self.source).observe(time.perf_counter() - started)
        EVENTS_PUBLISHED.labels(self.source, event_type).inc()


class Projection:
    """A read model kept by following the log. Subclasses set `name` and implement `apply`."""

    name = "projection"

    def apply(self, store: ServiceStore, curs, event) -> None:
        raise NotImplementedError


class Projector(Follower):
    def __init__(self, store: ServiceStore, projection: Projection, batch_size: int = 500):
        super().__init__(store, projection.name, batch_size)
        self.projection = projection

    def handle(self, curs, position, notifications):
        # All or nothing: the read model and its position commit together.
        for notification in notifications:
            self.projection.apply(self.store, curs, self.store.mapper.to_domain_event(notification))
        return (notifications[-1].id if notifications else position), None


class FollowerLoop:
    """Runs a follower's step whenever the store commits, and every poll interval as a fallback."""

    def __init__(self, store: ServiceStore, follower, poll_seconds: float):
        self.store, self.follower, self.poll_seconds = store, follower, poll_seconds
        self.wake = threading.Event()
        self.stopping = False
        store.commit_listeners.append(self.wake.set)

    def run(self) -> None:
        service, name = self.store.settings.service, self.follower.name
        backoff = self.poll_seconds
        while not self.stopping:
            self.wake.clear()
            try:
                moved = self.follower.step()
                backoff = self.poll_seconds
            except Exception:
                FOLLOWER_ERRORS.labels(service, name).inc()
                log.warning("%s follower %s failed; retrying in %.1f s", service, name, backoff,
                            exc_info=True)
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not moved:
                self.wake.wait(self.poll_seconds)


class EventSourced(DependencyProvider):
    """Gives workers the service's store; runs its outbox relay and projections in the background.

        store = EventSourced(CasesStore, publication=public_event, projections=[CaseIndex()])
    """

    def __init__(self, store_class: type[ServiceStore], publication: Publication | None = None,
                 projections: tuple[Projection, ...] = ()):
        self.store_class, self.publication, self.projections = store_class, publication, projections
        self.store: ServiceStore | None = None
        self.loops: list[FollowerLoop] = []
        self.threads = []

    def setup(self) -> None:
        settings = Settings.for_service(self.container.service_name)
        self.store = self.store_class(settings)
        followers = [Projector(self.store, p) for p in self.projections]
        if self.publication is not None:
            followers.append(Relay(self.store, self.publication, event_publisher(settings.amqp_uri),
                                   settings.relay_batch_size))
        self.loops = [FollowerLoop(self.store, f, settings.relay_poll_seconds) for f in followers]
        self.gauges = StoreGauges(settings.service, self.store.gauges).register()

    def start(self) -> None:
        self.threads = [self.container.spawn_managed_thread(loop.run, identifier=f"follower-{loop.follower.name}")
                        for loop in self.loops]

    def stop(self) -> None:
        for loop in self.loops:
            loop.stopping = True
            loop.wake.set()
        for thread in self.threads:
            # Let a follower finish its current step before the pool closes under it.
            with eventlet.Timeout(10, False):
                thread.wait()
        if self.store is not None:
            self.gauges.unregister()
            self.store.close()
            self.store = None

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx) -> ServiceStore:
        return self.store
