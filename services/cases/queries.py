"""The cases service's read side: the case list (a projection of the log) and its SQL, the changes
feed for offline sync (another projection), the figures for /metrics, a case's past states, referrals
and activity, and the audit trail's reads (history, verification, signed exports and checkpoints).
Which reads a caller may make is policy.py's to decide; every read of a case's record is itself
recorded in the case's chain."""
import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from services.cases import policy
from services.cases.attestation import (
    compare_with_checkpoint,
    keyring,
    latest_checkpoint,
    make_checkpoint,
    seal_bundle,
    write_checkpoint,
)
from services.cases.domain import Case, CaseActivity, Consent, activity_view
from services.cases.keyring import MasterKeys
from services.cases.views import case_view, damaged_item, history_item, index_item, redacted_item
from shared.caller import Caller
from shared.errors import InvalidInput, NotFound
from shared.keys import derived_key
from shared.metrics import gauge
from shared.organisations import organisation_or_first
from shared.outbox import Projection
from shared.paging import Cursors, page
from shared.store import GENESIS, AuditChains
from shared.times import iso
from shared.vocabulary import RiskLevel, Stage

if TYPE_CHECKING:
    from services.cases.store import CaseStore

_OPEN = f"stage <> '{Stage.CLOSED}'"  # an open case, in SQL

# --- the case list: kept by following the log (never by loading aggregates) ----------------------

# Its tables (case_index, case_referrals): services/cases/migrations.


def _moved(before: Stage, after: Stage) -> str:
    """SQL: the stage moves on to `after` if it is `before`; otherwise it stays."""
    return f"stage = CASE WHEN stage = '{before}' THEN '{after}' ELSE stage END"


class CaseIndex(Projection):
    """The list of cases and their due dates, kept by following the log (never by loading aggregates)."""

    name = "case_index"
    # What each event of a case changes in its row: SQL, and the event's fields that fill it.
    CHANGES: ClassVar[dict[type, tuple[str, tuple[str, ...]]]] = {
        Case.AssessmentRecorded: (f"stage = '{Stage.CASE_PLAN}'", ()),
        Case.CasePlanApproved: (_moved(Stage.CASE_PLAN, Stage.IMPLEMENTATION) + ", next_due = %s", ("next_due",)),
        Case.FollowUpRecorded: (_moved(Stage.IMPLEMENTATION, Stage.FOLLOW_UP) + ", next_due = %s", ("next_due",)),
        Case.RiskLevelChanged: ("risk_level = %s, next_due = %s", ("risk_level", "next_due")),
        Case.FollowUpOverdue: ("overdue_flagged = %s", ("due",)),
        Case.CaseReassigned: ("assigned_to = %s", ("caseworker",)),
        Case.CaseClosed: (f"stage = '{Stage.CLOSED}', next_due = NULL", ()),
        Case.CaseReopened: (f"stage = '{Stage.FOLLOW_UP}', next_due = %s", ("next_due",)),
    }

    def apply(self, store, curs, event) -> None:
        if isinstance(event, Case.CaseRegistered):
            curs.execute(store.sql(
                "INSERT INTO {schema}.case_index (case_id, case_number, stage, risk_level, assigned_to,"
                " is_child, version, created_at, updated_at, organisation)"
                f" VALUES (%s,%s,'{Stage.ENGAGEMENT}',%s,%s,%s,%s,%s,%s,%s)"),
                (event.originator_id, event.case_number, event.risk_level, event.assigned_to,
                 event.is_child, event.originator_version, event.timestamp, event.timestamp,
                 organisation_or_first(getattr(event, "organisation", None))))  # issue 19: older events name none
            return
        if not isinstance(event, Case.Event):
            return  # consent lives in its own stream
        change, fields = self.CHANGES.get(type(event), ("", ()))
        assignments = ", ".join(filter(None, [change, "version = %s, updated_at = %s"]))
        curs.execute(store.sql(f"UPDATE {{schema}}.case_index SET {assignments} WHERE case_id = %s"),
                     (*(getattr(event, f) for f in fields), event.originator_version, event.timestamp,
                      event.originator_id))


# --- the changes feed for offline sync (GET /v1/changes): kept by following the log too ---------------

# Its tables (case_changes, case_departures) and sequence (case_change_seq): services/cases/migrations.
_NEXT = "nextval('{schema}.case_change_seq')"


