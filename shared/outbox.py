"""Followers of a service's notification log, and the nameko dependency that runs them.

- The outbox relay publishes each public event to RabbitMQ, in log order, then records the
  position it reached. A crash between publish and position-save re-publishes (consumers
  dedupe by event_id); nothing is ever skipped.
- A projection applies events to read tables and records its position in the same transaction.

Each follower takes its position row FOR UPDATE SKIP LOCKED, so with several instances of a
service exactly one follows at a time, in order.
"""
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

import eventlet
import eventlet.semaphore
from eventsourcing.persistence import StoredEvent
from nameko.extensions import DependencyProvider

from shared.bus import event_publisher, publish_event, use_tls
from shared.envelope import make_envelope
from shared.identity import keys_of, sign_event
from shared.metrics import EVENTS_PUBLISHED, FOLLOWER_ERRORS, PUBLISH_DURATION, StoreGauges
from shared.quarantine import Arrival, Entry, Quarantine, Status, attempts_exhausted, describe, is_outage
from shared.settings import of_service
from shared.store import ServiceStore

log = logging.getLogger(__name__)

# A service's publication: domain event -> (event type, payload), or None for a private event.
Publication = Callable[[object], tuple[str, dict] | None]


class Follower:
    """Follows the store's notification log from the position it recorded under `name`.

    An event that fails `max_attempts` times for a reason of its own is quarantined and the
    follower goes on; later events of its aggregate are held behind it (shared/quarantine.py)."""

    def __init__(self, store: ServiceStore, name: str, batch_size: int, max_attempts: int):
        self.store, self.name, self.batch_size, self.max_attempts = store, name, batch_size, max_attempts
        self.quarantine = Quarantine.of(store)
        self.failures: dict[int, int] = {}  # notification id -> failed attempts, in this process
        # The position this process last saw the follower at (another instance may have moved it further):
        # lets a save's catch-up and the background loop skip a step that would find nothing.
        self.reached = 0
        self.isolate_through = 0  # a batch that failed: up to this notification id, one event at a time
        self.stepping = eventlet.semaphore.Semaphore()  # one step at a time in this process (turn)
        store.add_follower(name)

    def step(self, lock_wait: float | None = None) -> int:
        """Handles operators' retries, then the next batch; returns how many events it moved past.
        `lock_wait`: give up (LockNotAvailable, an outage: no attempt counted) on a row lock held longer."""
        with turn(self.stepping, lock_wait) as mine:
            return step_together(self.store, [self], lock_wait) if mine else 0

    def step_in(self, curs, read: "Reads", position: int, any_open: bool) -> tuple[int, int, Exception | None]:
        """The step, in the caller's transaction, from the position it took: (events moved past, position
        reached, the failure that stopped it, to raise once the transaction commits)."""
        entries = self.quarantine.open_entries(curs, self.name) if any_open else []
        retried = self.retry(curs, entries)
        if retried:
            entries = self.quarantine.open_entries(curs, self.name)
        # aggregate -> the earliest of its open entries, which newcomers wait behind
        waiting: dict[UUID | None, int] = {}
        for entry in entries:
            waiting.setdefault(entry.aggregate_id, entry.id)
        notifications = read(position, self.batch_size)
        if not notifications and not retried:
            return 0, position, None
        reached, failure = self.follow(curs, position, notifications, waiting)
        return len(notifications) + retried, reached, failure

    def follow(self, curs, position: int, notifications, waiting: dict) -> tuple[int, Exception | None]:
        """Returns the position reached, and the failure that stopped it, if any."""
        batch = not waiting and (not notifications or notifications[0].id > self.isolate_through)
        if batch and self.handle_all(curs, notifications):
            self.failures.clear()
            return (notifications[-1].id if notifications else position), None
        reached = position
        for notification in notifications:
            arrival = self.arrival(notification)
            if notification.originator_id in waiting:
                self.quarantine.set_aside(curs, self.name, arrival, attempts=0, error="held behind an earlier event",
                                          blocked_by=waiting[notification.originator_id])
            else:
                try:
                    self.handle_isolated(curs, notification)
                    self.failures.pop(notification.id, None)
                except Exception as exc:
                    attempts = None if is_outage(exc) else attempts_exhausted(self.failures, notification.id,
                                                                              self.max_attempts)
                    if attempts is None:
                        return reached, exc
                    waiting[notification.originator_id] = self.quarantine.set_aside(
                        curs, self.name, arrival, attempts=attempts, error=describe(exc))
                    log.error("%s %s set event %s aside after %d attempts: %s", self.store.settings.service,
                              self.name, notification.id, attempts, type(exc).__name__)
            reached = notification.id
        return reached, None

    def retry(self, curs, entries: list[Entry]) -> int:
        """Applies what operators asked to retry, then what each one held, in order. Returns how many
        were attempted."""
        done = 0
        for entry in (e for e in entries if e.status == Status.RETRYING):
            queue = [entry]
            while queue:
                current = queue.pop(0)
                done += 1
                try:
                    self.handle_isolated(curs, self.stored(current))
                except Exception as exc:
                    if is_outage(exc):
                        raise
                    self.quarantine.failed_again(curs, current, describe(exc))
                    break
                self.quarantine.resolve(curs, current.id)
                queue.extend(self.quarantine.release_held(curs, self.name, current.aggregate_id))
        return done

    def handle_all(self, curs, notifications) -> bool:
        """Handles a whole batch at once, with no savepoint around it (two round trips saved in every step):
        if an event in it fails, BatchFailed rolls the whole transaction back and the step is taken again
        one event at a time, each in a savepoint, as far as this batch reached (`isolate_through`)."""
        try:
            for notification in notifications:
                self.handle(curs, notification)
        except Exception as exc:
            if is_outage(exc):
                raise
            self.isolate_through = notifications[-1].id
            raise BatchFailed(self.name) from exc
        return True

    def handle_isolated(self, curs, notification) -> None:
        """Handles one event; its failure undoes its own effects only (a savepoint)."""
        with curs.connection.transaction():
            self.handle(curs, notification)

    def handle(self, curs, notification) -> None:
        raise NotImplementedError

    def arrival(self, notification) -> Arrival:
        return Arrival(aggregate_id=notification.originator_id, event_type=notification.topic.rsplit(".", 1)[-1],
                       body=bytes(notification.state), notification_id=notification.id,
                       originator_version=notification.originator_version, content_type=notification.topic)

    @staticmethod
    def stored(entry: Entry) -> StoredEvent:
        """The event as the log held it: kept whole in the entry (the state encrypted, as stored)."""
        if entry.aggregate_id is None or entry.originator_version is None or entry.content_type is None:
            raise ValueError(f"quarantine entry {entry.id} holds no stored event")
        return StoredEvent(originator_id=entry.aggregate_id, originator_version=entry.originator_version,
                           topic=entry.content_type, state=entry.body)


