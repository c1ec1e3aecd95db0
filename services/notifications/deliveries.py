"""One delivery queue for every channel that leaves the service (e-mail, webhooks): a row per
(event, destination), queued in the transaction that decides the notification (a redelivered event
queues nothing new), claimed under a lease so no transaction stays open while a destination answers
and no other instance tries it meanwhile, every attempt recorded in `delivery_attempts`, retried
after doubling delays and given up after a bounded number of attempts. Each channel keeps its own
table and decides what an attempt is (mail.py, webhooks.py)."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid5

PENDING, FAILED = "pending", "failed"

# The tables (deliveries, delivery_attempts, email_deliveries): services/notifications/migrations.


def status_after(attempt: int, succeeded: bool, final: bool, max_attempts: int, done: str) -> str:
    """A delivery's status after its `attempt`-th attempt: `done`, given up, or still pending."""
    if succeeded:
        return done
    return FAILED if final or attempt >= max_attempts else PENDING


def retry_at(now: datetime, first_delay: float, attempt: int) -> datetime:
    """When the next attempt is due: `first_delay` after the first, doubling each time."""
    return now + timedelta(seconds=first_delay * 2 ** (attempt - 1))


@dataclass(frozen=True)
class Queue:
    """One channel's deliveries: its table, the namespace its delivery ids are made in, and the status a
    delivery made has (`done`)."""

    table: str
    namespace: UUID
    done: str

    def delivery_id(self, event_id, destination) -> UUID:
        """Once per (event, destination): a second attempt to queue it collides with the first."""
        return uuid5(self.namespace, f"{event_id}:{destination}")

    def add(self, store, curs, event_id, destination, **columns) -> None:
        names = ", ".join(("delivery_id", *columns))
        marks = ", ".join(["%s"] * (len(columns) + 1))
        curs.execute(store.sql(f"INSERT INTO {{schema}}.{self.table} ({names}) VALUES ({marks})"
                               " ON CONFLICT DO NOTHING"), (self.delivery_id(event_id, destination), *columns.values()))

    def claim(self, store, limit: int, lease_seconds: float, where: str = "", params: tuple = ()) -> list[dict]:
        """Up to `limit` due deliveries (`where`: more conditions), leased for `lease_seconds`."""
        with store.transaction() as curs:
            curs.execute(store.sql(f"SELECT * FROM {{schema}}.{self.table} WHERE status = 'pending'"
                                   f" AND next_attempt_at <= now(){where} ORDER BY next_attempt_at LIMIT %s"
                                   " FOR UPDATE SKIP LOCKED"), (*params, limit))
            due = curs.fetchall()
            curs.execute(store.sql(f"UPDATE {{schema}}.{self.table} SET next_attempt_at = now() + %s * interval"
                                   " '1 second' WHERE delivery_id = ANY(%s)"),
                         (lease_seconds, [d["delivery_id"] for d in due]))
        return due

    def record(self, store, delivery: dict, attempt: int, at: datetime, status: str, next_at: datetime,
               status_code: int | None, error: str | None) -> None:
        """The attempt, and what the delivery is left with, in one transaction."""
        with store.transaction() as curs:
            curs.execute(store.sql("INSERT INTO {schema}.delivery_attempts VALUES (%s, %s, %s, %s, %s)"),
                         (delivery["delivery_id"], attempt, at, status_code, error))
            curs.execute(store.sql(f"UPDATE {{schema}}.{self.table} SET status = %s, attempts = %s,"
                                   " next_attempt_at = %s WHERE delivery_id = %s"),
                         (status, attempt, next_at, delivery["delivery_id"]))

    def cancel(self, store, curs, where: str, params: tuple) -> None:
        """Deliveries not yet made that will not be made (`where`: which)."""
        curs.execute(store.sql(f"UPDATE {{schema}}.{self.table} SET status = 'cancelled' WHERE {where}"
                               " AND status = 'pending'"), params)
