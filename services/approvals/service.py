"""Entrypoints of the approvals service: parse, call, return."""

from services.approvals import schemas
from services.approvals.application import SUBMISSIONS, ApprovalQueue, ApprovalsStore, public_event
from shared.case_state import CASE_EVENTS
from shared.caller import read_caller
from shared.case_texts import CaseTexts
from shared.consumer import on_event
from shared.envelope import read_envelope
from shared.errors import EXPECTED
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.rpc import SignedRpcProxy, rpc
from shared.settings import env
from shared.validation import load, parse_id

# Sealing and opening comments waits on the cases service; shorter than the gateway's own wait.
TEXTS_TIMEOUT = float(env("RPC_TIMEOUT_SECONDS", "10")) / 2


class ApprovalsService(Observable):
    name = "approvals"
    store: ApprovalsStore = EventSourced(ApprovalsStore, publication=public_event, projections=(ApprovalQueue(),))
    cases = SignedRpcProxy("cases", expiration=TEXTS_TIMEOUT)

    @rpc(expected_exceptions=EXPECTED)
    def get_policy(self, caller):
        read_caller(caller)
        return self.store.policy()

    @rpc(expected_exceptions=EXPECTED)
    def set_policy(self, caller, data):
        return self.store.set_policy(read_caller(caller), load(schemas.PolicySchema(), data))

    @rpc(expected_exceptions=EXPECTED)
    def queue(self, caller, query):
        caller = read_caller(caller)
        queue = self.store.queue(caller, load(schemas.QueueQuerySchema(), query).get("status"))
        self._texts(caller).open_in(queue["items"], ("comment",))
        return queue

    @rpc(expected_exceptions=EXPECTED)
    def decide(self, caller, approval_id, data, idempotency_key=None):
        caller = read_caller(caller)
        approval = self.store.decide(caller, parse_id(approval_id, "approval request"),
                                     load(schemas.DecisionSchema(), data), idempotency_key, self._texts(caller))
        view = {"id": str(approval.id), "case_id": str(approval.case_id), "case_number": approval.case_number,
                "type": approval.kind, "requested_by": approval.requested_by, "status": approval.status,
                "decided_by": approval.decided_by, "comment": approval.comment}
        self._texts(caller).open_in([view], ("comment",))
        return view

    @rpc(expected_exceptions=EXPECTED, callers=("cases",))
    def check_submission(self, caller, submission):
        """For the cases service, before it accepts a plan or closure submission:
        `{"type", "risk_level", "approval_required"?}` -> `{"approval_needed"}`, or 409 when nobody could approve it."""
        submission = load(schemas.SubmissionSchema(), submission)
        return self.store.check_submission(read_caller(caller), submission["type"], submission["risk_level"],
                                           submission["approval_required"])

    def _texts(self, caller: dict) -> CaseTexts:
        return CaseTexts(self.cases, TEXTS_TIMEOUT, caller)

    @on_event(*SUBMISSIONS)
    def submission_received(self, body):
        return self.store.receive_submission(read_envelope(body))

    @on_event(*CASE_EVENTS)
    def case_changed(self, body):
        return self.store.case_changed(read_envelope(body))
