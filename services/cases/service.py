"""Entrypoints of the cases service: parse, call, map. Errors cross RPC by name.

Each entrypoint reads the proved caller, parses what it was sent (schemas.py), calls a use case
(application.py) or a read (queries.py), and maps the result to what the client is shown
(views.py). Who may do what is decided by policy.py alone."""
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from marshmallow import Schema
from prometheus_client import Counter

from services.cases import policy, schemas
from services.cases.application import DECISIONS, CaseReactions, Cases, CaseTexts
from services.cases.attestation import CheckpointInvalid
from services.cases.domain import Case, CaseActivity, Consent
from services.cases.queries import AuditTrail, CaseChanges, CaseIndex, CaseQueries, ChangesFeed
from services.cases.settings import CasesSettings
from services.cases.views import case_view, consent_view, public_event
from shared.caller import Caller, read_caller
from shared.configured import Configured, every
from shared.consumer import on_event
from shared.envelope import REFERRAL_EVENTS, read_envelope
from shared.errors import EXPECTED
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.rpc import SignedRpcProxy, rpc
from shared.validation import clean, load, parse_id

log = logging.getLogger(__name__)
# The services that keep free text about a case sealed with its key (shared/case_texts.py).
TEXT_KEEPERS = ("referrals", "approvals")
CHECKPOINTS = Counter("casetrail_audit_checkpoints_total", "Timed audit checkpoints, by outcome"
                      " (written, unchanged: no chain grew; invalid: the latest checkpoint does not hold; failed)",
                      ["outcome"])

# The commands on a case: the use case each RPC calls, and the schema of what it is sent (None: nothing).
COMMANDS: dict[str, tuple[Callable[..., Any], type[Schema] | None]] = {
    "record_consent": (Cases.record_consent, schemas.ConsentSchema),
    "withdraw_consent": (Cases.withdraw_consent, None),
    "assess": (Cases.assess, schemas.AssessmentSchema),
    "draft_plan": (Cases.draft_plan, schemas.PlanSchema),
    "submit_plan": (Cases.submit_plan, None),
    "record_follow_up": (Cases.record_follow_up, schemas.FollowUpSchema),
    "hold_conference": (Cases.hold_conference, schemas.ConferenceSchema),
    "request_closure": (Cases.request_closure, schemas.ClosureSchema),
    "reopen": (Cases.reopen, schemas.ReasonSchema),
    "reassign": (Cases.reassign, schemas.ReassignSchema),
    "give_feedback": (Cases.give_feedback, schemas.FeedbackSchema),
    "erase": (Cases.erase, schemas.EraseSchema),
}


class AuditEntrypoints:
    """The audit trail over RPC (a case's history, its verification, its signed export, the keys that
    verify exports) and the timed checkpoint of every chain's head. Part of CasesService."""

    store: Cases
    settings: CasesSettings

    @property
    def audit(self) -> AuditTrail:
        return AuditTrail(self.store)

    @rpc(expected_exceptions=EXPECTED)
    def case_history(self, caller, case_id, query=None):
        caller = read_caller(caller)
        case_id = parse_id(case_id, "case")
        query = load(schemas.HistoryQuerySchema, query or {})
        return self.audit.history_page(caller, case_id, query["cursor"], query["limit"])

    @rpc(expected_exceptions=EXPECTED)
    def verify_case(self, caller, case_id):
        return self.audit.verify(read_caller(caller), parse_id(case_id, "case"))

    @rpc(expected_exceptions=EXPECTED)
    def export_case(self, caller, case_id):
        return self.audit.export(read_caller(caller), parse_id(case_id, "case"))

    @rpc(expected_exceptions=EXPECTED)
    def audit_public_keys(self, caller):
        read_caller(caller)
        return self.audit.public_keys()

    @every("checkpoint_seconds")
    def write_checkpoint(self):
        """Every chain's head, signed, written outside the database (AUDIT_CHECKPOINT_DIR, meant for
        write-once storage). Unset: none."""
        directory: Path | None = self.settings.checkpoint_dir
        if directory is None:
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
            written = self.audit.write_checkpoint(directory, only_if_changed=True)
            CHECKPOINTS.labels("written" if written else "unchanged").inc()
        except CheckpointInvalid as tampered:  # the anchor itself was altered: the finding, loudly
            CHECKPOINTS.labels("invalid").inc()
            log.error("audit checkpoint: %s", tampered)
        except OSError as failed:
            CHECKPOINTS.labels("failed").inc()
            log.error("audit checkpoint could not be written to %s: %s", directory, failed.strerror or failed)


