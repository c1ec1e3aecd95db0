"""The event-sourced store each service owns: eventsourcing on PostgreSQL, in the service's own
schema, event state encrypted at rest, plus small tables of plumbing: `positions` (how far each
follower of the notification log got), `inbox` (which bus events a consumer already processed),
`idempotency`, and the audit hash chains (`audit_chain`, `audit_heads`). Those tables, and each
service's own, are made and changed by versioned migrations (shared/migrations), run at every start.

A store that names a chain for its aggregates (`chain_of`) gets each stored event linked into
that chain as it is written, in the same transaction: `hash` = SHA-256 over the previous hash and
the stored event's bytes (id, version, topic and the encrypted state, exactly as stored)."""
import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Notification
from eventsourcing.postgres import ConnectionPool, PostgresApplicationRecorder
from psycopg import sql

from shared import migrations, quarantine
from shared.errors import REFUSALS, Conflict, NotFound
from shared.metrics import EVENTS_APPENDED, gauge
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.caller import Caller

GENESIS = "0" * 64


def link_hash(prev_hash: str, originator_id, originator_version: int, topic: str, state: bytes) -> str:
    """One link of a chain: the previous hash and the stored event, byte for byte."""
    digest = hashlib.sha256(prev_hash.encode())
    for part in (str(originator_id), str(originator_version), topic):
        digest.update(b"\x00" + part.encode())
    digest.update(b"\x00" + bytes(state))
    return digest.hexdigest()


# A pooled connection used this recently is taken as it is; one idle longer is checked with a round trip
# first (the database may have restarted meanwhile). Checking every checkout cost a round trip per
# statement group (issue 23); a connection that breaks within this window fails its statement, which
# eventsourcing retries and the services answer as an outage (503), and the pool discards it.
CHECK_IDLE_SECONDS = 2.0


def check_if_idle(conn) -> None:
    """The pool's check at checkout: only for a connection idle longer than CHECK_IDLE_SECONDS."""
    if time.monotonic() - getattr(conn, "casetrail_returned_at", 0.0) > CHECK_IDLE_SECONDS:
        ConnectionPool.check_connection(conn)


def note_returned(conn) -> None:
    """The pool's reset at return: when it was last in use."""
    conn.casetrail_returned_at = time.monotonic()


class ServiceRecorder(PostgresApplicationRecorder):
    """Writes an inbox or idempotency row in the same transaction as the events:
    `store.save(case, inbox=(consumer, event_id))`, `store.save(case, idempotency=(...))`,
    or other statements: `store.save(case, statements=[(sql, params)])`.
    A second save with the same inbox or idempotency key fails whole, with IntegrityError."""

    def __init__(self, datastore, *args, **kwargs):
        # No server-side prepared statements: psycopg's cache of them falls out of step with the server
        # when a pipelined insert fails (two writers racing for a version), and the next statement then
        # fails with "prepared statement _pg3_N does not exist". Set before any connection is made.
        datastore.pool.kwargs["prepare_threshold"] = None
        # psycopg_pool's own hooks, set before the pool opens (eventsourcing offers only a check at every
        # checkout, POSTGRES_PRE_PING).
        datastore.pool._check, datastore.pool._reset = check_if_idle, note_returned
        super().__init__(datastore, *args, **kwargs)

    def _insert_events(self, curs, stored_events, *, inbox=None, idempotency=None, statements=(), chains=None,
                       **kwargs) -> None:
        if chains:
            # Before eventsourcing takes its table lock: the chain heads' row locks order each chain,
            # and the table lock is held no longer than the insert needs.
            self._extend_chains(curs, stored_events, chains)
        for statement, params in statements:  # whatever else must commit with these events
            curs.execute(statement, params)
        schema = sql.Identifier(self.datastore.schema)
        if inbox is not None:
            curs.execute(sql.SQL("INSERT INTO {}.inbox (consumer, event_id) VALUES (%s, %s)").format(schema),
                         inbox)
        if idempotency is not None:
            curs.execute(sql.SQL("INSERT INTO {}.idempotency (username, key, request_hash, aggregate_id,"
                                 " version, status) VALUES (%s, %s, %s, %s, %s, %s)").format(schema),
                         idempotency)
        super()._insert_events(curs, stored_events, **kwargs)

    def _extend_chains(self, curs, stored_events, chains: dict) -> None:
        schema = sql.Identifier(self.datastore.schema)
        links = [(chains[stored.originator_id], stored) for stored in stored_events
                 if stored.originator_id in chains]
        curs.execute(sql.SQL("SELECT chain_id, sequence, hash FROM {}.audit_heads WHERE chain_id = ANY(%s)"
                             " ORDER BY chain_id FOR UPDATE").format(schema), (sorted({c for c, _ in links}),))
        heads = {row["chain_id"]: (row["sequence"], row["hash"]) for row in curs.fetchall()}
        rows = []
        for chain_id, stored in links:
            sequence, prev_hash = heads.get(chain_id, (0, GENESIS))
            heads[chain_id] = (sequence + 1, link_hash(prev_hash, stored.originator_id, stored.originator_version,
                                                       stored.topic, stored.state))
            rows.append((chain_id, sequence + 1, stored.originator_id, stored.originator_version, heads[chain_id][1]))
        curs.executemany(sql.SQL("INSERT INTO {}.audit_chain VALUES (%s, %s, %s, %s, %s)").format(schema), rows)
        curs.executemany(sql.SQL("INSERT INTO {}.audit_heads VALUES (%s, %s, %s) ON CONFLICT (chain_id)"
                                 " DO UPDATE SET sequence = EXCLUDED.sequence, hash = EXCLUDED.hash").format(schema),
                         [(chain_id, sequence, head) for chain_id, (sequence, head) in heads.items()])