@contextlib.contextmanager
def turn(stepping: eventlet.semaphore.Semaphore | None, wait: float | None) -> Iterator[bool]:
    """Whether this thread got its turn at a follower's steps in this process within `wait` seconds (None:
    for as long as it takes; no semaphore: never). A thread that finds the follower stepping waits for that
    step, which may well carry its own event too, rather than take its turn at the row lock; no longer than
    its caller waits, though: that step may be held up behind a row lock."""
    mine = stepping is not None and stepping.acquire(blocking=wait != 0, timeout=wait or None)
    try:
        yield mine
    finally:
        if mine and stepping is not None:
            stepping.release()


class BatchFailed(Exception):
    """A follower's batch failed part-way in a transaction that may be aborted: it is rolled back and taken
    again event by event (Follower.handle_all)."""


Reads = Callable[[int, int], list]  # (position, limit) -> the notifications after position


def step_together(store: ServiceStore, followers: Sequence[Follower], lock_wait: float | None = None) -> int:
    """Steps each follower in one transaction (one BEGIN and COMMIT for them all, their positions taken in
    one statement and moved in another, the log read once for those at the same position); returns how
    many events they moved past. A batch that failed part-way is taken again, event by event."""
    try:
        return _step_once(store, followers, lock_wait)
    except BatchFailed:
        return _step_once(store, followers, lock_wait)


