"""Quarantine: where a follower sets aside an event it cannot handle, so that one bad event never
stops the others.

Every follower of events uses it: the outbox relay and the projections (following the store's
notification log) and the bus consumers. An event that fails `max_attempts` times for a reason of
its own (not a database or broker outage, which is waited out) is kept whole in the service's
`quarantine` table with its error, counted, and the follower goes on. Events of the same
aggregate that come after it are `held` behind it, so each aggregate's order holds; other
aggregates are not held up. Nothing is dropped: an operator lists, inspects and retries entries
with `python -m shared.quarantine` (`make quarantine`), after a fix. A retry is carried out by the
follower itself, in the transaction that resolves the entry, so a retried event is applied once.
"""
import re
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

import amqp.exceptions
import kombu.exceptions
import psycopg
import psycopg_pool
from eventsourcing import persistence
from psycopg import sql

from shared.metrics import EVENTS_QUARANTINED, gauge

# The `quarantine` table: shared/migrations/versions/plumbing.

# Failures that say nothing about the event: the database or the broker is away. They are waited
# out with backoff and never count towards quarantine.
OUTAGES = (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout,
           persistence.OperationalError, persistence.InterfaceError,
           OSError, kombu.exceptions.KombuError, amqp.exceptions.AMQPError)


class Status(StrEnum):
    QUARANTINED = "quarantined"  # failed every attempt: waits for an operator
    HELD = "held"                # waits behind an earlier entry of the same aggregate
    RETRYING = "retrying"        # an operator asked for it again (or what held it was resolved)
    RESOLVED = "resolved"        # applied at last


QUARANTINE_HEADER = "x-casetrail-quarantine"  # on a bus message: the entry it retries
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, OUTAGES)