_REQUESTS = uuid5(NAMESPACE_URL, "https://casetrail.example/requests")


def fingerprint(request) -> str:
    """A request's hash: tells a retry from another request sent with the same Idempotency-Key."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def request_id(kind: type, username: str, idempotency_key: str) -> UUID:
    """A retried create (same kind of aggregate, user and key) names the same aggregate."""
    return uuid5(_REQUESTS, f"{kind.__name__}:{username}\n{idempotency_key}")


def store_env(settings: Settings) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": settings.postgres_dbname,
        "POSTGRES_HOST": settings.postgres_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password,
        "POSTGRES_SCHEMA": settings.postgres_schema,
        "POSTGRES_POOL_SIZE": str(settings.postgres_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.postgres_max_overflow),
        "POSTGRES_PRE_PING": "n",  # ServiceRecorder checks a connection that sat idle instead
        # How long to wait for a connection: with the database down, fail (503) instead of hanging.
        "POSTGRES_CONNECT_TIMEOUT": str(settings.postgres_connect_timeout),
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": settings.cipher_key,
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        "APPLICATION_RECORDER_TOPIC": "shared.store:ServiceRecorder",
    }


def counted(curs) -> int:
    """The answer of a `SELECT count(*) AS n` just executed (one row, always)."""
    row = curs.fetchone()
    if row is None:
        raise RuntimeError("a count(*) query returned no row")
    return row["n"]


def create_schema(settings: Settings) -> None:
    """Creates the service's schema where it may (a test's own schema, a deployment whose login has
    every right). A service role owns a schema the administrator made and may create no other, and
    PostgreSQL checks that right before IF NOT EXISTS: look first."""
    with psycopg.connect(host=settings.postgres_host, port=settings.postgres_port,
                         dbname=settings.postgres_dbname, user=settings.postgres_user,
                         password=settings.postgres_password, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (settings.postgres_schema,)).fetchone():
            return
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(settings.postgres_schema)))


class ChainCheck:
    """Walks a chain's links in order and finds the first one that does not hold."""

    def __init__(self):
        self.links, self.expected, self.prev_hash, self.bad = 0, 1, GENESIS, None
        self.recorded_head = None

    def add(self, link: dict) -> None:
        self.links += 1
        if self.bad is not None:
            return
        if link["sequence"] != self.expected or link["topic"] is None:
            self.bad = self.expected  # a link, or the event it names, was removed
            return
        computed = link_hash(self.prev_hash, link["originator_id"], link["originator_version"], link["topic"],
                             link["state"])
        if computed != link["hash"]:
            self.bad = self.expected  # the event, or its place in the chain, changed
            return
        self.prev_hash, self.expected = computed, self.expected + 1

    def end(self, head: dict | None, stored_events: int | None) -> None:
        """`head`: the chain's recorded head; `stored_events`: how many events its streams hold."""
        self.recorded_head = head["hash"] if head else None
        if self.bad is not None:
            return
        last = self.expected - 1
        if head is None or head["sequence"] > last:
            self.bad = last + 1  # links cut off the end (or the head itself removed)
        elif head["sequence"] < last:
            self.bad = head["sequence"] + 1  # links past the head were added behind its back
        elif head["hash"] != self.prev_hash:
            self.bad = last
        elif stored_events is not None and stored_events != last:
            self.bad = last + 1  # an event was slipped in without a link

    def result(self) -> dict:
        result = {"valid": self.bad is None, "events": self.links,
                  "head_hash": self.recorded_head}
        if self.bad is not None:
            result["first_bad_sequence"] = self.bad
        return result


