"""Use cases of the cases service, its read model, and what it tells the bus."""
import base64
import hashlib
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.cases.domain import Case, in_scope, scope
from shared.caller import recorded_by
from shared.errors import Conflict, InvalidInput, NotFound
from shared.outbox import Projection
from shared.settings import env
from shared.store import ServiceStore


class CaseIndex(Projection):
    """The list of cases, kept by following the log (never by loading aggregates)."""

    name = "case_index"
    TABLES = (
        "CREATE TABLE IF NOT EXISTS {schema}.case_index ("
        " case_id uuid PRIMARY KEY, case_number text NOT NULL UNIQUE, stage text NOT NULL,"
        " risk_level text NOT NULL, assigned_to text NOT NULL, is_child boolean NOT NULL,"
        " next_due timestamptz, version integer NOT NULL,"
        " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)",
        "CREATE INDEX IF NOT EXISTS case_index_assigned ON {schema}.case_index (assigned_to, case_number)",
        "CREATE INDEX IF NOT EXISTS case_index_due ON {schema}.case_index (next_due) WHERE stage <> 'closed'",
    )

    def apply(self, store, curs, event) -> None:
        if isinstance(event, Case.CaseRegistered):
            curs.execute(store.sql(
                "INSERT INTO {schema}.case_index (case_id, case_number, stage, risk_level, assigned_to,"
                " is_child, version, created_at, updated_at) VALUES (%s,%s,'engagement',%s,%s,%s,%s,%s,%s)"),
                (event.originator_id, event.case_number, event.risk_level, event.assigned_to,
                 event.is_child, event.originator_version, event.timestamp, event.timestamp))
        else:
            curs.execute(store.sql("UPDATE {schema}.case_index SET version = %s, updated_at = %s"
                                   " WHERE case_id = %s"),
                         (event.originator_version, event.timestamp, event.originator_id))


def public_event(event) -> tuple[str, dict] | None:
    """What other services learn of a case: ids, numbers, stage and risk; never survivor data."""
    if isinstance(event, Case.CaseRegistered):
        return "CaseRegistered", {"case_number": event.case_number, "risk_level": event.risk_level,
                                  "is_child": event.is_child, "assigned_to": event.assigned_to,
                                  "stage": "engagement"}
    return None


def request_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class CasesStore(ServiceStore):
    name = "cases"
    tables = CaseIndex.TABLES + ("CREATE SEQUENCE IF NOT EXISTS {schema}.case_number_seq",)
    snapshotting_intervals = {Case: 100}

    def register_case(self, caller: dict, data: dict, idempotency_key: str | None = None) -> Case:
        fingerprint = request_hash(data)
        case_id = Case.id_for_request(caller["username"], idempotency_key) if idempotency_key else uuid4()
        if idempotency_key and (first := self._first_registration(case_id, fingerprint)):
            return first
        case = Case(id=case_id, case_number=self._next_case_number(), assigned_to=caller["username"],
                    request_hash=fingerprint, by=recorded_by(caller), **data)
        try:
            self.save(case)
        except IntegrityError:
            # The same request, retried concurrently: the first one won.
            return self._first_registration(case_id, fingerprint)
        return case

    def case_for(self, caller: dict, case_id: UUID) -> Case:
        try:
            case = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise NotFound("No such case.") from None
        if not in_scope(case, caller):
            raise NotFound("No such case.")
        return case

    def list_cases(self, caller: dict, filters: dict) -> dict:
        where, params = ["assigned_to = ANY(%s)"], [scope(caller)]
        for column in ("stage", "risk_level", "assigned_to"):
            if column in filters:
                where.append(f"{column} = %s")
                params.append(filters[column])
        if "overdue" in filters:
            where.append("(stage <> 'closed' AND next_due < now()) = %s")
            params.append(filters["overdue"])
        if filters.get("cursor"):
            where.append("case_number > %s")
            params.append(_read_cursor(filters["cursor"]))
        limit = filters["limit"]
        with self.datastore.transaction() as curs:
            curs.execute(self.sql(
                "SELECT case_id, case_number, stage, risk_level, assigned_to, is_child, next_due,"
                " version, created_at, updated_at FROM {schema}.case_index WHERE " + " AND ".join(where) +
                " ORDER BY case_number LIMIT %s"), [*params, limit + 1])
            rows = curs.fetchall()
        items = [_index_item(row) for row in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": _make_cursor(items[-1]["case_number"]) if more else None}

    def _first_registration(self, case_id: UUID, fingerprint: str) -> Case | None:
        try:
            first = self.repository.get(case_id, version=1)
        except AggregateNotFoundError:
            return None
        if first.request_hash != fingerprint:
            raise Conflict("This Idempotency-Key was used for a different request.")
        return first

    def _next_case_number(self) -> str:
        with self.transaction() as curs:
            curs.execute(self.sql("SELECT nextval('{schema}.case_number_seq') AS n"))
            n = curs.fetchone()["n"]
        return f"{env('CASE_NUMBER_PREFIX', 'GBV')}-{datetime.now(UTC).year}-{n:06d}"


def _make_cursor(case_number: str) -> str:
    return base64.urlsafe_b64encode(case_number.encode()).decode()


def _read_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput({"cursor": ["Not a cursor this list gave out."]}) from None


def _index_item(row: dict) -> dict:
    now = datetime.now(UTC)
    return {"id": str(row["case_id"]), "case_number": row["case_number"], "stage": row["stage"],
            "risk_level": row["risk_level"], "assigned_to": row["assigned_to"], "is_child": row["is_child"],
            "version": row["version"],
            "follow_up": {"next_due": _iso(row["next_due"]),
                          "overdue": bool(row["next_due"] and row["stage"] != "closed" and row["next_due"] < now)},
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def case_view(case: Case) -> dict:
    """The case file as the contract shows it (GET /v1/cases/{id})."""
    return {
        "id": str(case.id), "case_number": case.case_number, "version": case.version,
        "stage": case.stage, "risk_level": case.risk_level, "assigned_to": case.assigned_to,
        "is_child": case.is_child, "survivor": _plain(case.survivor), "caregiver": _plain(case.caregiver),
        "intake_notes": case.intake_notes, "consent": None, "assessment": None,
        "plan": {"status": "none", "goals": []},
        "follow_up": {"next_due": None, "overdue": False, "last_contact": None},
        "closure": {"status": "none"},
        "created_at": _iso(case.created_on), "updated_at": _iso(case.modified_on),
    }


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.isoformat() if hasattr(value, "isoformat") else value