def describe(exc: BaseException) -> str:
    """The error for an operator: its class and first line, quoted values left out (a database
    error may quote the value it refused, which may be survivor data)."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {_QUOTED.sub('…', first_line)}"[:500]


@dataclass(frozen=True)
class Entry:
    id: int
    follower: str
    aggregate_id: UUID | None
    event_id: UUID | None
    event_type: str
    notification_id: int | None
    originator_version: int | None
    body: bytes
    content_type: str | None
    status: Status
    attempts: int
    error: str
    blocked_by: int | None
    signature: str | None = None

    @classmethod
    def from_row(cls, row: dict) -> "Entry":
        fields = {name: row[name] for name in cls.__dataclass_fields__}
        return cls(**dict(fields, body=bytes(fields["body"]), status=Status(fields["status"])))


@dataclass(frozen=True)
class Arrival:
    """An event as a follower got it: enough to keep it whole and to handle it again."""
    aggregate_id: UUID | None
    event_type: str
    body: bytes
    event_id: UUID | None = None
    notification_id: int | None = None
    originator_version: int | None = None
    content_type: str | None = None
    signature: str | None = None


class Quarantine:
    """A service's quarantine table (in its schema), used inside the caller's transaction (`curs`)."""

    COLUMNS = ", ".join(Entry.__dataclass_fields__)

    def __init__(self, schema: str, service: str):
        self.schema, self.service = sql.Identifier(schema), service

    @classmethod
    def of(cls, store) -> "Quarantine":
        return cls(store.datastore.schema, store.settings.service)

    def sql(self, statement: str) -> sql.Composed:
        return sql.SQL(statement).format(schema=self.schema)

    def open_entries(self, curs, follower: str) -> list[Entry]:
        curs.execute(self.sql(f"SELECT {self.COLUMNS} FROM {{schema}}.quarantine"
                                    " WHERE follower = %s AND status <> 'resolved' ORDER BY id"), (follower,))
        return [Entry.from_row(row) for row in curs.fetchall()]

    def blocker(self, curs, follower: str, aggregate_id: UUID | None) -> int | None:
        """The earliest open entry of that aggregate, which a newcomer must wait behind."""
        if aggregate_id is None:
            return None
        curs.execute(self.sql("SELECT min(id) AS id FROM {schema}.quarantine"
                                    " WHERE follower = %s AND aggregate_id = %s AND status <> 'resolved'"),
                     (follower, aggregate_id))
        return curs.fetchone()["id"]

    def set_aside(self, curs, follower: str, arrival: Arrival, *, attempts: int, error: str,
                  blocked_by: int | None = None) -> int:
        status = Status.HELD if blocked_by is not None else Status.QUARANTINED
        curs.execute(self.sql(
            "INSERT INTO {schema}.quarantine (follower, aggregate_id, event_id, event_type, notification_id,"
            " originator_version, body, content_type, status, attempts, error, blocked_by, signature)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"),
            (follower, arrival.aggregate_id, arrival.event_id, arrival.event_type, arrival.notification_id,
             arrival.originator_version, arrival.body, arrival.content_type, status, attempts, error, blocked_by,
             arrival.signature))
        EVENTS_QUARANTINED.labels(self.service, follower, status).inc()
        return curs.fetchone()["id"]

    def resolve(self, curs, entry_id: int) -> None:
        curs.execute(self.sql("UPDATE {schema}.quarantine SET status = 'resolved', resolved_at = now()"
                                    " WHERE id = %s"), (entry_id,))

    def failed_again(self, curs, entry: Entry, error: str) -> None:
        """A retry failed: back to quarantine, with what it released held behind it again."""
        curs.execute(self.sql("UPDATE {schema}.quarantine SET status = 'quarantined', blocked_by = NULL,"
                                    " attempts = attempts + 1, error = %s WHERE id = %s"), (error, entry.id))
        curs.execute(self.sql("UPDATE {schema}.quarantine SET status = 'held', blocked_by = %s"
                                    " WHERE follower = %s AND aggregate_id = %s AND status = 'retrying' AND id > %s"),
                     (entry.id, entry.follower, entry.aggregate_id, entry.id))
        EVENTS_QUARANTINED.labels(self.service, entry.follower, Status.QUARANTINED).inc()

    def release_held(self, curs, follower: str, aggregate_id: UUID | None) -> list[Entry]:
        """Once what held them is resolved: the aggregate's held entries, in order, now retrying."""
        if aggregate_id is None:
            return []
        curs.execute(self.sql(
            f"UPDATE {{schema}}.quarantine SET status = 'retrying' WHERE follower = %s AND aggregate_id = %s"
            f" AND status = 'held' RETURNING {self.COLUMNS}"), (follower, aggregate_id))
        return sorted((Entry.from_row(row) for row in curs.fetchall()), key=lambda entry: entry.id)

    def entries(self, curs, *, include_resolved: bool = False) -> list[Entry]:
        where = "" if include_resolved else " WHERE status <> 'resolved'"
        curs.execute(self.sql(f"SELECT {self.COLUMNS} FROM {{schema}}.quarantine{where} ORDER BY id"))
        return [Entry.from_row(row) for row in curs.fetchall()]

    def retry(self, curs, entry_id: int) -> None:
        """An operator's request: the follower applies it again (shared/outbox.py, shared/consumer.py)."""
        curs.execute(self.sql("UPDATE {schema}.quarantine SET status = 'retrying' WHERE id = %s"), (entry_id,))

    def entry(self, curs, entry_id: int) -> Entry | None:
        curs.execute(self.sql(f"SELECT {self.COLUMNS} FROM {{schema}}.quarantine WHERE id = %s"),
                     (entry_id,))
        row = curs.fetchone()
        return Entry.from_row(row) if row else None

    def gauges(self, curs) -> list:
        curs.execute(self.sql("SELECT follower, status, count(*) AS n FROM {schema}.quarantine"
                                    " WHERE status <> 'resolved' GROUP BY follower, status"))
        rows = [(self.service, row["follower"], row["status"], row["n"]) for row in curs.fetchall()]
        return [gauge("casetrail_quarantined_events", "Events set aside, by follower and status (quarantined:"
                      " failed every attempt, waits for an operator; held: waits behind one; retrying)",
                      ["service", "follower", "status"], rows)]


def attempts_exhausted(failures: dict, key, max_attempts: int) -> int | None:
    """Counts one more failure of `key`; the count once it reaches `max_attempts`, else None."""
    failures[key] = failures.get(key, 0) + 1
    if failures[key] < max_attempts:
        return None
    return failures.pop(key)