class ServiceStore(Application):
    """Base for each service's application. Its tables (the plumbing's and the service's own) are
    brought to the newest revision of their migrations (shared/migrations) before anything else."""

    log_section_size = 500

    def __init__(self, settings: Settings):
        self.settings = settings
        self.commit_listeners: list[Callable[[int], None]] = []  # called with the newest notification id
        # The projections that follow this store's log (shared/outbox.py ReadModels), set by the service
        # that runs them: each save brings them up to what it saved before it returns (read-your-writes).
        self.read_models: Any = None
        self.open_persistence(settings)

    def open_persistence(self, settings: Settings) -> None:
        """PostgreSQL: the service's schema, its tables (migrated), the event store. (shared/memory.py
        `InMemory` opens eventsourcing's POPO persistence instead, for use-case tests without a database.)"""
        target = migrations.Target.of(settings)
        # Under the schema's advisory lock: the schema where the login may make it, the migrations, then the
        # tables eventsourcing makes itself (its DDL is the pinned library's). A second instance starting
        # meanwhile waits, then finds nothing to do.
        with migrations.serialised(target):
            create_schema(settings)
            self.migrations_applied = migrations.upgrade(target, locked=True)
            super().__init__(env=store_env(settings))
        self.datastore = cast(ServiceRecorder, self.recorder).datastore  # APPLICATION_RECORDER_TOPIC
        self.schema = sql.Identifier(self.datastore.schema)

    def chain_of(self, recorded) -> UUID | None:
        """The audit chain an aggregate's (or a bare event's) events are linked into; None: no chain."""
        return None

    def save(self, *objs, **kwargs):
        chains = {}
        for obj in objs:
            if obj is not None and (chain_id := self.chain_of(obj)) is not None:
                chains[getattr(obj, "originator_id", None) or obj.id] = chain_id
        recordings = super().save(*objs, chains=chains, **kwargs)
        if recordings:
            newest = max(recording.notification.id for recording in recordings)
            try:
                if self.read_models is not None:
                    self.read_models.catch_up(newest)
            finally:
                # Then wake the outbox relay and projections instead of waiting a poll: after the catch-up,
                # which has usually done their work already (the relay's with the projections').
                for listener in self.commit_listeners:
                    listener(newest)
        return recordings

    def sql(self, statement: str) -> sql.Composed:
        """A statement with {schema} bound to this service's schema, {events} to its events table."""
        events = cast(ServiceRecorder, self.recorder).events_table_name
        return sql.SQL(statement).format(schema=self.schema, events=sql.Identifier(events))

    def _notify(self, recordings) -> None:
        for recording in recordings:
            EVENTS_APPENDED.labels(self.settings.service, type(recording.domain_event).__name__).inc()

    def gauges(self) -> list:
        """What /metrics reads from the database: how far behind each follower of the log is, and
        the service's own figures (`domain_gauges`)."""
        newest = self.max_notification_id()
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT follower, position FROM {schema}.positions ORDER BY follower"))
            positions = [(row["follower"], row["position"]) for row in curs.fetchall()]
            set_aside = quarantine.Quarantine.of(self).gauges(curs)
        service = self.settings.service
        return [
            gauge("casetrail_follower_lag_events", "Events recorded but not yet handled by a follower"
                  " (the outbox relay: not yet published)", ["service", "follower"],
                  [(service, follower, max(0, newest - position)) for follower, position in positions]),
            gauge("casetrail_follower_position", "Last notification id a follower handled", ["service", "follower"],
                  [(service, follower, position) for follower, position in positions]),
            *set_aside,
            *self.domain_gauges(),
        ]

    def domain_gauges(self) -> list:
        return []

    def transaction(self):
        return self.datastore.transaction(commit=True)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A cursor for a read that is one statement: autocommit, no transaction around it (one round trip,
        not three with BEGIN and ROLLBACK)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            yield curs

    def position(self, follower: str) -> int:
        with self.reading() as curs:
            curs.execute(self.sql("SELECT position FROM {schema}.positions WHERE follower = %s"),
                         (follower,))
            row = curs.fetchone()
        return row["position"] if row else 0

    def add_follower(self, follower: str) -> None:
        # Committed on its own: an uncommitted insert would block other instances' SKIP LOCKED.
        with self.transaction() as curs:
            curs.execute(self.sql("INSERT INTO {schema}.positions VALUES (%s, 0) ON CONFLICT DO NOTHING"),
                         (follower,))

    def lock_position(self, curs, follower: str) -> int | None:
        """Takes the follower's position for this transaction, or None if another instance holds it."""
        taken = self.take_positions(curs, [follower])
        return taken[follower][0] if follower in taken else None

    def take_positions(self, curs, followers: list[str], lock_wait: float | None = None) -> dict[str, tuple[int, bool]]:
        """Takes these followers' positions for this transaction, but those another instance holds: follower ->
        (position, whether it has open quarantine entries). In the same statement the transaction's commit is
        set not to wait for the disk (a follower re-derives what a crash lost from the log), and its lock
        timeout to `lock_wait` seconds, if given."""
        timeout = None if lock_wait is None else f"{max(1, int(lock_wait * 1000))}ms"
        curs.execute(self.sql(
            "SELECT p.follower, p.position, set_config('synchronous_commit', 'off', true) AS unflushed,"
            " set_config('lock_timeout', coalesce(%s, current_setting('lock_timeout')), true) AS lock_wait,"
            " EXISTS (SELECT 1 FROM {schema}.quarantine q WHERE q.follower = p.follower"
            " AND q.status <> 'resolved') AS open_entries"
            " FROM {schema}.positions p WHERE p.follower = ANY(%s) ORDER BY p.follower FOR UPDATE OF p SKIP LOCKED"),
            (timeout, followers))
        return {row["follower"]: (row["position"], row["open_entries"]) for row in curs.fetchall()}

    def advance_all(self, curs, reached: dict[str, int]) -> None:
        """Moves these followers' positions forward (never back) in one statement."""
        if reached:
            curs.execute(self.sql("UPDATE {schema}.positions p SET position = v.position"
                                  " FROM unnest(%s::text[], %s::bigint[]) AS v(follower, position)"
                                  " WHERE p.follower = v.follower AND p.position < v.position"),
                         (list(reached), list(reached.values())))

    def notifications_after(self, curs, position: int, limit: int) -> list[Notification]:
        """The log's next notifications after `position`, read in the caller's transaction."""
        curs.execute(self.sql("SELECT notification_id, originator_id, originator_version, topic, state"
                              " FROM {schema}.{events} WHERE notification_id > %s ORDER BY notification_id"
                              " LIMIT %s"), (position, limit))
        return [Notification(id=row["notification_id"], originator_id=row["originator_id"],
                             originator_version=row["originator_version"], topic=row["topic"],
                             state=bytes(row["state"])) for row in curs.fetchall()]

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def stream_versions(self, aggregate_ids: list[UUID]) -> dict[UUID, int]:
        """The newest version of each of these aggregates that exists, in one round trip."""
        with self.reading() as curs:
            curs.execute(self.sql("SELECT originator_id, max(originator_version) AS version FROM {schema}.{events}"
                                  " WHERE originator_id = ANY(%s) GROUP BY originator_id"), (aggregate_ids,))
            return {row["originator_id"]: row["version"] for row in curs.fetchall()}

    def get_one(self, aggregate_id: UUID, kind: type, missing: str):
        """The aggregate of that kind, or NotFound(missing)."""
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(missing) from None
        if not isinstance(aggregate, kind):
            raise NotFound(missing)
        return aggregate

    def create_once(self, kind: type, caller: "Caller", idempotency_key: str | None, request, build: Callable):
        """Saves `build(aggregate_id, request_hash)` once per (kind, user, Idempotency-Key): a retry of
        the same request gets the aggregate as first created; the key with another request is Conflict."""
        request_hash = fingerprint(request)
        if not idempotency_key:
            aggregate = build(uuid4(), request_hash)
            self.save(aggregate)
            return aggregate
        aggregate_id = request_id(kind, caller.username, idempotency_key)
        if first := self._first_version(aggregate_id, request_hash):
            return first
        aggregate = build(aggregate_id, request_hash)
        try:
            self.save(aggregate)
        except IntegrityError:
            # The same request, retried concurrently: the first one won.
            if first := self._first_version(aggregate_id, request_hash):
                return first
            raise
        return aggregate

    def _first_version(self, aggregate_id: UUID, request_hash: str):
        try:
            first: Any = self.repository.get(aggregate_id, version=1)  # any aggregate made by create_once
        except AggregateNotFoundError:
            return None
        if first.request_hash != request_hash:
            raise Conflict("This Idempotency-Key was used for a different request.")
        return first

    def command_once(self, caller: "Caller", idempotency_key: str | None, request, command: Callable[[], Any],
                     clash: str = "It changed meanwhile; reload it and try again.",
                     reached: Callable[[Any], None] = lambda first: None) -> Any:
        """Runs `command()` (get, decide, change: it returns the changed aggregate, unsaved) and saves it
        with a row naming (user, Idempotency-Key) in the same transaction. A retry of the same request
        gets the aggregate as that first save left it, changing nothing, once `reached(first)` (the
        access policy, without the state's say) lets the caller still see it (else it raises, NotFound);
        the key with another request is Conflict. Without a key, a clash with another writer is
        Conflict(`clash`)."""
        request_hash = fingerprint(request)
        if idempotency_key and (first := self.replay(caller, idempotency_key, request_hash)):
            reached(first)
            return first
        try:
            changed = command()
            record = (caller.username, idempotency_key, request_hash, changed.id, changed.version, 0)
            self.save(changed, idempotency=record if idempotency_key else None)
            return changed
        except (IntegrityError, *REFUSALS) as refused:
            # A retry that raced the first request finds the aggregate already changed (refused) or
            # the row already written (IntegrityError): the first one's answer is the answer.
            if idempotency_key and (first := self.replay(caller, idempotency_key, request_hash)):
                reached(first)
                return first
            if isinstance(refused, IntegrityError):
                raise Conflict(clash) from None
            raise

    def replay(self, caller: "Caller", idempotency_key: str, request_hash: str) -> Any:
        """The aggregate as a command sent with this key left it, if one ran; Conflict for another request."""
        first = self.first_answer(caller.username, idempotency_key)
        if first is None:
            return None
        if first["request_hash"] != request_hash:
            raise Conflict("This Idempotency-Key was used for a different request.")
        return self.repository.get(first["aggregate_id"], version=first["version"])

    def save_once(self, consumer: str, event_id: UUID, *aggregates) -> bool:
        """Saves the effect of a bus event with its inbox row, in one transaction. False: the event
        was processed before (a redelivery). Any other clash (the aggregate changed meanwhile) raises,
        so the consumer retries."""
        try:
            self.save(*aggregates, inbox=(consumer, event_id))
        except IntegrityError:
            if self.processed(consumer, event_id):
                return False
            raise
        return True

    def processed(self, consumer: str, event_id: UUID) -> bool:
        with self.reading() as curs:
            curs.execute(self.sql("SELECT 1 FROM {schema}.inbox WHERE consumer = %s AND event_id = %s"),
                         (consumer, event_id))
            return curs.fetchone() is not None

    def first_answer(self, username: str, key: str) -> dict | None:
        """What a command sent with this Idempotency-Key did the first time, if it ran."""
        with self.reading() as curs:
            curs.execute(self.sql("SELECT request_hash, aggregate_id, version, status FROM {schema}.idempotency"
                                  " WHERE username = %s AND key = %s"), (username, key))
            return curs.fetchone()

    def process_once(self, consumer: str, event_id: UUID, effect: Callable) -> bool:
        """Runs `effect(cursor)` in the same transaction that records `event_id` as processed
        by `consumer`. Returns False, doing nothing, for an event processed before."""
        with self.transaction() as curs:
            curs.execute(self.sql("INSERT INTO {schema}.inbox (consumer, event_id) VALUES (%s, %s)"
                                  " ON CONFLICT DO NOTHING RETURNING event_id"),
                         (consumer, event_id))
            if curs.fetchone() is None:
                return False
            effect(curs)
        return True


