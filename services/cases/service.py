"""Entrypoints of the cases service: parse, call, return. Errors cross RPC by name."""
import logging
from pathlib import Path

from nameko.timer import timer
from prometheus_client import Counter

from services.cases import schemas
from services.cases.application import DECISIONS, CaseIndex, CasesStore, case_view, consent_view, public_event
from services.cases.attestation import CheckpointInvalid
from services.cases.policy import permit, redacted_for
from shared.caller import read_caller
from shared.consumer import on_event
from shared.envelope import REFERRAL_EVENTS, read_envelope
from shared.errors import EXPECTED
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.rpc import SignedRpcProxy, rpc
from shared.settings import env
from shared.validation import clean, load, parse_id

log = logging.getLogger(__name__)
# The services that keep free text about a case sealed with its key (shared/case_texts.py).
TEXT_KEEPERS = ("referrals", "approvals")


def vouched(referred, issuer: str | None) -> bool:
    """The referrals service owns referrals: when it says the caller is the provider each case was
    referred to, that is what its ReferralMade event would say, signed with the same key, before that
    event has reached this service. No other service's word counts."""
    return referred is True and issuer == "referrals"
CHECKPOINTS = Counter("casetrail_audit_checkpoints_total", "Timed audit checkpoints, by outcome"
                      " (written, unchanged: no chain grew; invalid: the latest checkpoint does not hold; failed)",
                      ["outcome"])
OVERDUE_SCAN_SECONDS = float(env("OVERDUE_SCAN_SECONDS", "60"))
# Every chain's head, signed, written outside the database (meant for write-once storage). Unset: none.
CHECKPOINT_DIR = env("AUDIT_CHECKPOINT_DIR", "")
CHECKPOINT_SECONDS = float(env("AUDIT_CHECKPOINT_SECONDS", "3600"))
# Asked before a submission; shorter than the gateway's own wait.
APPROVALS_TIMEOUT = float(env("RPC_TIMEOUT_SECONDS", "10")) / 2