def _step_once(store: ServiceStore, followers: Sequence[Follower], lock_wait: float | None) -> int:
    read: dict[tuple[int, int], list] = {}

    def reads(position: int, limit: int) -> list:
        if (position, limit) not in read:
            read[position, limit] = store.notifications_after(curs, position, limit)
        return read[position, limit]

    outcomes = []
    with store.transaction() as curs:
        taken = store.take_positions(curs, [follower.name for follower in followers], lock_wait)
        for follower in followers:
            if follower.name in taken:  # else another instance is following
                outcomes.append((follower, follower.step_in(curs, reads, *taken[follower.name])))
        store.advance_all(curs, {follower.name: reached for follower, (moved, reached, _) in outcomes if moved})
    moved, failure = 0, None
    for follower, (n, reached, exc) in outcomes:
        follower.reached = max(follower.reached, reached)
        moved, failure = moved + n, failure or exc
    if failure is not None:
        raise failure
    return moved


class Relay(Follower):
    def __init__(self, store: ServiceStore, publication: Publication, publisher, batch_size: int = 100,
                 max_attempts: int = 5):
        super().__init__(store, "outbox", batch_size, max_attempts)
        self.publication, self.publisher = publication, publisher
        self.source = store.settings.service
        # Signs what it publishes: consumers believe only the owner.
        self.keys = keys_of(self.source, store.settings.caller_keys)

    def handle_all(self, curs, notifications) -> bool:
        # Publishing is not undone by a rollback: one at a time, so a failure publishes nothing twice
        # needlessly; what was published is committed even when the broker fails half-way.
        return False

    def handle_isolated(self, curs, notification) -> None:
        self.handle(curs, notification)

    def handle(self, curs, notification) -> None:
        # One of the service's own events: each has its `timestamp` and records who did it (`by`).
        event: Any = self.store.mapper.to_domain_event(notification)
        public = self.publication(event)
        if public is None:
            return
        event_type, payload = public
        envelope = make_envelope(source=self.source, event_type=event_type,
                                 aggregate_id=event.originator_id,
                                 aggregate_version=event.originator_version,
                                 occurred_at=event.timestamp, by=event.by, payload=payload)
        started = time.perf_counter()
        publish_event(self.publisher, envelope, lambda body: sign_event(self.keys, body))
        PUBLISH_DURATION.labels(self.source).observe(time.perf_counter() - started)
        EVENTS_PUBLISHED.labels(self.source, event_type).inc()


class Projection:
    """A read model kept by following the log. Subclasses set `name` and implement `apply`."""

    name = "projection"

    def apply(self, store: ServiceStore, curs, event) -> None:
        raise NotImplementedError


class Projector(Follower):
    def __init__(self, store: ServiceStore, projection: Projection, batch_size: int = 500, max_attempts: int = 5):
        super().__init__(store, projection.name, batch_size, max_attempts)
        self.projection = projection

    def handle(self, curs, notification) -> None:
        # The read model and the follower's position commit together.
        self.projection.apply(self.store, curs, self.store.mapper.to_domain_event(notification))


# How long a save waits for its service's projections to reach it; past that it returns all the same
# (the write stands, the lists show it once the followers get there) rather than hold the caller: well
# under the gateway's wait for a service (RPC_TIMEOUT_SECONDS), so a stuck read model never fails a command.
READ_YOUR_WRITES_SECONDS = 1.0


class Projections:
    """A store's projections, stepped together in one transaction (each keeps its own position and
    quarantine): what a save's catch-up and one background loop step."""

    def __init__(self, store: ServiceStore, projectors: list[Projector]):
        self.store, self.projectors = store, projectors
        self.name = "+".join(projector.name for projector in projectors)
        self.stepping = eventlet.semaphore.Semaphore()

    @property
    def reached(self) -> int:
        return min(projector.reached for projector in self.projectors)

    def step(self, lock_wait: float | None = None, relay: "Relay | None" = None) -> int:
        """`relay`: the outbox relay steps in the same transaction, when no other thread is stepping it
        (one BEGIN, position lock and COMMIT fewer per command; its publishing is done when the command
        answers). A publish that fails (the broker away) still lets the projections' work commit."""
        with turn(self.stepping, lock_wait) as mine:
            if not mine:
                return 0
            with turn(relay.stepping if relay else None, 0) as relay_too:
                followers: list[Follower] = [*self.projectors]
                if relay_too and relay is not None:
                    followers.append(relay)
                return step_together(self.store, followers, lock_wait)

    def look_up(self) -> None:
        """Where the projectors are in the store (another instance may have moved them)."""
        for projector in self.projectors:
            projector.reached = max(projector.reached, self.store.position(projector.name))


