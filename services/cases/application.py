"""The cases service's use cases: get the case → the access policy decides → the case decides →
save. `Cases` holds the caseworkers' and supervisors' commands, `CaseReactions` what the service does
on other services' news and on its own timer, `CaseTexts` other services' free text sealed with a
case's key. Reads are queries.py; what a client is shown, views.py."""
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from services.cases import policy
from services.cases.domain import Case, CaseActivity, Consent
from services.cases.protection import KeyMissing, open_sealed, seal
from services.cases.queries import (
    AuditTrail,
    CaseIndex,  # noqa: F401  (bench/ imports it from here, with CasesStore)
)
from services.cases.store import CaseStore
from shared.caller import Caller
from shared.errors import NotFound, VersionMismatch
from shared.store import fingerprint
from shared.times import iso, parse_time
from shared.vocabulary import Role

# Who the service itself is on the events it records on its own (the overdue scan).
SYSTEM = Caller(username="system", role=Role.SYSTEM).recorded()
# The approvals service's decisions, applied to the case they name.
DECISIONS = ("CasePlanApproved", "CasePlanRejected", "ClosureApproved", "ClosureRejected")
APPROVED = ("CasePlanApproved", "ClosureApproved")
# What a follow-up's monitoring by domain may carry (services/cases/domain.py Case.record_follow_up).
MONITORING = ("mode", "spoken_to", "domain_ratings", "raise_risk_to", "raise_reason")