class CasesService(Observable):
    name = "cases"
    store: CasesStore = EventSourced(CasesStore, publication=public_event, projections=(CaseIndex(),))
    approvals = SignedRpcProxy("approvals", expiration=APPROVALS_TIMEOUT)

    @rpc(expected_exceptions=EXPECTED)
    def register_case(self, caller, data, idempotency_key=None):
        caller = read_caller(caller)
        permit(caller, "register_case")
        case = self.store.register_case(caller, clean(schemas.RegisterCaseSchema(), data), idempotency_key)
        return self._view(case)

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, caller, case_id, query=None):
        caller = read_caller(caller)
        case_id = parse_id(case_id, "case")
        redact = redacted_for(caller)
        if query and "as_of" in query:
            as_of = load(schemas.AsOfSchema(), query)["as_of"]
            case, consent, activity = self.store.case_as_of(caller, case_id, as_of)
            return case_view(case, consent, now=as_of, redact=redact, **activity)
        return self._view(self.store.read_case(caller, case_id), redact=redact)

    @rpc(expected_exceptions=EXPECTED)
    def case_in_scope(self, caller, case_id, action="referrals"):
        """For another route's permission check (a case's referrals: "referrals" to list or withdraw
        them, "refer" to make one): the case's id and number, or the policy's refusal. Not a read of
        the case file, so not recorded as one."""
        action = action if action in ("referrals", "refer") else "referrals"
        case = self.store.case_for(read_caller(caller), parse_id(case_id, "case"), action)
        return {"id": str(case.id), "case_number": case.case_number}

    @rpc(expected_exceptions=EXPECTED)
    def case_history(self, caller, case_id, query=None):
        caller = read_caller(caller)
        case_id = parse_id(case_id, "case")
        query = load(schemas.HistoryQuerySchema(), query or {})
        return self.store.history(caller, case_id, query["cursor"], query["limit"])

    @rpc(expected_exceptions=EXPECTED)
    def verify_case(self, caller, case_id):
        return self.store.verify(read_caller(caller), parse_id(case_id, "case"))

    @rpc(expected_exceptions=EXPECTED)
    def export_case(self, caller, case_id):
        return self.store.export(read_caller(caller), parse_id(case_id, "case"))

    @rpc(expected_exceptions=EXPECTED)
    def audit_public_keys(self, caller):
        read_caller(caller)
        return self.store.public_keys()

    @rpc(expected_exceptions=EXPECTED)
    def erase_case(self, caller, case_id, data, options):
        return self._view(self._command("erase", caller, case_id, data, options, schemas.EraseSchema))

    @rpc(expected_exceptions=EXPECTED)
    def list_cases(self, caller, filters):
        caller = read_caller(caller)
        permit(caller, "list_cases")
        return self.store.list_cases(caller, load(schemas.ListCasesSchema(), filters))

    @rpc(expected_exceptions=EXPECTED)
    def record_consent(self, caller, case_id, data, options):
        return consent_view(self._command("record_consent", caller, case_id, data, options, schemas.ConsentSchema))

    @rpc(expected_exceptions=EXPECTED)
    def withdraw_consent(self, caller, case_id, options):
        return consent_view(self._command("withdraw_consent", caller, case_id, None, options))

    @rpc(expected_exceptions=EXPECTED)
    def assess(self, caller, case_id, data, options):
        return self._view(self._command("assess", caller, case_id, data, options, schemas.AssessmentSchema))

    @rpc(expected_exceptions=EXPECTED)
    def draft_plan(self, caller, case_id, data, options):
        return self._view(self._command("draft_plan", caller, case_id, data, options, schemas.PlanSchema))

    @rpc(expected_exceptions=EXPECTED)
    def submit_plan(self, caller, case_id, options):
        self._approvable(caller, case_id, "submit_plan")
        return self._view(self._command("submit_plan", caller, case_id, None, options))

    @rpc(expected_exceptions=EXPECTED)
    def record_follow_up(self, caller, case_id, data, options):
        return self._view(self._command("record_follow_up", caller, case_id, data, options, schemas.FollowUpSchema))

    @rpc(expected_exceptions=EXPECTED)
    def hold_conference(self, caller, case_id, data, options):
        return self._view(self._command("hold_conference", caller, case_id, data, options, schemas.ConferenceSchema))

    @rpc(expected_exceptions=EXPECTED)
    def request_closure(self, caller, case_id, data, options):
        self._approvable(caller, case_id, "request_closure")
        return self._view(self._command("request_closure", caller, case_id, data, options, schemas.ClosureSchema))

    @rpc(expected_exceptions=EXPECTED)
    def reopen(self, caller, case_id, data, options):
        return self._view(self._command("reopen", caller, case_id, data, options, schemas.ReasonSchema))

    @rpc(expected_exceptions=EXPECTED)
    def reassign(self, caller, case_id, data, options):
        return self._view(self._command("reassign", caller, case_id, data, options, schemas.ReassignSchema))

    @rpc(expected_exceptions=EXPECTED)
    def give_feedback(self, caller, case_id, data, options):
        self._command("give_feedback", caller, case_id, data, options, schemas.FeedbackSchema)
        return {"recorded": True}

    @rpc(expected_exceptions=EXPECTED, callers=TEXT_KEEPERS)
    def seal_texts(self, caller, case_id, texts, referred=False, *, issuer=None):
        """For the other services' free text about a case: they keep only what this returns. Sealed only
        for a caller who may write about the case under this service's policy. `referred`: believed
        from the referrals service alone (see vouched)."""
        return self.store.seal_texts(read_caller(caller), parse_id(case_id, "case"),
                                     load(schemas.TextsSchema(), {"texts": texts})["texts"],
                                     vouched=vouched(referred, issuer))

    @rpc(expected_exceptions=EXPECTED, callers=TEXT_KEEPERS)
    def open_texts(self, caller, pairs, referred=False, *, issuer=None):
        """Opened only for a caller who may read each case under this service's policy."""
        return self.store.open_texts(read_caller(caller),
                                     load(schemas.SealedTextsSchema(), {"pairs": pairs})["pairs"],
                                     vouched=vouched(referred, issuer))

    @on_event(*DECISIONS)
    def approval_decided(self, body):
        return self.store.apply_decision(read_envelope(body))

    @on_event("ApprovalRequested")
    def approval_requested(self, body):
        return self.store.approval_requested(read_envelope(body))

    @on_event(*REFERRAL_EVENTS)
    def referral_changed(self, body):
        return self.store.referral_changed(read_envelope(body))

    @timer(interval=OVERDUE_SCAN_SECONDS)
    def flag_overdue_follow_ups(self):
        while self.store.flag_overdue_follow_ups() > 0:
            pass

    @timer(interval=CHECKPOINT_SECONDS)
    def write_checkpoint(self):
        if not CHECKPOINT_DIR:
            return
        try:
            Path(CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
            written = self.store.write_checkpoint(Path(CHECKPOINT_DIR), only_if_changed=True)
            CHECKPOINTS.labels("written" if written else "unchanged").inc()
        except CheckpointInvalid as tampered:  # the anchor itself was altered: the finding, loudly
            CHECKPOINTS.labels("invalid").inc()
            log.error("audit checkpoint: %s", tampered)
        except OSError as failed:
            CHECKPOINTS.labels("failed").inc()
            log.error("audit checkpoint could not be written to %s: %s", CHECKPOINT_DIR, failed.strerror or failed)

    def _approvable(self, caller, case_id, command):
        """A submission nobody could approve is refused (409) before it is made. Who approves is the
        approvals service's rule: only a requester without a supervisor needs to ask it."""
        caller = read_caller(caller)
        permit(caller, command)
        if caller.get("supervisor"):
            return
        case = self.store.case_for(caller, parse_id(case_id, "case"), command)
        kind = "case_plan" if command == "submit_plan" else "closure"
        required = kind == "case_plan" and case.child_disagrees(self.store.consent_of(case.id))
        self.approvals.check_submission(caller, {"type": kind, "risk_level": case.risk_level,
                                                 "approval_required": required})

    def _command(self, name, caller, case_id, data, options, schema=None):
        caller = read_caller(caller)
        permit(caller, name)  # a role that may never do it hears so before its request is parsed
        case_id = parse_id(case_id, "case")
        options = load(schemas.CommandOptionsSchema(), options or {}, prefix="headers")
        args = (clean(schema(), data),) if schema else ()
        return getattr(self.store, name)(caller, case_id, *args, options)

    def _view(self, case, redact=False):
        return case_view(case, self.store.consent_of(case.id), now=self.store.clock(), redact=redact,
                         referrals=self.store.referrals_of(case.id), approvals=self.store.activity_of(case.id)["approvals"])