class ReadModels:
    """Read-your-writes: a list served by the service that accepted a write shows it once the write has
    returned. After each save (shared/store.py ServiceStore.save) the saving thread brings the store's
    projections up to the notification id it saved, stepping them itself (with the outbox relay, when no
    other thread is stepping it), or waiting while another thread or instance does; bounded by
    READ_YOUR_WRITES_SECONDS.

    Why a bounded wait after the commit, not the projections applied in the command's own transaction:
    that would take every projection's position lock in every command (one writer at a time per service,
    and a projection's failure would refuse the command instead of quarantining one event), and the
    projections would still need their followers for what other services' events write. The background
    loops (FollowerLoop) keep running for everything else."""

    def __init__(self, store: ServiceStore, projections: Projections, wait_seconds: float,
                 relay: "Relay | None" = None):
        self.store, self.projections, self.wait_seconds, self.relay = store, projections, wait_seconds, relay

    def catch_up(self, notification_id: int) -> None:
        deadline = time.monotonic() + self.wait_seconds
        projections = self.projections
        while projections.reached < notification_id:
            try:
                moved = projections.step(lock_wait=max(deadline - time.monotonic(), 0.01), relay=self.relay)
            except Exception as exc:  # the followers' own loop reports and retries it
                log.debug("%s %s could not catch up: %s", self.store.settings.service, projections.name,
                          describe(exc))
                moved = 0
            if moved or projections.reached >= notification_id:
                continue
            if time.monotonic() > deadline:
                log.warning("%s %s did not reach notification %d within %.1f s", self.store.settings.service,
                            projections.name, notification_id, self.wait_seconds)
                return
            eventlet.sleep(0.01)  # another instance is stepping them: its commit is near
            projections.look_up()


class FollowerLoop:
    """Runs a follower's step whenever the store commits past what the follower reached, and every poll
    interval as a fallback (for what other instances commit)."""

    def __init__(self, store: ServiceStore, follower, poll_seconds: float):
        self.store, self.follower, self.poll_seconds = store, follower, poll_seconds
        self.wake = threading.Event()
        self.stopping = False
        self.committed = 0  # the newest notification id this process committed
        store.commit_listeners.append(self.committed_up_to)

    def committed_up_to(self, notification_id: int) -> None:
        self.committed = max(self.committed, notification_id)
        self.wake.set()

    def run(self) -> None:
        service, name = self.store.settings.service, self.follower.name
        backoff = self.poll_seconds
        polled = True  # the first step looks whatever was committed
        while not self.stopping:
            self.wake.clear()
            try:
                moved = self.follower.step() if polled or self.follower.reached < self.committed else 0
                backoff = self.poll_seconds
            except Exception as exc:
                FOLLOWER_ERRORS.labels(service, name).inc()
                # The error's description, not its traceback: a database error may quote survivor data.
                log.warning("%s follower %s failed (%s); retrying in %.1f s", service, name, describe(exc), backoff)
                log.debug("%s follower %s failed", service, name, exc_info=True)
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not moved:
                polled = not self.wake.wait(self.poll_seconds)


class EventSourced(DependencyProvider):
    """Gives workers the service's store; runs its outbox relay and projections in the background.

        store = EventSourced(CasesStore, publication=public_event, projections=[CaseIndex()])
    """

    def __init__(self, store_class: type[ServiceStore], publication: Publication | None = None,
                 projections: tuple[Projection, ...] = ()):
        self.store_class, self.publication, self.projections = store_class, publication, projections
        self.store: ServiceStore | None = None
        self.loops: list[FollowerLoop] = []
        self.threads: list = []

    def setup(self) -> None:
        settings = of_service(self.container)
        # Every service has a store: its nameko connections get TLS here.
        use_tls(self.container.config, settings.amqp_tls)
        self.store = self.store_class(settings)
        attempts = settings.follower_max_attempts
        projectors = [Projector(self.store, p, max_attempts=attempts) for p in self.projections]
        followers: list[Follower | Projections] = []
        relay = None
        if self.publication is not None:
            relay = Relay(self.store, self.publication, event_publisher(settings.amqp_uri, settings.amqp_tls),
                          settings.relay_batch_size, attempts)
            followers.append(relay)
        if projectors:
            projections = Projections(self.store, projectors)
            self.store.read_models = ReadModels(self.store, projections, READ_YOUR_WRITES_SECONDS, relay)
            followers.append(projections)
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

    def get_dependency(self, worker_ctx) -> ServiceStore | None:  # set up before any worker runs
        return self.store
