"""The event-sourced store each service owns: eventsourcing on PostgreSQL, in the service's own
schema, event state encrypted at rest, plus two small tables of plumbing:
`positions` (how far each follower of the notification log got) and `inbox` (which bus events
a consumer already processed)."""
import hashlib
import json
from collections.abc import Callable
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql

from shared.errors import Conflict, NotFound
from shared.settings import Settings

SUPPORT_TABLES = (
    "CREATE TABLE IF NOT EXISTS {schema}.positions ("
    " follower text PRIMARY KEY, position bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.inbox ("
    " consumer text NOT NULL, event_id uuid NOT NULL,"
    " processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id))",
    "CREATE TABLE IF NOT EXISTS {schema}.idempotency ("
    " username text NOT NULL, key text NOT NULL, request_hash text NOT NULL,"
    " aggregate_id uuid NOT NULL, version integer NOT NULL, status integer NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (username, key))",
)


class ServiceRecorder(PostgresApplicationRecorder):
    """Writes an inbox or idempotency row in the same transaction as the events:
    `store.save(case, inbox=(consumer, event_id))`, `store.save(case, idempotency=Replay(...))`.
    A second save with the same inbox or idempotency key fails whole, with IntegrityError."""

    def _insert_events(self, curs, stored_events, *, inbox=None, idempotency=None, **kwargs) -> None:
        schema = sql.Identifier(self.datastore.schema)
        if inbox is not None:
            curs.execute(sql.SQL("INSERT INTO {}.inbox (consumer, event_id) VALUES (%s, %s)").format(schema),
                         inbox)
        if idempotency is not None:
            curs.execute(sql.SQL("INSERT INTO {}.idempotency (username, key, request_hash, aggregate_id,"
                                 " version, status) VALUES (%s, %s, %s, %s, %s, %s)").format(schema),
                         idempotency)
        super()._insert_events(curs, stored_events, **kwargs)


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
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": settings.cipher_key,
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        "APPLICATION_RECORDER_TOPIC": "shared.store:ServiceRecorder",
    }


def create_schema(settings: Settings) -> None:
    with psycopg.connect(host=settings.postgres_host, port=settings.postgres_port,
                         dbname=settings.postgres_dbname, user=settings.postgres_user,
                         password=settings.postgres_password, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
            sql.Identifier(settings.postgres_schema)))


class ServiceStore(Application):
    """Base for each service's application. Subclasses add `tables` (SQL with {schema})."""

    log_section_size = 500
    tables: tuple[str, ...] = ()

    def __init__(self, settings: Settings):
        create_schema(settings)
        super().__init__(env=store_env(settings))
        self.settings = settings
        self.datastore = self.recorder.datastore
        self.schema = sql.Identifier(self.datastore.schema)
        self.commit_listeners: list[Callable[[], None]] = []
        with self.datastore.transaction(commit=True) as curs:
            for statement in SUPPORT_TABLES + self.tables:
                curs.execute(self.sql(statement))

    def sql(self, statement: str) -> sql.Composed:
        """A statement with {schema} bound to this service's schema."""
        return sql.SQL(statement).format(schema=self.schema)

    def _notify(self, recordings) -> None:
        # Right after a commit: wake the outbox relay and projections instead of waiting a poll.
        for listener in self.commit_listeners:
            listener()

    def transaction(self):
        return self.datastore.transaction(commit=True)

    def position(self, follower: str) -> int:
        with self.datastore.transaction() as curs:
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
        curs.execute(self.sql("SELECT position FROM {schema}.positions WHERE follower = %s"
                              " FOR UPDATE SKIP LOCKED"), (follower,))
        row = curs.fetchone()
        return row["position"] if row else None

    def advance(self, curs, follower: str, position: int) -> None:
        curs.execute(self.sql("UPDATE {schema}.positions SET position = %s"
                              " WHERE follower = %s AND position < %s"),
                     (position, follower, position))

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def get_one(self, aggregate_id: UUID, kind: type, missing: str):
        """The aggregate of that kind, or NotFound(missing)."""
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(missing) from None
        if not isinstance(aggregate, kind):
            raise NotFound(missing)
        return aggregate

    def create_once(self, kind: type, caller: dict, idempotency_key: str | None, request, build: Callable):
        """Saves `build(aggregate_id, request_hash)` once per (kind, user, Idempotency-Key): a retry of
        the same request gets the aggregate as first created; the key with another request is Conflict."""
        request_hash = fingerprint(request)
        if not idempotency_key:
            aggregate = build(uuid4(), request_hash)
            self.save(aggregate)
            return aggregate
        aggregate_id = request_id(kind, caller["username"], idempotency_key)
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
            first = self.repository.get(aggregate_id, version=1)
        except AggregateNotFoundError:
            return None
        if first.request_hash != request_hash:
            raise Conflict("This Idempotency-Key was used for a different request.")
        return first

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
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT 1 FROM {schema}.inbox WHERE consumer = %s AND event_id = %s"),
                         (consumer, event_id))
            return curs.fetchone() is not None

    def first_answer(self, username: str, key: str) -> dict | None:
        """What a command sent with this Idempotency-Key did the first time, if it ran."""
        with self.datastore.transaction() as curs:
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
