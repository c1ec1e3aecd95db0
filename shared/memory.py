"""A service's store in memory, for use-case tests that need no PostgreSQL (tests/unit/test_use_cases_*.py).

The use cases run unchanged over eventsourcing's POPO persistence ("plain old Python objects"), as in
eventsourcing's own examples and cosmicpython's fake unit of work. What the PostgreSQL store writes in
the same transaction as the events (shared/store.py `ServiceRecorder`: the inbox, idempotency rows, the
audit chains, other statements) the `MemoryRecorder` keeps in `tables`, a dict of plain Python values:

- an inbox or idempotency key saved twice fails the whole save with `IntegrityError`, as the primary key does;
- `statements` are callables `statement(tables)`, the in-memory twins of the SQL tuples a PostgreSQL store
  passes (each service's memory twin makes them: tests/memory.py);
- `transaction()` yields `tables` (a service's in-memory read models take it where they take a cursor), and
  puts every table back as it was if the block raises, as a rollback does.

`InMemory` is put before a service's store class (`class MemoryCases(InMemory, Cases)`): it opens the POPO
persistence instead of PostgreSQL (ServiceStore.open_persistence) and answers the plumbing the use cases
call (processed, first_answer, process_once, transaction). Nothing here opens a connection; reads that only
a database answers (follower positions, chain verification, gauges) are not available in memory."""
import contextlib
import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from shared.settings import AmqpTls, CallerKeySettings, Settings
from shared.store import GENESIS, link_hash

Tables = dict[str, Any]


class MemoryRecorder(POPOApplicationRecorder):
    """POPO events, plus the rows the PostgreSQL recorder writes in the same transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: Tables = {"inbox": set(), "idempotency": {}, "audit_chain": {}, "audit_heads": {}}
        self._tables_lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tables]:
        """One transaction over the tables: all of it, or (on an exception) none of it."""
        with self._tables_lock:
            before = copy.deepcopy(self.tables)
            try:
                yield self.tables
            except BaseException:
                self.tables.clear()
                self.tables.update(before)
                raise

    def _insert_events(self, stored_events: Sequence[StoredEvent], *, inbox: tuple | None = None,
                       idempotency: tuple | None = None, statements: Sequence[Callable[[Tables], Any]] = (),
                       chains: dict | None = None, **kwargs: Any) -> Sequence[int] | None:
        with self._database_lock, self.transaction() as tables:
            self._assert_uniqueness(stored_events)  # before any table changes: a clash changes nothing
            if inbox is not None:
                if tuple(inbox) in tables["inbox"]:
                    raise IntegrityError(f"inbox row {inbox} exists")
                tables["inbox"].add(tuple(inbox))
            if idempotency is not None:
                username, key, request_hash, aggregate_id, version, status = idempotency
                if (username, key) in tables["idempotency"]:
                    raise IntegrityError("idempotency row exists")
                tables["idempotency"][(username, key)] = {
                    "request_hash": request_hash, "aggregate_id": aggregate_id, "version": version, "status": status}
            for statement in statements:
                statement(tables)
            if chains:
                self._extend_chains(tables, stored_events, chains)
            return self._update_table(stored_events)

    @staticmethod
    def _extend_chains(tables: Tables, stored_events: Sequence[StoredEvent], chains: dict) -> None:
        for stored in stored_events:
            chain_id = chains.get(stored.originator_id)
            if chain_id is None:
                continue
            sequence, prev_hash = tables["audit_heads"].get(chain_id, (0, GENESIS))
            head = (sequence + 1, link_hash(prev_hash, stored.originator_id, stored.originator_version, stored.topic,
                                            stored.state))
            tables["audit_chain"].setdefault(chain_id, []).append(
                {"sequence": head[0], "originator_id": stored.originator_id,
                 "originator_version": stored.originator_version, "hash": head[1]})
            tables["audit_heads"][chain_id] = head

    def originators(self) -> list[UUID]:
        """Every stream that holds events, in the order each was first written."""
        with self._database_lock:
            return [UUID(originator_id) for originator_id, versions in self._stored_events_index.items()
                    if versions]


class MemoryFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return MemoryRecorder()


MEMORY_ENV = {"PERSISTENCE_MODULE": "shared.memory:MemoryFactory"}


class InMemory:
    """Put first in a store's bases: the store over POPO persistence, its plumbing in `MemoryRecorder`."""

    recorder: MemoryRecorder  # what Application.__init__ constructs from MEMORY_ENV

    def open_persistence(self, settings: Settings) -> None:
        Application.__init__(self, env=MEMORY_ENV)  # type: ignore[arg-type]

    @property
    def tables(self) -> Tables:
        return self.recorder.tables

    def transaction(self):
        return self.recorder.transaction()

    def reading(self):
        return self.recorder.transaction()

    def processed(self, consumer: str, event_id: UUID) -> bool:
        return (consumer, event_id) in self.recorder.tables["inbox"]

    def first_answer(self, username: str, key: str) -> dict | None:
        return self.recorder.tables["idempotency"].get((username, key))

    def process_once(self, consumer: str, event_id: UUID, effect: Callable) -> bool:
        with self.transaction() as tables:
            if (consumer, event_id) in tables["inbox"]:
                return False
            tables["inbox"].add((consumer, event_id))
            effect(tables)
        return True

    def stream_versions(self, aggregate_ids: list[UUID]) -> dict[UUID, int]:
        newest = {aggregate_id: self.recorder.select_events(aggregate_id, desc=True, limit=1)
                  for aggregate_id in aggregate_ids}
        return {aggregate_id: events[0].originator_version for aggregate_id, events in newest.items() if events}

    def add_follower(self, follower: str) -> None:
        raise NotImplementedError("followers of the log run on PostgreSQL only")


def memory_settings(service: str) -> Settings:
    """Settings for a store in memory: no database, no broker; never read from the environment."""
    return Settings(service=service, postgres_host="", postgres_port=0, postgres_dbname="", postgres_user="",
                    postgres_password="", postgres_schema=service, postgres_pool_size=0, postgres_max_overflow=0,
                    cipher_key="", amqp_uri="", relay_poll_seconds=0.0, relay_batch_size=0,
                    follower_max_attempts=0, postgres_connect_timeout=0,
                    amqp_tls=AmqpTls(ca_file="", cert_file="", key_file=""), queue_type="classic",
                    consumer_max_attempts=0, consumer_retry_delay=0.0,
                    caller_keys=CallerKeySettings(own_key="", public_keys="", token_seconds=30.0))