class AuditChains:
    """Reading a store's audit hash chains back: one chain's links, and verifying one chain or all."""

    def __init__(self, store: ServiceStore):
        self.store = store

    def chain(self, chain_id: UUID, after: int = 0, limit: int | None = None) -> list[dict]:
        """The chain's links in order, each with its stored event (None where the row is gone)."""
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(
                "SELECT c.sequence, c.originator_id, c.originator_version, c.hash, e.topic, e.state"
                " FROM {schema}.audit_chain c LEFT JOIN {schema}.{events} e USING (originator_id, originator_version)"
                " WHERE c.chain_id = %s AND c.sequence > %s ORDER BY c.sequence LIMIT %s"),
                (chain_id, after, limit))
            return curs.fetchall()

    def verify_chain(self, chain_id: UUID, streams: list[UUID]) -> dict:
        """Recomputes the chain over the stored events of `streams`. Any changed, removed, reordered
        or unlinked event makes it invalid, naming the first sequence that does not hold."""
        with self.store.datastore.transaction() as curs:
            # One snapshot: an event written meanwhile must not look like a link cut off or slipped in.
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            curs.execute(self.store.sql(
                "SELECT c.sequence, c.originator_id, c.originator_version, c.hash, e.topic, e.state"
                " FROM {schema}.audit_chain c LEFT JOIN {schema}.{events} e USING (originator_id, originator_version)"
                " WHERE c.chain_id = %s ORDER BY c.sequence"), (chain_id,))
            links = curs.fetchall()
            curs.execute(self.store.sql("SELECT sequence, hash FROM {schema}.audit_heads WHERE chain_id = %s"),
                         (chain_id,))
            head = curs.fetchone()
            curs.execute(self.store.sql("SELECT count(*) AS n FROM {schema}.{events}"
                                        " WHERE originator_id = ANY(%s)"), (streams,))
            stored = counted(curs)
        checker = ChainCheck()
        for link in links:
            checker.add(link)
        checker.end(head, stored)
        return checker.result()

    def verify_all(self, progress: Callable[[int], None] = lambda n: None) -> dict:
        """Every chain in the store, streamed in one pass. `progress(n)` after each batch of links."""
        invalid, seen, events = {}, set(), 0
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT chain_id, sequence, hash FROM {schema}.audit_heads"))
            heads = {row["chain_id"]: row for row in curs.fetchall()}
            curs.execute(self.store.sql("SELECT count(*) AS n FROM {schema}.{events}"
                                  " e WHERE NOT EXISTS (SELECT 1 FROM {schema}.audit_chain c WHERE"
                                  " c.originator_id = e.originator_id"
                                  " AND c.originator_version = e.originator_version)"))
            unchained = counted(curs)
        with self.store.datastore.get_connection() as conn, conn.transaction(), conn.cursor(name="verify_all") as curs:
            curs.itersize = 5000
            curs.execute(self.store.sql(
                "SELECT c.chain_id, c.sequence, c.originator_id, c.originator_version, c.hash, e.topic, e.state"
                " FROM {schema}.audit_chain c LEFT JOIN {schema}.{events} e USING (originator_id, originator_version)"
                " ORDER BY c.chain_id, c.sequence"))
            current: UUID | None = None  # the chain being walked (chain_id is never null)
            checker = ChainCheck()
            for link in curs:
                if link["chain_id"] != current:
                    if current is not None:
                        invalid.update(self._finish(checker, current, heads))
                    current, checker = link["chain_id"], ChainCheck()
                    seen.add(current)
                checker.add(link)
                events += 1
                if events % 5000 == 0:
                    progress(events)
            if current is not None:
                invalid.update(self._finish(checker, current, heads))
        progress(events)
        invalid.update({str(chain_id): 1 for chain_id in set(heads) - seen})  # every link gone
        return {"chains": len(seen | set(heads)), "events": events, "invalid": invalid,
                "unchained_events": unchained}

    @staticmethod
    def _finish(checker: "ChainCheck", chain_id: UUID, heads: dict) -> dict:
        checker.end(heads.get(chain_id), None)
        result = checker.result()
        return {} if result["valid"] else {str(chain_id): result["first_bad_sequence"]}