class CaseChanges(Projection):
    """Each case's latest change, and whom it was taken from: what the changes feed reads.

    A change is anything that changes what GET /v1/cases/{id} shows: an event of the case file, of its
    consent, or of its activity (referrals, approvals); reads of the case (its access stream) are not.
    Each change takes the next `position` from case_change_seq. Only this projection takes them, while
    it holds its place in the log (shared/outbox.py: FOR UPDATE), so positions commit in the order they
    are taken and a reader that saw position P has seen every change at or below P."""

    name = "case_changes"

    def apply(self, store, curs, event) -> None:
        if isinstance(event, Case.CaseRegistered):
            curs.execute(store.sql(
                "INSERT INTO {schema}.case_changes (case_id, case_number, organisation, assigned_to, version,"
                f" position) VALUES (%s, %s, %s, %s, %s, {_NEXT})"),
                (event.originator_id, event.case_number, organisation_or_first(getattr(event, "organisation", None)),
                 event.assigned_to, event.originator_version))
        elif isinstance(event, Case.CaseReassigned):
            self._left(store, curs, event)
            curs.execute(store.sql(f"UPDATE {{schema}}.case_changes SET assigned_to = %s, version = %s,"
                                   f" position = {_NEXT} WHERE case_id = %s"),
                         (event.caseworker, event.originator_version, event.originator_id))
        elif isinstance(event, Case.Event):
            curs.execute(store.sql(f"UPDATE {{schema}}.case_changes SET version = %s, position = {_NEXT}"
                                   " WHERE case_id = %s"), (event.originator_version, event.originator_id))
        elif isinstance(event, (Consent.Event, CaseActivity.Event)):  # the case file's version stays
            curs.execute(store.sql(f"UPDATE {{schema}}.case_changes SET position = {_NEXT} WHERE case_id = %s"),
                         (event.case_id,))  # type: ignore[attr-defined]  # each of their events names it

    @staticmethod
    def _left(store, curs, event) -> None:
        """The case leaves the caseworker who held it: the latest such departure is kept per caseworker."""
        curs.execute(store.sql(
            "INSERT INTO {schema}.case_departures (case_id, caseworker, organisation, version, position)"
            f" SELECT case_id, assigned_to, organisation, %s, {_NEXT} FROM {{schema}}.case_changes"
            " WHERE case_id = %s AND assigned_to <> %s ON CONFLICT (case_id, caseworker)"
            " DO UPDATE SET version = EXCLUDED.version, position = EXCLUDED.position"),
            (event.originator_version, event.originator_id, event.caseworker))


@dataclass(frozen=True)
class ChangesCursor:
    """Where a client's copy stands: every change up to `position` of the scope `scope` names."""
    position: int
    scope: str


