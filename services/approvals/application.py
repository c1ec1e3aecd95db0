"""Use cases of the approvals service, its queue, and what it tells the bus."""
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from prometheus_client import Histogram

from services.approvals import policy as access
from services.approvals.domain import Approval, ApprovalPolicy, Submissions, approval_needed
from shared import case_state
from shared.caller import recorded_by
from shared.errors import Conflict, Forbidden
from shared.metrics import gauge
from shared.outbox import Projection
from shared.store import ServiceStore

SUBMISSIONS = {"CasePlanSubmitted": "case_plan", "ClosureRequested": "closure"}
DECISION_EVENTS = {("case_plan", True): "CasePlanApproved", ("case_plan", False): "CasePlanRejected",
                   ("closure", True): "ClosureApproved", ("closure", False): "ClosureRejected"}
TURNAROUND = Histogram("casetrail_approval_turnaround_seconds", "From request to a supervisor's decision",
                       ["type", "decision"], buckets=(60, 600, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600))


class ApprovalQueue(Projection):
    name = "approval_queue"
    TABLES = (
        "CREATE TABLE IF NOT EXISTS {schema}.approval_queue ("
        " approval_id uuid PRIMARY KEY, case_id uuid NOT NULL, case_number text NOT NULL, kind text NOT NULL,"
        " requested_by text NOT NULL, requested_at timestamptz NOT NULL, status text NOT NULL,"
        " decided_by text, decided_at timestamptz)",
        "CREATE INDEX IF NOT EXISTS approval_queue_requester ON {schema}.approval_queue"
        " (requested_by, status, requested_at)",
        "ALTER TABLE {schema}.approval_queue ADD COLUMN IF NOT EXISTS requester_role text",
    )

    def apply(self, store, curs, event) -> None:
        kind = type(event).__name__
        if kind == "SubmissionReceived":
            curs.execute(store.sql(
                "INSERT INTO {schema}.approval_queue (approval_id, case_id, case_number, kind, requested_by,"
                " requested_at, status, requester_role) VALUES (%s, %s, %s, %s, %s, %s, 'received', %s)"),
                (event.originator_id, event.case_id, event.case_number, event.kind, event.requested_by,
                 event.timestamp, getattr(event, "requester_role", None)))
        elif kind in ("ApprovalRequested", "ApprovalSuperseded"):
            status = "pending" if kind == "ApprovalRequested" else "superseded"
            curs.execute(store.sql("UPDATE {schema}.approval_queue SET status = %s WHERE approval_id = %s"),
                         (status, event.originator_id))
        elif kind in ("ApprovedByPolicy", "ApprovalDecided"):
            approved = kind == "ApprovedByPolicy" or event.approved
            curs.execute(store.sql(
                "UPDATE {schema}.approval_queue SET status = %s, decided_by = %s, decided_at = %s"
                " WHERE approval_id = %s"),
                ("approved" if approved else "rejected", getattr(event, "decided_by", "policy"),
                 event.timestamp, event.originator_id))


def public_event(event) -> tuple[str, dict] | None:
    """Requests and decisions, by case id and submission. Comments stay here: free text, like notes."""
    kind = type(event).__name__
    if kind == "ApprovalRequested":
        return "ApprovalRequested", event.about
    if kind in ("ApprovedByPolicy", "ApprovalDecided"):
        approved = kind == "ApprovedByPolicy" or event.approved
        decided_by = "policy" if kind == "ApprovedByPolicy" else event.decided_by
        return DECISION_EVENTS[(event.about["type"], approved)], {**event.about, "decided_by": decided_by,
                                                                  "commented": bool(getattr(event, "comment", None))}
    return None