class Cases(CaseStore):
    """The commands on a case. Each one: get the case, let the access policy decide, let the case
    decide, save; honouring If-Match and Idempotency-Key (`_change`)."""

    name = "cases"  # eventsourcing names an application after its class: its tables are cases_*

    def register_case(self, caller: Caller, data: dict, idempotency_key: str | None = None) -> Case:
        policy.permit(caller, "register_case")
        case = self.create_once(Case, caller, idempotency_key, data, lambda case_id, request_hash: Case(
            id=case_id, case_number=self.next_case_number(), assigned_to=caller.username,  # type: ignore[call-arg]
            request_hash=request_hash, by=caller.recorded(), registered_at=self.clock().isoformat(),
            organisation=policy.organisation_of(caller), **data))
        # A retry gets the first answer only while the caller may still read the case.
        return self._replayed(caller, case.id, "read", case) if idempotency_key else case

    def record_consent(self, caller: Caller, case_id: UUID, terms: dict, options: dict) -> Consent:
        def record(case: Case) -> Consent:
            consent = self.consent_of(case.id)
            if consent is None:
                return Consent(id=Consent.id_for(case.id), case_id=case.id, terms=terms,  # type: ignore[call-arg]
                               by=caller.recorded())
            consent.record(terms, by=caller.recorded())
            return consent
        return self._change(caller, case_id, "record_consent", terms, options, record)

    def withdraw_consent(self, caller: Caller, case_id: UUID, options: dict) -> Consent:
        def withdraw(case: Case) -> Consent:
            consent = self.consent_of(case.id)
            if consent is None:
                raise NotFound("No consent has been recorded for this case.")
            consent.withdraw(by=caller.recorded())
            return consent
        return self._change(caller, case_id, "withdraw_consent", {}, options, withdraw)

    def assess(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        return self._change(caller, case_id, "assess", data, options, lambda case: case.assess(
            consent=self.consent_of(case.id), by=caller.recorded(), **data))

    def draft_plan(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        return self._change(caller, case_id, "draft_plan", data, options, lambda case: case.draft_plan(
            data["goals"], data.get("child_participation"), by=caller.recorded()))

    def submit_plan(self, caller: Caller, case_id: UUID, options: dict) -> Case:
        return self._change(caller, case_id, "submit_plan", {}, options, lambda case: case.submit_plan(
            by=caller.recorded(), consent=self.consent_of(case.id)))

    def record_follow_up(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        monitoring = {k: data[k] for k in MONITORING if k in data}
        return self._change(caller, case_id, "record_follow_up", data, options, lambda case: case.record_follow_up(
            data["contacted"], parse_time(data["contact_date"]), data["safety_reassessed"], data.get("risk_level"),
            data.get("notes"), by=caller.recorded(), now=self.clock(), monitoring=monitoring))

    def hold_conference(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        return self._change(caller, case_id, "hold_conference", data, options, lambda case: case.hold_conference(
            data["held_on"], data["participants"], data["decisions"], data.get("next_steps"), by=caller.recorded()))

    def request_closure(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        return self._change(caller, case_id, "request_closure", data, options, lambda case: case.request_closure(
            data["reason"], data["notes"], by=caller.recorded(), now=self.clock()))

    def reopen(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        return self._change(caller, case_id, "reopen", data, options, lambda case: case.reopen(
            data["reason"], by=caller.recorded(), now=self.clock()))

    def reassign(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        return self._change(caller, case_id, "reassign", data, options, lambda case: case.reassign(
            data["caseworker"], caller.team, by=caller.recorded()))

    def give_feedback(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        return self._change(caller, case_id, "give_feedback", data, options, lambda case: case.give_feedback(
            data["answers"], by=caller.recorded()))

    def erase(self, caller: Caller, case_id: UUID, data: dict, options: dict) -> Case:
        """Crypto-shredding: the CaseErased event and the key's destruction commit together."""
        self._change(caller, case_id, "erase", data, options, lambda case: case.erase(
            data["reason"], by=caller.recorded(), now=self.clock()), destroy_key=True)
        self.keys.forget(case_id)
        return self.repository.get(case_id)

    def _change(self, caller: Caller, case_id: UUID, command: str, data: dict, options: dict,
                change: Callable[[Case], Any], destroy_key: bool = False) -> Any:
        """get → decide (the access policy) → call → save, honouring If-Match and Idempotency-Key."""
        key, if_match = options.get("idempotency_key"), options.get("if_match")
        request_hash = fingerprint({"command": command, "case": str(case_id), "data": data})
        for _ in range(3):
            if key and (first := self.replay(caller, key, request_hash)):
                return self._replayed(caller, case_id, command, first)
            case = self.case_for(caller, case_id, command)
            if if_match is not None and if_match != case.version:
                raise VersionMismatch(f"The case is at version {case.version}; reload it before changing it.")
            changed = change(case) or case
            replay = (caller.username, key, request_hash, changed.id, changed.version, 0) if key else None
            extra = {"statements": [self.keys.destruction(case.id)]} if destroy_key else {}
            try:
                self.save(changed, idempotency=replay, **extra)
                return changed
            except IntegrityError:
                # Someone (often the service itself: a timer, a decision) wrote first. Without
                # If-Match the caller asked for no precondition: apply the command to the new state.
                if if_match is not None:
                    break
        if key and (first := self.replay(caller, key, request_hash)):
            return self._replayed(caller, case_id, command, first)
        raise VersionMismatch("The case changed while this was being saved; reload it and try again.")

    def _replayed(self, caller: Caller, case_id: UUID, action: str, first: Any) -> Any:
        """A retry's first answer, shown only to a caller the policy still lets do `action` on the case as
        it is now (its state aside: the command was done): a case reassigned away, or moved to another
        organisation, is 404 to its replays as to any request, never the case file and what was added since."""
        policy.reach(caller, action, lambda: self.standing(case_id))
        return first



FLAG_BATCH = 100  # overdue flags saved in one transaction


class CaseReactions:
    """What the service does on its own: other services' news of a case (approval requests and
    decisions, referrals), recorded in the case's activity once per bus event, and the overdue scan."""

    def __init__(self, store: CaseStore):
        self.store = store

    def apply_decision(self, envelope: dict) -> bool:
        """A supervisor's (or the policy's) decision from the approvals service: recorded in the case's
        activity and applied to the case, together and once."""
        payload = envelope["payload"]

        def decided_case() -> list:
            case = self.store.case(payload["case_id"])
            approved = envelope["event_type"] in APPROVED
            if envelope["event_type"].startswith("CasePlan"):
                case.decide_plan(payload["submission"], approved, payload["decided_by"], by=_actor(envelope),
                                 now=self.store.clock())
            else:
                case.decide_closure(payload["submission"], approved, payload["decided_by"], by=_actor(envelope))
            return [case]
        return self._record_approval(envelope, "approval_decisions", along=decided_case)

    def approval_requested(self, envelope: dict) -> bool:
        return self._record_approval(envelope, "approval_requests")

    def _record_approval(self, envelope: dict, consumer: str, along: Callable[[], list] = list) -> bool:
        payload = envelope["payload"]
        case_id = self.store.known_case(payload["case_id"])
        return self.store.append(CaseActivity.id_for(case_id), CaseActivity.ApprovalRecorded, {
            "by": _actor(envelope), "case_id": case_id, "event_type": envelope["event_type"],
            "occurred_at": iso(envelope["occurred_at"]), "approval": payload["type"],
            "submission": payload["submission"], "requested_by": payload["requested_by"],
            "decided_by": payload.get("decided_by"), "commented": bool(payload.get("commented"))},
            along=along, inbox=(consumer, envelope["event_id"]))

    def referral_changed(self, envelope: dict) -> bool:
        """A referral made, accepted, declined, completed or withdrawn: recorded in the case's activity
        once, and the case's list of referrals brought up to date. Redelivered or overtaken events never
        move a referral back: its version orders them."""
        payload = envelope["payload"]
        case_id = self.store.known_case(payload["case_id"])
        upsert = self.store.referral_status(payload["referral_id"], case_id, payload["provider_id"],
                                            payload["service_type"], payload["status"], envelope["aggregate_version"])
        return self.store.append(CaseActivity.id_for(case_id), CaseActivity.ReferralRecorded, {
            "by": _actor(envelope), "case_id": case_id, "event_type": envelope["event_type"],
            "occurred_at": iso(envelope["occurred_at"]), "referral_id": str(payload["referral_id"]),
            "referral_version": envelope["aggregate_version"], "provider_id": str(payload["provider_id"]),
            "service_type": payload["service_type"], "status": payload["status"]},
            inbox=("referrals", envelope["event_id"]), statements=[upsert])

    def flag_overdue_follow_ups(self, limit: int = 500) -> int:
        """Emits FollowUpOverdue once per missed due time. Finds them in the index, not by replaying; saves
        them FLAG_BATCH cases to a transaction (one commit, one wait for the disk, for them all)."""
        now: datetime = self.store.clock()
        due = self.store.due_follow_ups(now, limit)
        flagged = 0
        for start in range(0, len(due), FLAG_BATCH):
            loaded: list[Case] = [self.store.repository.get(case_id) for case_id in due[start:start + FLAG_BATCH]]
            batch = [case for case in loaded if self._flag(case, now)]
            flagged += self._save_flags(batch, now)
        return flagged

    @staticmethod
    def _flag(case: Case, now: datetime) -> bool:
        return case.next_due is not None and case.flag_overdue(case.next_due, now, by=SYSTEM)

    def _save_flags(self, cases: list[Case], now: datetime) -> int:
        """Saves the flags together; if one of the cases changed meanwhile (a follow-up, or another instance
        flagged it), none is saved, and each is loaded, flagged and saved again on its own."""
        if not cases:
            return 0  # nothing to flag in this batch: no empty transaction
        try:
            self.store.save(*cases)
            return len(cases)
        except IntegrityError:
            pass
        flagged = 0
        for case_id in (case.id for case in cases):
            again: Case = self.store.repository.get(case_id)
            if self._flag(again, now):
                try:
                    self.store.save(again)
                    flagged += 1
                except IntegrityError:
                    pass  # changed again meanwhile: the next scan sees it
        return flagged


def _actor(envelope: dict) -> dict:
    """Who did it, as the announcing service recorded: an event's `by`."""
    return {**envelope["actor"], "correlation_id": envelope["correlation_id"]}


class CaseTexts:
    """Other services' free text about a case (referral notes, approval comments): sealed with the
    case's key for them to keep, and opened for those the access policy lets read it."""

    def __init__(self, store: CaseStore):
        self.store = store

    def seal_texts(self, caller: Caller, case_id: UUID, texts: list[str | None],
                   vouched: bool = False) -> list[str | None]:
        self._allowed(caller, [case_id], vouched)
        key = self._existing_key(case_id)
        return [None if text is None else seal(key, case_id, text) for text in texts]

    def open_texts(self, caller: Caller, pairs: list[tuple[UUID, str]], vouched: bool = False) -> list:
        self._allowed(caller, list({case_id for case_id, _ in pairs}), vouched)
        return [open_sealed(self._existing_key(case_id), case_id, value) for case_id, value in pairs]

    def _allowed(self, caller: Caller, case_ids: list[UUID], vouched: bool) -> None:
        """The access policy on each case, from the index (one query for a whole list of referrals);
        a case not yet in the index is loaded. `vouched`: the referrals service says each case was
        referred to the caller's provider (its ReferralMade may still be on the way here)."""
        held = self.store.holders(case_ids)
        referred = self.store.referred_to(caller.provider_id, case_ids)
        for case_id in case_ids:
            policy.permit_texts(caller, held.get(case_id) or self.store.standing(case_id),
                                vouched or case_id in referred)

    def _existing_key(self, case_id: UUID) -> bytes | None:
        try:
            return self.store.keys.key_for(case_id, create=False)
        except KeyMissing:
            raise NotFound("No such case.") from None


class CasesStore(Cases):
    """The single store bench/ was written against (not changed with this module: remove the two
    together). Its callers are dicts; the scan and the history are the other parts'."""

    name = "cases"

    def register_case(self, caller, data: dict, idempotency_key: str | None = None) -> Case:
        return super().register_case(Caller.of(caller), data, idempotency_key)

    def record_follow_up(self, caller, case_id: UUID, data: dict, options: dict) -> Case:
        return super().record_follow_up(Caller.of(caller), case_id, data, options)

    def flag_overdue_follow_ups(self, limit: int = 500) -> int:
        return CaseReactions(self).flag_overdue_follow_ups(limit)

    def history(self, caller, case_id: UUID, after: int = 0, limit: int = 200, record: bool = True) -> dict:
        return AuditTrail(self).history(Caller.of(caller), case_id, after, limit, record)