class ChangesFeed:
    """GET /v1/changes: what changed in the caller's scope since a cursor, in position order. A case in
    scope that changed is listed once, `updated`, with its file's version (its ETag); a case that left
    the scope (reassigned away) is listed `left_scope`, with the version it left at. An answer that
    starts from nothing (no cursor, a cursor of another scope, or one ahead of what this service holds)
    lists everything in scope and says `reset`: the client's copy is to be replaced."""

    def __init__(self, store: "CaseStore"):
        self.store = store
        self.cursors = ChangesCursors(store.settings.master_keys)

    def page(self, caller: Caller, since: str | None, limit: int) -> dict:
        organisation = policy.organisation_seen(caller, "list_changes")
        scope = sorted(set(policy.caseworkers_seen(caller, "list_changes")))
        digest = scope_digest(organisation, scope)
        cursor = self.cursors.read(since) if since is not None else None
        self.catch_up()
        with self.store.datastore.transaction() as curs:
            # One snapshot: the head and the rows below it are read as of the same moment.
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head = self._head(curs)
            reset = cursor is None or cursor.scope != digest or cursor.position > head
            after = 0 if reset or cursor is None else cursor.position
            rows = self._changes(curs, organisation, scope, after, head, limit + 1, departures=not reset)
        items = rows[:limit]
        reached = items[-1]["position"] if len(rows) > limit else head
        return {"items": [change_item(row) for row in items], "reset": reset,
                "next_cursor": self.cursors.make(ChangesCursor(reached, digest))}

    def catch_up(self) -> None:
        """Read-your-writes: waits until the projection has followed the log as far as the log reached
        when the request came (a command that returned before is in it), for at most `changes_wait`
        (a quarter of RPC_TIMEOUT_SECONDS, so the gateway still gets an answer); then answers with what
        is there (late, never wrong: the cursor says how far it got)."""
        head = self.store.max_notification_id()
        if self.store.position(CaseChanges.name) >= head:
            return
        for wake in self.store.commit_listeners:  # this instance's followers step now, not at their next poll
            wake(head)
        deadline = time.monotonic() + self.store.settings.changes_wait
        while self.store.position(CaseChanges.name) < head and time.monotonic() < deadline:
            time.sleep(0.02)

    def _head(self, curs) -> int:
        curs.execute(self.store.sql("SELECT greatest((SELECT max(position) FROM {schema}.case_changes),"
                                    " (SELECT max(position) FROM {schema}.case_departures), 0) AS head"))
        row = curs.fetchone()
        return row["head"] if row else 0

    def _changes(self, curs, organisation: str, scope: list[str], after: int, head: int, limit: int,
                 departures: bool) -> list[dict]:
        params = {"organisation": organisation, "scope": scope, "after": after, "head": head, "limit": limit}
        updated = ("SELECT case_id, case_number, version, position, 'updated' AS change FROM {schema}.case_changes"
                   " WHERE organisation = %(organisation)s AND assigned_to = ANY(%(scope)s)"
                   " AND position > %(after)s AND position <= %(head)s")
        # A case reassigned away from someone in scope to someone outside it, after the cursor; once.
        left = ("SELECT DISTINCT ON (d.case_id) d.case_id, NULL AS case_number, d.version, d.position,"
                " 'left_scope' AS change FROM {schema}.case_departures d JOIN {schema}.case_changes c USING (case_id)"
                " WHERE d.organisation = %(organisation)s AND d.caseworker = ANY(%(scope)s)"
                " AND d.position > %(after)s AND d.position <= %(head)s AND NOT c.assigned_to = ANY(%(scope)s)"
                " ORDER BY d.case_id, d.position DESC")
        union = f"({updated}) UNION ALL ({left})" if departures else updated
        curs.execute(self.store.sql(f"SELECT * FROM ({union}) AS changes ORDER BY position LIMIT %(limit)s"), params)
        return curs.fetchall()


def change_item(row: dict) -> dict:
    """An item of the feed: ids, a version and what happened; nothing identifying."""
    item = {"case_id": str(row["case_id"]), "version": row["version"], "change": row["change"]}
    return {**item, "case_number": row["case_number"]} if row["case_number"] else item


def scope_digest(organisation: str, caseworkers: list[str]) -> str:
    """Names a scope (an organisation and whose cases in it): a cursor holds it, so a cursor minted for
    another scope (a supervisor's team changed, another user's) is known for one."""
    named = "\n".join([str(organisation), *sorted(caseworkers)])
    return hashlib.sha256(named.encode()).hexdigest()[:32]


class ChangesCursors:
    """Cursors of the changes feed: `<position>.<scope digest>.<MAC>`, the MAC keyed by a key derived
    from CASES_MASTER_KEY (HKDF), so a cursor this service did not give out is refused (422). A cursor
    MACed under a retired master key (CASES_RETIRED_MASTER_KEYS) is still read: a rotation does not
    send every offline client back to the beginning."""

    PATTERN = re.compile(r"([0-9]{1,18})\.([0-9a-f]{32})\.([0-9a-f]{32})")

    def __init__(self, master: MasterKeys):
        self.keys = [derived_key(key, b"casetrail changes-feed cursor v1") for key in master.by_id.values()]

    def make(self, cursor: ChangesCursor) -> str:
        body = f"{cursor.position}.{cursor.scope}"
        return f"{body}.{self._mac(self.keys[0], body)}"  # the current key's

    def read(self, text: str) -> ChangesCursor:
        found = self.PATTERN.fullmatch(text) if len(text) <= 100 else None
        if found is None or not any(hmac.compare_digest(self._mac(key, f"{found[1]}.{found[2]}"), found[3])
                                    for key in self.keys):
            raise InvalidInput({"since": ["Not a cursor this feed gave out: start again without `since`."]})
        return ChangesCursor(int(found[1]), found[2])

    @staticmethod
    def _mac(key: bytes, body: str) -> str:
        return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:32]


