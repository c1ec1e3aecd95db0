"""The approvals service's read models and their SQL: the approval queue (kept by a projection)
and each case as the cases service announced it (who holds it, closed, erased)."""
from uuid import UUID

from services.approvals.domain import RECEIVED, Approval, Kind
from services.approvals.policy import Request
from shared import case_state
from shared.metrics import gauge
from shared.organisations import organisation_or_first
from shared.outbox import Projection
from shared.store import ServiceStore
from shared.vocabulary import ApprovalStatus


class ApprovalQueue(Projection):
    name = "approval_queue"
    def apply(self, store, curs, event) -> None:
        if isinstance(event, Approval.SubmissionReceived):
            curs.execute(store.sql(
                "INSERT INTO {schema}.approval_queue (approval_id, case_id, case_number, kind, requested_by,"
                " requested_at, status, requester_role, organisation) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"),
                (event.originator_id, event.case_id, event.case_number, event.kind, event.requested_by,
                 event.timestamp, RECEIVED, getattr(event, "requester_role", None),  # older events lack it
                 organisation_or_first(getattr(event, "organisation", None))))
        elif isinstance(event, Approval.ApprovalRequested | Approval.ApprovalSuperseded):
            requested = isinstance(event, Approval.ApprovalRequested)
            status = ApprovalStatus.PENDING if requested else ApprovalStatus.SUPERSEDED
            curs.execute(store.sql("UPDATE {schema}.approval_queue SET status = %s WHERE approval_id = %s"),
                         (status, event.originator_id))
        elif isinstance(event, Approval.ApprovedByPolicy | Approval.ApprovalDecided):
            by_policy = isinstance(event, Approval.ApprovedByPolicy)
            approved = by_policy or event.approved
            curs.execute(store.sql(
                "UPDATE {schema}.approval_queue SET status = %s, decided_by = %s, decided_at = %s"
                " WHERE approval_id = %s"),
                (ApprovalStatus.APPROVED if approved else ApprovalStatus.REJECTED,
                 "policy" if by_policy else event.decided_by, event.timestamp, event.originator_id))


# The tables: services/approvals/migrations (case_state: shared/migrations/versions/case_state).


class ApprovalQueries:
    """The reads of the approvals service's store."""

    def __init__(self, store: ServiceStore):
        self.store = store

    def queue(self, people: list[str], organisation: str | None, status: str | None, after: tuple | None,
              limit: int) -> list[dict]:
        """Up to `limit` requests of `organisation` that `people` made or whose cases they hold, oldest
        first after the key `after` (requested_at, approval_id), each with its case's state: what the
        access policy then picks from."""
        where = ["q.organisation = %s", "(q.requested_by = ANY(%s) OR s.assigned_to = ANY(%s))",
                 "q.status <> 'received'", "q.status <> 'superseded'"]
        params: list = [organisation, people, people]
        if status:
            where.append("q.status = %s")
            params.append(status)
        if after is not None:
            where.append("(q.requested_at, q.approval_id) > (%s::timestamptz, %s::uuid)")
            params += list(after)
        return self._all(
            "SELECT q.*, s.assigned_to, coalesce(s.closed, false) AS closed, coalesce(s.erased, false) AS erased"
            " FROM {schema}.approval_queue AS q LEFT JOIN {schema}.case_state AS s USING (case_id) WHERE "
            + " AND ".join(where) + " ORDER BY q.requested_at, q.approval_id LIMIT %s", [*params, limit])

    def request(self, case_id: UUID, requested_by: str, requester_role: str | None, organisation: str) -> Request:
        """A request as the access policy sees it, with its case as this service knows it.
        `organisation`: the request's own (its case's, as recorded when it was received)."""
        rows = self._all("SELECT assigned_to, closed, erased FROM {schema}.case_state WHERE case_id = %s",
                         (case_id,))
        row = rows[0] if rows else {"assigned_to": None, "closed": False, "erased": False}
        return request_of({**row, "requested_by": requested_by, "requester_role": requester_role,
                           "organisation": organisation})

    def organisation_of(self, case_id: UUID) -> str | None:
        """The case's organisation, as its registration was announced; None: not heard of yet."""
        with self.store.datastore.transaction() as curs:
            return case_state.organisation_of(self.store, curs, case_id)

    def record_case(self, curs, envelope: dict) -> None:
        """One of the cases service's CASE_EVENTS, in the use case's transaction (`curs`)."""
        case_state.record(self.store, curs, envelope)

    def gauges(self) -> list:
        rows = self._all("SELECT kind, count(*) AS n, extract(epoch FROM now() - min(requested_at)) AS age"
                         " FROM {schema}.approval_queue WHERE status = 'pending' GROUP BY kind", ())
        pending = {row["kind"]: row for row in rows}
        return [
            gauge("casetrail_pending_approvals", "Approval requests waiting for a supervisor", ["type"],
                  [(str(kind), pending[kind]["n"] if kind in pending else 0) for kind in Kind]),
            gauge("casetrail_oldest_pending_approval_seconds", "Age of the oldest approval request still waiting",
                  ["type"], [(str(kind), pending[kind]["age"] if kind in pending else 0) for kind in Kind]),
        ]

    def _all(self, query: str, params) -> list[dict]:
        with self.store.reading() as curs:
            curs.execute(self.store.sql(query), params)
            return curs.fetchall()


def request_of(row: dict) -> Request:
    """A row of the queue (or of a request and its case) as the access policy sees it."""
    return Request(requested_by=row["requested_by"], requester_role=row.get("requester_role"),
                   holder=row["assigned_to"] or row["requested_by"], closed=row["closed"], erased=row["erased"],
                   organisation=str(row["organisation"]) if row.get("organisation") else None)


def queue_key(row: dict) -> tuple[str, str]:
    """Where a row stands in the queue's order (its cursor's content): requested_at, then the id."""
    return row["requested_at"].isoformat(), str(row["approval_id"])
