"""Entrypoints of the approvals service: parse, call, map to views."""
from services.approvals import schemas
from services.approvals.application import SUBMISSIONS, Approvals
from services.approvals.policy import SUBMISSION_CHECKERS
from services.approvals.queries import ApprovalQueue, queue_key
from services.approvals.settings import ApprovalsSettings
from services.approvals.views import COMMENTS, decision_view, public_event, queue_item
from shared.caller import Caller, read_caller
from shared.case_state import CASE_EVENTS
from shared.case_texts import CaseTexts
from shared.configured import Configured
from shared.consumer import on_event
from shared.envelope import read_envelope
from shared.errors import EXPECTED
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.paging import Cursors, page
from shared.rpc import SignedRpcProxy, rpc
from shared.validation import load, parse_id


class ApprovalsService(Observable):
    name = "approvals"
    settings: ApprovalsSettings = Configured(ApprovalsSettings)
    store: Approvals = EventSourced(Approvals, publication=public_event, projections=(ApprovalQueue(),))
    # Sealing and opening text waits on the cases service; shorter than the gateway's own wait.
    cases = SignedRpcProxy("cases", deadline="texts_timeout")

    @rpc(expected_exceptions=EXPECTED)
    def get_policy(self, caller, organisation=None):
        """The approval policy of the organisation named (an admin's question), or the caller's own."""
        caller = read_caller(caller)
        return self.store.rules_for(caller, _organisation(organisation))

    @rpc(expected_exceptions=EXPECTED)
    def set_policy(self, caller, data, organisation=None):
        """Sets the organisation's approval policy (none named: the first organisation's)."""
        caller = read_caller(caller)
        return self.store.set_rules(caller, load(schemas.PolicySchema, data), _organisation(organisation))

    @rpc(expected_exceptions=EXPECTED)
    def queue(self, caller, query):
        caller = read_caller(caller)
        query = load(schemas.QueueQuerySchema, query)
        cursors, limit = Cursors(self.settings.cipher_key, "approvals"), query["limit"]
        rows = self.store.queue(caller, query.get("status"), cursors.read(query["cursor"], 2), limit)
        items = [queue_item(row) for row in rows[:limit]]
        self._texts(caller).open_in(items, COMMENTS)
        return page(items, rows, limit, lambda row: cursors.make(*queue_key(row)))

    @rpc(expected_exceptions=EXPECTED)
    def decide(self, caller, approval_id, data, idempotency_key=None):
        caller = read_caller(caller)
        approval = self.store.decide(caller, parse_id(approval_id, "approval request"),
                                     load(schemas.DecisionSchema, data), idempotency_key, self._texts(caller))
        view = decision_view(approval)
        self._texts(caller).open_in([view], COMMENTS)
        return view

    @rpc(expected_exceptions=EXPECTED, callers=SUBMISSION_CHECKERS)
    def check_submission(self, caller, submission):
        """For the cases service, before it accepts a plan or closure submission:
        `{"type", "risk_level", "approval_required"?}` -> `{"approval_needed"}`, or 409 when nobody could approve it."""
        submission = load(schemas.SubmissionSchema, submission)
        return self.store.check_submission(read_caller(caller), submission["type"], submission["risk_level"],
                                           submission["approval_required"], submission["organisation"])

    def _texts(self, caller: Caller) -> CaseTexts:
        return CaseTexts(self.cases, self.settings.texts_timeout, caller)

    @on_event(*SUBMISSIONS)
    def submission_received(self, body):
        return self.store.receive_submission(read_envelope(body))

    @on_event(*CASE_EVENTS)
    def case_changed(self, body):
        return self.store.case_changed(read_envelope(body))


def _organisation(organisation) -> str | None:
    """An organisation's id as sent (the gateway names only one it knows), or None."""
    return None if organisation is None else str(parse_id(organisation, "organisation"))