def case_gauges(store: "CaseStore") -> list:
    """The figures for /metrics: open cases by stage and risk, closed cases, overdue follow-ups."""
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT stage, risk_level, count(*) AS n FROM {schema}.case_index"
                               " GROUP BY stage, risk_level"))
        counts = {(row["stage"], row["risk_level"]): row["n"] for row in curs.fetchall()}
        curs.execute(store.sql(f"SELECT count(*) AS n FROM {{schema}}.case_index WHERE {_OPEN} AND next_due < %s"),
                     (store.clock(),))
        overdue = _count(curs)
    open_stages = [stage for stage in Stage if stage != Stage.CLOSED]
    closed = sum(n for (stage, _), n in counts.items() if stage == Stage.CLOSED)
    return [
        gauge("casetrail_open_cases", "Open cases by stage and risk level", ["stage", "risk_level"],
              [(stage, risk, counts.get((stage, risk), 0)) for stage in open_stages for risk in RiskLevel]),
        gauge("casetrail_closed_cases", "Closed cases", [], [(closed,)]),
        gauge("casetrail_overdue_follow_ups", "Open cases whose follow-up due time has passed", [], [(overdue,)]),
    ]


def _count(curs) -> int:
    """The answer of a `SELECT count(*) AS n` (one row, always)."""
    row = curs.fetchone()
    return row["n"] if row else 0


class Indexed:
    """A case known only from the index (its events damaged): who holds it, its organisation; open to
    reading only."""

    def __init__(self, assigned_to: str, organisation: str):
        self.assigned_to = assigned_to
        self.organisation = organisation

    def refusal(self, action: str) -> str:
        return "The case's stored events are damaged; it can be read and verified, not changed."


def indexed(store: "CaseStore", case_ids: list[UUID]) -> dict[UUID, Indexed]:
    """Who holds each of these cases, as the index says."""
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT case_id, assigned_to, organisation FROM {schema}.case_index"
                               " WHERE case_id = ANY(%s)"), (case_ids,))
        return {row["case_id"]: Indexed(row["assigned_to"], str(row["organisation"])) for row in curs.fetchall()}


# --- reads of the case file and the case list ------------------------------------------------------

class CaseQueries:
    """The case file now or at a moment, its referrals and activity, the case list, and the lookups
    the use cases need (due follow-ups, the cases referred to a provider)."""

    def __init__(self, store: "CaseStore"):
        self.store = store

    def read_case(self, caller: Caller, case_id: UUID) -> Case:
        case = self.store.case_for(caller, case_id, "read")
        self.store.record_view(caller, case_id, "case")
        return case

    def case_as_of(self, caller: Caller, case_id: UUID, moment: datetime) -> tuple[Case, Consent | None, dict]:
        """The case file, its consent, and its referrals and approvals, as they were at `moment`."""
        self.store.standing_for(caller, case_id, "as_of")
        self.store.record_view(caller, case_id, "as_of")
        version = self.store.version_at(case_id, moment)
        if version is None:
            raise NotFound("The case did not exist at that time.")
        consent_id = Consent.id_for(case_id)
        consent_version = self.store.version_at(consent_id, moment)
        consent = self.store.repository.get(consent_id, version=consent_version) if consent_version else None
        return self.store.repository.get(case_id, version=version), consent, self.activity_of(case_id, moment)

    def activity_of(self, case_id: UUID, moment: datetime | None = None) -> dict:
        """Referrals and approvals as the case's activity stream says they were at `moment` (or now)."""
        events: Iterable[Any] = self.store.events.get(CaseActivity.id_for(case_id))
        return activity_view(e for e in events if moment is None or e.timestamp <= moment)

    def referrals_of(self, case_id: UUID) -> list[dict]:
        with self.store.reading() as curs:
            curs.execute(self.store.sql("SELECT referral_id, provider_id, service_type, status"
                                        " FROM {schema}.case_referrals WHERE case_id = %s ORDER BY referral_id"),
                         (case_id,))
            return [{k: str(v) for k, v in row.items()} for row in curs.fetchall()]

    def list_cases(self, caller: Caller, filters: dict) -> dict:
        """A page of the cases in the caller's scope, in case number order (unique: keyset paging)."""
        cursors = Cursors(self.store.settings.cipher_key, "cases")
        where, params = self._where(caller, filters, cursors.read(filters["cursor"], 1))
        limit = filters["limit"]
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(
                "SELECT case_id, case_number, stage, risk_level, assigned_to, is_child, next_due,"
                " version, created_at, updated_at FROM {schema}.case_index WHERE " + " AND ".join(where) +
                " ORDER BY case_number LIMIT %s"), [*params, limit + 1])
            rows = curs.fetchall()
        now = self.store.clock()
        return page([index_item(row, now) for row in rows[:limit]], rows, limit,
                    lambda row: cursors.make(row["case_number"]))

    def caseload(self, username: str, shown: int = 20) -> dict:
        """The open cases `username` holds: how many, and the first numbers (case numbers carry no
        personal data)."""
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(f"SELECT case_number FROM {{schema}}.case_index WHERE assigned_to = %s"
                                        f" AND {_OPEN} ORDER BY case_number"), (username,))
            numbers = [row["case_number"] for row in curs.fetchall()]
        return {"open_cases": len(numbers), "case_numbers": numbers[:shown]}

    def _where(self, caller: Caller, filters: dict, after: tuple | None) -> tuple[list[str], list]:
        organisation, caseworkers = policy.case_list_reach(caller, filters)
        where: list[str] = ["organisation = %s"]
        params: list[Any] = [organisation]
        if caseworkers is not None:
            where.append("assigned_to = ANY(%s)")
            params.append(caseworkers)
        for column in ("stage", "risk_level", "assigned_to", "case_number"):
            if column in filters:
                where.append(f"{column} = %s")
                params.append(filters[column])
        if "overdue" in filters:
            where.append(f"({_OPEN} AND next_due IS NOT NULL AND next_due < %s) = %s")
            params += [self.store.clock(), filters["overdue"]]
        if after is not None:
            where.append("case_number > %s")
            params.append(after[0])
        return where, params

    def due_follow_ups(self, now: datetime, limit: int) -> list[UUID]:
        """Open cases whose current due time has passed and is not flagged yet, the earliest first."""
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql(
                f"SELECT case_id FROM {{schema}}.case_index WHERE {_OPEN}"
                " AND next_due IS DISTINCT FROM overdue_flagged AND next_due < %s ORDER BY next_due LIMIT %s"),
                (now, limit))
            return [row["case_id"] for row in curs.fetchall()]

    def referred_to(self, provider_id: str | None, case_ids: list[UUID]) -> set[UUID]:
        """Which of these cases were referred to the provider."""
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT DISTINCT case_id FROM {schema}.case_referrals"
                                        " WHERE case_id = ANY(%s) AND provider_id::text = %s"),
                         (case_ids, str(provider_id)))
            return {row["case_id"] for row in curs.fetchall()}

    def case_id_of(self, case_number: str) -> UUID | None:
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT case_id FROM {schema}.case_index WHERE case_number = %s"),
                         (case_number,))
            row = curs.fetchone()
        return row["case_id"] if row else None


