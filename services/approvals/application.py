"""Use cases of the approvals service: each organisation's approval policy, submissions from the
cases service (decided by the policy of the case's organisation), and supervisors' decisions. Each
one gets what it acts on, has the access policy (policy.py) and the aggregate (domain.py) decide,
and saves."""
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from prometheus_client import Histogram

from services.approvals import policy as access
from services.approvals.domain import Approval, ApprovalPolicy, Kind, Submissions, approval_needed
from services.approvals.queries import ApprovalQueries, queue_key, request_of
from shared.caller import Caller
from shared.case_texts import CaseTexts
from shared.errors import Conflict
from shared.organisations import FIRST
from shared.settings import Settings
from shared.store import ServiceStore

SUBMISSIONS = {"CasePlanSubmitted": Kind.CASE_PLAN, "ClosureRequested": Kind.CLOSURE}  # bus event -> what it asks
TURNAROUND = Histogram("casetrail_approval_turnaround_seconds", "From request to a supervisor's decision",
                       ["type", "decision"], buckets=(60, 600, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600))


class Approvals(ServiceStore):
    name = "approvals"

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.queries = ApprovalQueries(self)

    def domain_gauges(self) -> list:
        return self.queries.gauges()

    # --- each organisation's approval policy ---------------------------------------------------

    def rules(self, organisation: str) -> dict:
        """The organisation's rules (the default until an admin sets them)."""
        try:
            return self.repository.get(ApprovalPolicy.id_for(organisation)).rules
        except AggregateNotFoundError:
            return dict(ApprovalPolicy.DEFAULT)

    def rules_for(self, caller: Caller, organisation: str | None) -> dict:
        """The rules the caller reads: the organisation named, or their own (access policy)."""
        return self.rules(access.rules_read(caller, organisation))

    def set_rules(self, caller: Caller, rules: dict, organisation: str | None = None) -> dict:
        """Sets the organisation's rules (the first organisation's when none is named). The gateway,
        which keeps the organisations, names only one that exists."""
        policy_id = ApprovalPolicy.id_for(access.rules_set(caller, organisation))
        try:
            policy: ApprovalPolicy = self.repository.get(policy_id)
            policy.change(rules[Kind.CASE_PLAN], rules[Kind.CLOSURE], by=caller.recorded())
        except AggregateNotFoundError:
            policy = ApprovalPolicy(id=policy_id, by=caller.recorded(), **rules)  # type: ignore[call-arg]
        try:
            self.save(policy)
        except IntegrityError:
            raise Conflict("The approval policy was changed meanwhile; try again.") from None
        return policy.rules

    # --- submissions and decisions -----------------------------------------------------------

    def check_submission(self, caller: Caller, kind: str, risk_level: str, required: bool,
                         organisation: str | None) -> dict:
        """Asked by the cases service before it accepts a submission: refused when nobody could approve
        it. `organisation`: the case's, as the cases service says (the caller's, if it says none)."""
        organisation = organisation or caller.organisation or FIRST
        needed = approval_needed(self.rules(organisation), kind, risk_level, required)
        access.check_submission(caller, needed)
        return {"approval_needed": needed}

    def receive_submission(self, envelope: dict) -> bool:
        """Opens a request for the supervisor, or approves at once by policy. Once per submission."""
        consumer, event_id = "submissions", envelope["event_id"]
        if self.processed(consumer, event_id):
            return False
        approval = self._received(envelope, self._organisation_of(envelope["aggregate_id"]))
        changed: list = [approval]
        if approval_needed(self.rules(approval.organisation), approval.kind, approval.risk_level,
                           envelope["payload"].get("approval_required", False)):
            approval.request(by=recorded_actor(envelope))
            changed += self._supersede_earlier(approval, recorded_actor(envelope))
        else:
            approval.grant_by_policy(by=recorded_actor(envelope))
        try:
            return self.save_once(consumer, event_id, *changed)
        except IntegrityError:
            if self._exists(approval.id):
                return False  # the same submission, announced again
            raise

    def decide(self, caller: Caller, approval_id: UUID, decision: dict, idempotency_key: str | None,
               texts: CaseTexts) -> Approval:
        """`texts` seals the comment with the case's key (and opens the one recorded, to spot a retry)."""
        approval = self._approval(approval_id)
        access.check(caller, "decide", self.queries.request(approval.case_id, approval.requested_by,
                                                            approval.requester_role, approval.organisation))
        comment = decision.get("comment")
        if (idempotency_key and approval.decided_as(caller.username, decision["decision"])
                and texts.open(approval.case_id, approval.comment) == comment):
            return approval  # the same request, retried: the first answer
        if (comment or "").strip():
            comment = texts.seal(approval.case_id, comment)
        approval.decide(decision["decision"], comment, caller.username, by=caller.recorded())
        try:
            self.save(approval)
        except IntegrityError:
            raise Conflict("This request was decided meanwhile; reload the queue.") from None
        self._observe_turnaround(approval, decision["decision"])
        return approval

    # --- reads, each decided by the access policy --------------------------------------------

    def queue(self, caller: Caller, status: str | None, after: tuple | None, limit: int) -> list[dict]:
        """Up to `limit` + 1 rows of the queue the caller may see, after the key `after`, each decided one
        with its comment (still sealed). Read in batches: the access policy (may_see) has the last word
        on each row, so a batch may give fewer than it read."""
        people, organisation = access.queue_people(caller), access.queue_organisation(caller)
        rows: list[dict] = []
        while len(rows) <= limit:
            batch = self.queries.queue(people, organisation, status, after, limit + 1)
            rows += [row for row in batch if access.may_see(caller, request_of(row))]
            if len(batch) <= limit:
                break
            after = queue_key(batch[-1])
        # The comment stays in the event store, sealed with the case's key; the entrypoint opens it.
        return [{**row, "comment": self._approval(row["approval_id"]).comment if row["decided_by"] else None}
                for row in rows[:limit + 1]]

    # --- the case, as announced by the cases service ---------------------------------------

    def case_changed(self, envelope: dict) -> bool:
        return self.process_once("cases", envelope["event_id"], lambda curs: self.queries.record_case(curs, envelope))

    def _organisation_of(self, case_id: UUID) -> str:
        """The case's organisation, as the cases service announced its registration. Not heard of yet
        (its CaseRegistered still on the bus): LookupError, and the consumer tries again later; no
        organisation's policy is applied to a case whose organisation is not known."""
        organisation = self.queries.organisation_of(case_id)
        if organisation is None:
            raise LookupError("the case's organisation is not known yet")  # CaseRegistered on its way: retried
        return organisation

    def _received(self, envelope: dict, organisation: str) -> Approval:
        kind, payload, case_id = SUBMISSIONS[envelope["event_type"]], envelope["payload"], envelope["aggregate_id"]
        return Approval(id=Approval.id_for(case_id, kind, payload["submission"]),  # type: ignore[call-arg]
                        case_id=case_id, case_number=payload["case_number"], kind=kind,
                        submission=payload["submission"], requested_by=envelope["actor"]["username"],
                        risk_level=payload["risk_level"], by=recorded_actor(envelope),
                        requester_role=envelope["actor"]["role"], organisation=organisation)

    def _supersede_earlier(self, approval: Approval, by: dict) -> list[Submissions | Approval]:
        """The case's latest request of that kind becomes `approval`; the one it replaces, if pending, is superseded."""
        submissions_id = Submissions.id_for(approval.case_id, approval.kind)
        try:
            submissions: Submissions = self.repository.get(submissions_id)
        except AggregateNotFoundError:
            submissions = Submissions(id=submissions_id, by=by)  # type: ignore[call-arg]
        changed: list[Submissions | Approval] = [submissions]
        if submissions.latest is not None:
            earlier = self._approval(submissions.latest)
            if earlier.supersede(by=by):
                changed.append(earlier)
        submissions.replace_latest(approval.id, by=by)
        return changed

    def _observe_turnaround(self, approval: Approval, decision: str) -> None:
        requested = next(e for e in self.events.get(approval.id) if isinstance(e, Approval.ApprovalRequested))
        TURNAROUND.labels(approval.kind, decision).observe((datetime.now(UTC) - requested.timestamp).total_seconds())

    def _approval(self, approval_id: UUID) -> Approval:
        return self.get_one(approval_id, Approval, "No such approval request.")

    def _exists(self, approval_id: UUID) -> bool:
        try:
            self.repository.get(approval_id)
            return True
        except AggregateNotFoundError:
            return False


def recorded_actor(envelope: dict) -> dict:
    """Who did what a bus event announces, as an event records it (`by`)."""
    return {**envelope["actor"], "correlation_id": envelope["correlation_id"]}