class ApprovalsStore(ServiceStore):
    name = "approvals"
    tables = ApprovalQueue.TABLES + case_state.TABLES

    def policy(self) -> dict:
        try:
            return self.repository.get(ApprovalPolicy.the_id()).rules
        except AggregateNotFoundError:
            return dict(ApprovalPolicy.DEFAULT)

    def set_policy(self, caller: dict, rules: dict) -> dict:
        if caller["role"] != "admin":
            raise Forbidden("Only an admin sets the approval policy.")
        try:
            policy = self.repository.get(ApprovalPolicy.the_id())
            policy.change(rules["case_plan"], rules["closure"], by=recorded_by(caller))
        except AggregateNotFoundError:
            policy = ApprovalPolicy(id=ApprovalPolicy.the_id(), by=recorded_by(caller), **rules)
        self.save(policy)
        return policy.rules

    def receive_submission(self, envelope: dict) -> bool:
        """Opens a request for the supervisor, or approves at once by policy. Once per submission."""
        consumer, event_id = "submissions", envelope["event_id"]
        if self.processed(consumer, event_id):
            return False
        kind, payload = SUBMISSIONS[envelope["event_type"]], envelope["payload"]
        case_id = envelope["aggregate_id"]
        by = {**envelope["actor"], "correlation_id": envelope["correlation_id"]}
        approval = Approval(id=Approval.id_for(case_id, kind, payload["submission"]), case_id=case_id,
                            case_number=payload["case_number"], kind=kind, submission=payload["submission"],
                            requested_by=envelope["actor"]["username"], risk_level=payload["risk_level"], by=by,
                            requester_role=envelope["actor"]["role"])
        changed = [approval]
        if approval_needed(self.policy(), kind, payload["risk_level"], payload.get("approval_required", False)):
            approval.request(by=by)
            changed += self._supersede_earlier(case_id, kind, approval.id, by)
        else:
            approval.grant_by_policy(by=by)
        try:
            return self.save_once(consumer, event_id, *changed)
        except IntegrityError:
            if self._exists(approval.id):
                return False  # the same submission, announced again
            raise

    def decide(self, caller: dict, approval_id: UUID, decision: dict, idempotency_key: str | None,
               texts) -> Approval:
        """`texts` seals the comment with the case's key (and opens the one recorded, to spot a retry)."""
        approval = self._approval(approval_id)
        access.check(caller, "decide", self._request(approval.case_id, approval.requested_by,
                                                     approval.requester_role))
        comment = decision.get("comment")
        if (idempotency_key and approval.decided_as(caller["username"], decision["decision"])
                and texts.open(approval.case_id, approval.comment) == comment):
            return approval  # the same request, retried: the first answer
        if (comment or "").strip():
            comment = texts.seal(approval.case_id, comment)
        approval.decide(decision["decision"], comment, caller["username"], by=recorded_by(caller))
        try:
            self.save(approval)
        except IntegrityError:
            raise Conflict("This request was decided meanwhile; reload the queue.") from None
        requested_at = next(e.timestamp for e in self.events.get(approval.id) if type(e).__name__ == "ApprovalRequested")
        TURNAROUND.labels(approval.kind, decision["decision"]).observe(
            (datetime.now(UTC) - requested_at).total_seconds())
        return approval

    def domain_gauges(self) -> list:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT kind, count(*) AS n, extract(epoch FROM now() - min(requested_at)) AS age"
                                  " FROM {schema}.approval_queue WHERE status = 'pending' GROUP BY kind"))
            pending = {row["kind"]: row for row in curs.fetchall()}
        kinds = ("case_plan", "closure")
        return [
            gauge("casetrail_pending_approvals", "Approval requests waiting for a supervisor", ["type"],
                  [(kind, pending[kind]["n"] if kind in pending else 0) for kind in kinds]),
            gauge("casetrail_oldest_pending_approval_seconds", "Age of the oldest approval request still waiting",
                  ["type"], [(kind, pending[kind]["age"] if kind in pending else 0) for kind in kinds]),
        ]

    def queue(self, caller: dict, status: str | None) -> dict:
        if caller["role"] not in access.CASE_ROLES:
            raise Forbidden("Only caseworkers and supervisors have an approval queue.")
        # Whoever the caller or their team is holding or asking for; the policy picks from these.
        people = [caller["username"], *(caller.get("team", []) if caller["role"] == "supervisor" else [])]
        where = ["(q.requested_by = ANY(%s) OR s.assigned_to = ANY(%s))", "q.status <> 'received'",
                 "q.status <> 'superseded'"]
        params = [people, people]
        if status:
            where.append("q.status = %s")
            params.append(status)
        with self.datastore.transaction() as curs:
            curs.execute(self.sql(
                "SELECT q.*, s.assigned_to, coalesce(s.closed, false) AS closed, coalesce(s.erased, false) AS erased"
                " FROM {schema}.approval_queue AS q LEFT JOIN {schema}.case_state AS s USING (case_id) WHERE "
                + " AND ".join(where) + " ORDER BY (q.status = 'pending') DESC, q.requested_at LIMIT 1000"), params)
            rows = curs.fetchall()
        rows = [row for row in rows if access.may_see(caller, self._request_of(row))][:200]
        return {"items": [self._item(row) for row in rows], "next_cursor": None}

    def check_submission(self, caller: dict, kind: str, risk_level: str, required: bool) -> dict:
        """Asked by the cases service before it accepts a submission: refused when nobody could approve it."""
        needed = approval_needed(self.policy(), kind, risk_level, required)
        access.check_submission(caller, needed)
        return {"approval_needed": needed}

    # --- the case, as announced by the cases service ---------------------------------------

    def case_changed(self, envelope: dict) -> bool:
        return self.process_once("cases", envelope["event_id"], lambda curs: case_state.record(self, curs, envelope))

    def _request(self, case_id: UUID, requested_by: str, requester_role: str | None) -> access.Request:
        with self.datastore.transaction() as curs:
            curs.execute(self.sql("SELECT assigned_to, closed, erased FROM {schema}.case_state WHERE case_id = %s"),
                         (case_id,))
            row = curs.fetchone() or {"assigned_to": None, "closed": False, "erased": False}
        return self._request_of({**row, "requested_by": requested_by, "requester_role": requester_role})

    @staticmethod
    def _request_of(row: dict) -> access.Request:
        return access.Request(requested_by=row["requested_by"], requester_role=row.get("requester_role"),
                              holder=row["assigned_to"] or row["requested_by"], closed=row["closed"],
                              erased=row["erased"])

    def _item(self, row: dict) -> dict:
        item = {"id": str(row["approval_id"]), "case_id": str(row["case_id"]), "case_number": row["case_number"],
                "type": row["kind"], "requested_by": row["requested_by"],
                "requested_at": row["requested_at"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "status": row["status"]}
        if row["decided_by"]:
            item["decided_by"] = row["decided_by"]
            # The comment stays in the event store, sealed with the case's key; the entrypoint opens it.
            item["comment"] = self._approval(row["approval_id"]).comment
        return item

    def _supersede_earlier(self, case_id: UUID, kind: str, approval_id: UUID, by: dict) -> list:
        try:
            submissions = self.repository.get(Submissions.id_for(case_id, kind))
        except AggregateNotFoundError:
            submissions = Submissions(id=Submissions.id_for(case_id, kind), by=by)
        changed = [submissions]
        if submissions.latest is not None:
            earlier = self._approval(submissions.latest)
            if earlier.supersede(by=by):
                changed.append(earlier)
        submissions.replace_latest(approval_id, by=by)
        return changed

    def _approval(self, approval_id: UUID) -> Approval:
        return self.get_one(approval_id, Approval, "No such approval request.")

    def _exists(self, approval_id: UUID) -> bool:
        try:
            self.repository.get(approval_id)
            return True
        except AggregateNotFoundError:
            return False