# --- the audit trail ---------------------------------------------------------------------------------

class AuditTrail:
    """A case's history in chain order, its verification, its signed export, and checkpoints of
    every chain's head kept outside the database (services/cases/attestation.py)."""

    def __init__(self, store: "CaseStore"):
        self.store = store

    def cursors(self, case_id: UUID) -> Cursors:
        """A history's cursor holds a sequence of that case's chain, and opens for that case only."""
        return Cursors(self.store.settings.cipher_key, f"history:{case_id}")

    def history_page(self, caller: Caller, case_id: UUID, cursor: str | None, limit: int) -> dict:
        """A page of the history, after the link the cursor names."""
        after = self.cursors(case_id).read(cursor, 1)
        return self.history(caller, case_id, after[0] if after else 0, limit)

    def history(self, caller: Caller, case_id: UUID, after: int = 0, limit: int = 200, record: bool = True) -> dict:
        """Every event on the case in chain order, each with its link's hash and the one before;
        `next_cursor`: the cursor after the page's last link, or None on the last page."""
        self.store.standing_for(caller, case_id, "history")
        links = AuditChains(self.store).chain(case_id, max(after - 1, 0), limit + 2)
        prev_hash = links.pop(0)["hash"] if after and links and links[0]["sequence"] == after else GENESIS
        items = []
        for link in links[:limit]:
            items.append(self._item(link, prev_hash, redact=policy.redacted_for(caller)))
            prev_hash = link["hash"]
        if record:
            self.store.record_view(caller, case_id, "history")
        more = len(links) > limit
        return {"items": items, "next_cursor": self.cursors(case_id).make(items[-1]["sequence"]) if more else None}

    def full_history(self, caller: Caller, case_id: UUID) -> list[dict]:
        """Every page of the history, as one list; not recorded as a read (the caller records its own)."""
        items: list[dict] = []
        cursor = 0
        while True:
            part = self.history(caller, case_id, cursor, 200, record=False)
            items += part["items"]
            if not part["next_cursor"]:
                return items
            cursor = part["items"][-1]["sequence"]

    def _item(self, link: dict, prev_hash: str, redact: bool) -> dict:
        if link["topic"] is None:
            return damaged_item(link, prev_hash, "missing")
        try:
            event = self.store.mapper.to_domain_event(StoredEvent(
                originator_id=link["originator_id"], originator_version=link["originator_version"],
                topic=link["topic"], state=bytes(link["state"])))
        except Exception:  # noqa: BLE001  a damaged row: the history still answers, verification names it
            return damaged_item(link, prev_hash, "unreadable")
        return history_item(link, prev_hash, event, redact)

    def verify(self, caller: Caller, case_id: UUID) -> dict:
        self.store.standing_for(caller, case_id, "verify")
        return AuditChains(self.store).verify_chain(case_id, self.store.streams_of(case_id))

    def export(self, caller: Caller, case_id: UUID) -> dict:
        """The case's audit bundle: redacted history, state and verification, with the head hash, signed
        (services/cases/attestation.py). Recorded as a view, by the reader, after it is made."""
        self.store.standing_for(caller, case_id, "export")
        verification = AuditChains(self.store).verify_chain(case_id, self.store.streams_of(case_id))
        history = self.full_history(caller, case_id)
        if not policy.redacted_for(caller):  # a caseworker's export is redacted too: it is meant to travel
            history = [redacted_item(item) for item in history]
        if verification["valid"]:  # what was written since the verification is the next export's
            history = [item for item in history if item["sequence"] <= verification["events"]]
        state = self._state(case_id)
        bundle = seal_bundle({
            "case_id": str(case_id), "case_number": state.get("case_number"), "exported_at": iso(self.store.clock()),
            "exported_by": {"username": caller.username, "role": str(caller.role)},
            "verification": verification, "head_hash": verification["head_hash"], "state": state,
            "history": history}, self.store.audit_keys)
        self.store.record_view(caller, case_id, "audit_export")
        return bundle

    def _state(self, case_id: UUID) -> dict:
        try:
            return case_view(self.store.case(case_id), now=self.store.clock(), redact=True,
                             **CaseQueries(self.store).activity_of(case_id))
        except Exception as damaged:  # noqa: BLE001  a damaged event: the bundle still carries history and verdict
            return {"unreadable": type(damaged).__name__}

    def public_keys(self) -> dict:
        return {"keys": self.store.audit_keys.public_keys()}

    # --- checkpoints: every chain's head, signed, kept outside the database -----------------

    def link_count(self) -> int:
        """How many links all the chains hold (what `verify --all` walks)."""
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT count(*) AS n FROM {schema}.audit_chain"))
            return _count(curs)

    def chain_heads(self) -> dict[str, tuple[int, str]]:
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT chain_id, sequence, hash FROM {schema}.audit_heads"))
            return {str(row["chain_id"]): (row["sequence"], row["hash"]) for row in curs.fetchall()}

    def hash_at(self, chain_id: str, sequence: int) -> str | None:
        with self.store.datastore.transaction() as curs:
            curs.execute(self.store.sql("SELECT hash FROM {schema}.audit_chain WHERE chain_id = %s AND sequence = %s"),
                         (chain_id, sequence))
            row = curs.fetchone()
        return row["hash"] if row else None

    def write_checkpoint(self, directory: Path, only_if_changed: bool = False) -> Path | None:
        """Signs a checkpoint of every chain's head and writes it to `directory` (meant to be write-once
        storage). With `only_if_changed`, nothing is written when no chain grew since the latest one."""
        heads = [{"chain_id": c, "sequence": n, "hash": h} for c, (n, h) in self.chain_heads().items()]
        checkpoint = make_checkpoint(heads, self.store.audit_keys, self.store.clock())
        if only_if_changed:
            latest = latest_checkpoint(directory, keyring(self.public_keys()))
            if latest and latest["merkle_root"] == checkpoint["merkle_root"]:
                return None
        return write_checkpoint(directory, checkpoint)

    def against_checkpoint(self, directory: Path) -> dict:
        """Every chain held against the latest checkpoint: which were rewritten, shortened or removed
        since. CheckpointInvalid if the latest checkpoint itself does not hold."""
        latest = latest_checkpoint(directory, keyring(self.public_keys()))
        if latest is None:
            return {"checkpoint": None, "drifted": {}}
        drifted = compare_with_checkpoint(latest, self.chain_heads(), self.hash_at)
        return {"checkpoint": {"created_at": latest["created_at"], "chains": latest["chains"],
                               "events": latest["events"], "merkle_root": latest["merkle_root"]},
                "drifted": drifted}