class CasesService(AuditEntrypoints, Observable):
    name = "cases"
    settings: CasesSettings = Configured(CasesSettings)
    store: Cases = EventSourced(Cases, publication=public_event, projections=(CaseIndex(), CaseChanges()))
    # Asked before a submission; shorter than the gateway's own wait.
    approvals = SignedRpcProxy("approvals", deadline="approvals_timeout")

    @property
    def queries(self) -> CaseQueries:
        return CaseQueries(self.store)

    @rpc(expected_exceptions=EXPECTED)
    def register_case(self, caller, data, idempotency_key=None):
        caller = read_caller(caller)
        policy.permit(caller, "register_case")
        return self._view(self.store.register_case(caller, clean(schemas.RegisterCaseSchema, data), idempotency_key))

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, caller, case_id, query=None):
        caller = read_caller(caller)
        case_id = parse_id(case_id, "case")
        redact = policy.redacted_for(caller)
        if query and "as_of" in query:
            as_of = load(schemas.AsOfSchema, query)["as_of"]
            case, consent, activity = self.queries.case_as_of(caller, case_id, as_of)
            return case_view(case, consent, now=as_of, redact=redact, **activity)
        return self._view(self.queries.read_case(caller, case_id), redact=redact)

    @rpc(expected_exceptions=EXPECTED)
    def case_in_scope(self, caller, case_id, action="referrals"):
        """For another route's permission check (a case's referrals: "referrals" to list or withdraw
        them, "refer" to make one): the case's id and number, or the policy's refusal. Not a read of
        the case file, so not recorded as one."""
        case = self.store.case_for(read_caller(caller), parse_id(case_id, "case"), policy.scope_check(action))
        return {"id": str(case.id), "case_number": case.case_number}

    @rpc(expected_exceptions=EXPECTED)
    def list_cases(self, caller, filters):
        caller = read_caller(caller)
        policy.permit_case_list(caller, filters)
        return self.queries.list_cases(caller, load(schemas.ListCasesSchema, filters))

    @rpc(expected_exceptions=EXPECTED)
    def list_changes(self, caller, query):
        """What changed in the caller's scope since their cursor (GET /v1/changes), for clients that sync."""
        caller = read_caller(caller)
        policy.permit(caller, "list_changes")
        query = load(schemas.ChangesQuerySchema, query or {})
        return ChangesFeed(self.store).page(caller, query["since"], query["limit"])

    @rpc(expected_exceptions=EXPECTED)
    def caseload(self, caller, username):
        """An admin's question before a member of staff leaves or changes role: the open cases they hold."""
        policy.permit(read_caller(caller), "caseload")
        return self.queries.caseload(str(username)[:64])

    @rpc(expected_exceptions=EXPECTED)
    def record_consent(self, caller, case_id, data, options):
        return consent_view(self._command("record_consent", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED)
    def withdraw_consent(self, caller, case_id, options):
        return consent_view(self._command("withdraw_consent", caller, case_id, None, options))

    @rpc(expected_exceptions=EXPECTED)
    def assess(self, caller, case_id, data, options):
        return self._view(self._command("assess", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED)
    def draft_plan(self, caller, case_id, data, options):
        return self._view(self._command("draft_plan", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED)
    def submit_plan(self, caller, case_id, options):
        self._approvable(read_caller(caller), case_id, "submit_plan")
        return self._view(self._command("submit_plan", caller, case_id, None, options))

    @rpc(expected_exceptions=EXPECTED)
    def record_follow_up(self, caller, case_id, data, options):
        return self._view(self._command("record_follow_up", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED)
    def hold_conference(self, caller, case_id, data, options):
        return self._view(self._command("hold_conference", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED)
    def request_closure(self, caller, case_id, data, options):
        self._approvable(read_caller(caller), case_id, "request_closure")
        return self._view(self._command("request_closure", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED)
    def reopen(self, caller, case_id, data, options):
        return self._view(self._command("reopen", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED)
    def reassign(self, caller, case_id, data, options):
        return self._view(self._command("reassign", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED)
    def give_feedback(self, caller, case_id, data, options):
        self._command("give_feedback", caller, case_id, data, options)
        return {"recorded": True}

    @rpc(expected_exceptions=EXPECTED)
    def erase_case(self, caller, case_id, data, options):
        return self._view(self._command("erase", caller, case_id, data, options))

    @rpc(expected_exceptions=EXPECTED, callers=TEXT_KEEPERS)
    def seal_texts(self, caller, case_id, texts, referred=False, *, issuer=None):
        """For the other services' free text about a case: they keep only what this returns. Sealed only
        for a caller who may write about the case under this service's policy. `referred`: believed
        from the referrals service alone (policy.vouched)."""
        return CaseTexts(self.store).seal_texts(read_caller(caller), parse_id(case_id, "case"),
                                                load(schemas.TextsSchema, {"texts": texts})["texts"],
                                                vouched=policy.vouched(referred, issuer))

    @rpc(expected_exceptions=EXPECTED, callers=TEXT_KEEPERS)
    def open_texts(self, caller, pairs, referred=False, *, issuer=None):
        """Opened only for a caller who may read each case under this service's policy."""
        return CaseTexts(self.store).open_texts(read_caller(caller),
                                                load(schemas.SealedTextsSchema, {"pairs": pairs})["pairs"],
                                                vouched=policy.vouched(referred, issuer))

    @on_event(*DECISIONS)
    def approval_decided(self, body):
        return CaseReactions(self.store).apply_decision(read_envelope(body))

    @on_event("ApprovalRequested")
    def approval_requested(self, body):
        return CaseReactions(self.store).approval_requested(read_envelope(body))

    @on_event(*REFERRAL_EVENTS)
    def referral_changed(self, body):
        return CaseReactions(self.store).referral_changed(read_envelope(body))

    @every("overdue_scan_seconds")
    def flag_overdue_follow_ups(self):
        while CaseReactions(self.store).flag_overdue_follow_ups() > 0:
            pass

    def _approvable(self, caller: Caller, case_id, command: str) -> None:
        """A submission nobody could approve is refused (409) before it is made. Who approves is the
        approvals service's rule: only a requester without a supervisor needs to ask it."""
        policy.permit(caller, command)
        if caller.supervisor:
            return
        case = self.store.case_for(caller, parse_id(case_id, "case"), command)
        kind = "case_plan" if command == "submit_plan" else "closure"
        required = kind == "case_plan" and case.child_disagrees(self.store.consent_of(case.id))
        self.approvals.check_submission(caller, {"type": kind, "risk_level": case.risk_level,
                                                 "approval_required": required, "organisation": case.organisation})

    def _command(self, name: str, caller, case_id, data, options):
        """Reads the caller, parses the request and calls the command's use case (COMMANDS)."""
        use_case, schema = COMMANDS[name]
        caller = read_caller(caller)
        policy.permit(caller, name)  # a role that may never do it hears so before its request is parsed
        case_id = parse_id(case_id, "case")
        options = load(schemas.CommandOptionsSchema, options or {}, prefix="headers")
        args = (clean(schema, data),) if schema else ()
        return use_case(self.store, caller, case_id, *args, options)

    def _view(self, case: Case, redact: bool = False) -> dict:
        # The consent and activity streams are read only where they exist (one round trip says which): a new
        # case has neither. A referral's row is written with its activity event: no activity, no referrals.
        consent_id, activity_id = Consent.id_for(case.id), CaseActivity.id_for(case.id)
        present = self.store.stream_versions([consent_id, activity_id])
        active = activity_id in present
        return case_view(case, self.store.consent_of(case.id) if consent_id in present else None,
                         now=self.store.clock(), redact=redact,
                         referrals=self.queries.referrals_of(case.id) if active else [],
                         approvals=self.queries.activity_of(case.id)["approvals"] if active else [])
