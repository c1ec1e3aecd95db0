"""The case file: a survivor's case as an event-sourced aggregate, and consent in a stream of its
own. Pure: no I/O. Every command checks it is valid in the case's current state and says why
not in words a caseworker understands."""
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from shared.audited import Audited
from shared.errors import InvalidInput, InvalidTransition
from shared.organisations import organisation_or_first
from shared.vocabulary import ApprovalStatus, ClosureReason, RiskLevel, Stage

CADENCE: dict[str, timedelta] = {RiskLevel.HIGH: timedelta(hours=84), RiskLevel.MEDIUM: timedelta(days=7),
                                  RiskLevel.LOW: timedelta(days=14)}
UNREACHABLE_AFTER = timedelta(days=30)
# Well-being domains of a monitoring contact, in the order the script walks through them.
DOMAINS = ("safety_protection", "health_development", "psychosocial_mental_health", "family_relationships",
           "education", "livelihood_basic_needs")
RATINGS = ("green", "orange", "red")
RISK_ORDER: dict[str, int] = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2}
# Before a plan: where an assessment may still be recorded, and no plan or conference yet.
BEFORE_ASSESSMENT = (Stage.ENGAGEMENT, Stage.ASSESSMENT)
MONITORED = (Stage.IMPLEMENTATION, Stage.FOLLOW_UP)  # a plan approved: follow-ups are recorded
# A closed case accepts only these: a survivor may always withdraw consent and ask to be forgotten.
CLOSED_ACCEPTS = ("reopen", "give_feedback", "erase", "withdraw_consent")
AFTER_CLOSURE = {"reopen": "Only a closed case can be reopened.",
                 "give_feedback": "Client feedback is collected after the case is closed."}
_DOING = {"record_consent": "record consent", "assess": "record an assessment", "draft_plan": "change the case plan",
          "submit_plan": "submit the case plan", "record_follow_up": "record a follow-up",
          "hold_conference": "record a case conference", "request_closure": "request closure",
          "reassign": "reassign the case", "refer": "make a referral"}


def computed_risk(ratings: dict[str, str]) -> RiskLevel:
    """A red in the first three domains is high; an orange there, or a red elsewhere, medium."""
    first, rest = [ratings.get(d) for d in DOMAINS[:3]], [ratings.get(d) for d in DOMAINS[3:]]
    if "red" in first:
        return RiskLevel.HIGH
    if "orange" in first or "red" in rest:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


_CONSENT_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/consent")
_ACCESS_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/case-access")
_ACTIVITY_NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.example/case-activity")


class Case(Audited):
    id: UUID  # given by the application, so a retried registration lands on the same case
    erasure: dict[str, str] | None = None  # when, by whom and why the survivor's identifying data was erased
    monitoring: dict[str, Any] | None = None  # the latest rating per domain, and what is still to discuss
    unaccompanied: dict[str, str | None] | None = None  # a child's case with no caregiver: why

    if TYPE_CHECKING:  # the event classes @event makes from the names below, for the type checker
        CaseRegistered: type[Any]
        AssessmentRecorded: type[Any]
        CasePlanDrafted: type[Any]
        CasePlanSubmitted: type[Any]
        CasePlanApproved: type[Any]
        CasePlanRejected: type[Any]
        FollowUpRecorded: type[Any]
        RiskLevelChanged: type[Any]
        FollowUpOverdue: type[Any]
        CaseConferenceHeld: type[Any]
        CaseReassigned: type[Any]
        ClosureRequested: type[Any]
        ClosureApproved: type[Any]
        ClosureRejected: type[Any]
        CaseClosed: type[Any]
        CaseReopened: type[Any]
        ClientFeedbackRecorded: type[Any]
        CaseErased: type[Any]

    @event("CaseRegistered")
    def __init__(self, case_number: str, survivor: dict, risk_level: str, is_child: bool,
                 caregiver: dict | None, intake_notes: str | None, assigned_to: str,
                 request_hash: str, by: dict, unaccompanied: bool = False, unaccompanied_reason: str | None = None,
                 registered_at: str | None = None, organisation: str | None = None):
        self.case_number = case_number
        # issue 19: the organisation of the caller who registered it; never changes. A case registered
        # before organisations existed (its event names none) is the first organisation's.
        self.organisation = organisation_or_first(organisation)
        self.registered_at = registered_at  # by the service's clock (older cases: the event's time)
        self.unaccompanied = {"reason": unaccompanied_reason} if unaccompanied else None
        self.survivor = survivor
        self.risk_level = risk_level
        self.is_child = is_child
        self.caregiver = caregiver
        self.intake_notes = intake_notes
        self.assigned_to = assigned_to
        self.request_hash = request_hash
        self.stage = Stage.ENGAGEMENT
        self.assessment: dict | None = None
        self.plan: dict[str, Any] = {"status": "none", "goals": [], "submission": None}
        self.monitoring_base: str | None = None  # when the follow-up clock last started
        self.next_due: str | None = None
        self.overdue_flagged: list[str] = []
        self.last_contact: dict[str, Any] | None = None
        self.last_successful_contact: str | None = None
        self.follow_ups = 0
        self.conferences = 0
        self.closure: dict = {"status": "none"}
        self.feedback_given = 0

    # --- assessment ---------------------------------------------------------------------

    def assess(self, needs: list[str], safety_concerns: str, notes: str | None, risk_level: str | None,
               consent: "Consent | None", by: dict) -> None:
        self._require("assess")
        if self.stage not in (*BEFORE_ASSESSMENT, Stage.CASE_PLAN):
            raise InvalidTransition("The case is past assessment; record a follow-up to reassess risk.")
        if consent is None or not consent.services:
            raise InvalidTransition("The survivor's consent to services must be recorded before an assessment.")
        self._record_assessment(needs=needs, safety_concerns=safety_concerns, notes=notes, by=by)
        if risk_level and risk_level != self.risk_level:
            self._change_risk(risk_level, by)

    @event("AssessmentRecorded")
    def _record_assessment(self, needs: list[str], safety_concerns: str, notes: str | None, by: dict) -> None:
        self.assessment = {"needs": needs, "safety_concerns": safety_concerns, "notes": notes}
        self.stage = Stage.CASE_PLAN

    # --- case action plan ----------------------------------------------------------------

    def draft_plan(self, goals: list[dict], child_participation: str | None, by: dict) -> None:
        self._require("draft_plan")
        if self.stage in BEFORE_ASSESSMENT:
            raise InvalidTransition("Record an assessment before drafting the case plan.")
        if self.plan["status"] == "submitted":
            raise InvalidTransition("The case plan is awaiting the supervisor's decision.")
        self._draft_plan(goals=goals, child_participation=child_participation, by=by)

    @event("CasePlanDrafted")
    def _draft_plan(self, goals: list[dict], child_participation: str | None, by: dict) -> None:
        self.plan = {"status": "draft", "goals": goals, "submission": None,
                     "child_participation": child_participation}

    def submit_plan(self, by: dict, consent: "Consent | None" = None) -> None:
        self._require("submit_plan")
        if self.plan["status"] != "draft":
            raise InvalidTransition({"none": "Draft a case plan before submitting it.",
                                     "submitted": "The case plan is already awaiting a decision.",
                                     "approved": "The case plan is approved; draft a revision to change it.",
                                     "rejected": "Revise the rejected plan before submitting it again.",
                                     }[self.plan["status"]])
        self._submit_plan(submission=self.version + 1, **self._facts(),
                          approval_required=self.child_disagrees(consent), by=by)

    def child_disagrees(self, consent: "Consent | None") -> bool:
        """A child who does not assent to what the caregiver consented to: a supervisor decides, always."""
        return bool(self.is_child and consent and consent.child_disagrees)

    def _facts(self) -> dict:
        """What an approval policy looks at, as it is at submission time."""
        return {"case_number": self.case_number, "risk_level": self.risk_level, "is_child": self.is_child}

    @event("CasePlanSubmitted")
    def _submit_plan(self, submission: int, case_number: str, risk_level: str, is_child: bool, by: dict,
                     approval_required: bool = False) -> None:
        # `submission` is this event's own version: what the approvals service's decision names.
        self.plan = dict(self.plan, status="submitted", submission=submission)

    def decide_plan(self, submission: int, approved: bool, decided_by: str, by: dict, now: datetime) -> bool:
        """Applies the approvals service's decision; a decision on an older submission changes nothing."""
        if self.plan["status"] != "submitted" or self.plan["submission"] != submission:
            return False
        if approved:
            next_due = self.next_due or self._due_after(now.isoformat(), self.risk_level)
            self._approve_plan(decided_by=decided_by, monitoring_base=self.monitoring_base or now.isoformat(),
                               next_due=next_due, by=by)
        else:
            self._reject_plan(decided_by=decided_by, by=by)
        return True

    @event("CasePlanApproved")
    def _approve_plan(self, decided_by: str, monitoring_base: str, next_due: str, by: dict) -> None:
        self.plan = dict(self.plan, status="approved", decided_by=decided_by)
        if self.stage == Stage.CASE_PLAN:
            self.stage = Stage.IMPLEMENTATION
        self.monitoring_base, self.next_due = monitoring_base, next_due

    @event("CasePlanRejected")
    def _reject_plan(self, decided_by: str, by: dict) -> None:
        self.plan = dict(self.plan, status="rejected", decided_by=decided_by)

    # --- follow-ups and risk ---------------------------------------------------------------

    def record_follow_up(self, contacted: bool, contact_date: datetime, safety_reassessed: bool,
                         risk_level: str | None, notes: str | None, by: dict, now: datetime,
                         monitoring: dict | None = None) -> None:
        """`monitoring`: mode, spoken_to, domain_ratings, raise_risk_to, raise_reason (all optional).
        With ratings, the risk level is computed from them; a caseworker may raise it, never lower it."""
        self._require("record_follow_up")
        if self.stage not in MONITORED:
            raise InvalidTransition("The case plan must be approved before follow-ups are recorded.")
        self._require_contact_between(contact_date, now)
        monitoring = monitoring or {}
        ratings = monitoring.get("domain_ratings") or {}
        latest = {**self._latest_ratings(), **ratings}
        computed = computed_risk(latest) if latest else None
        chosen, cause = self._chosen_risk(computed, risk_level, monitoring, latest)
        base = contact_date.isoformat()
        self._record_follow_up(contacted=contacted, contact_date=base, safety_reassessed=safety_reassessed,
                               notes=notes, next_due=self._due_after(base, self.risk_level), by=by,
                               mode=monitoring.get("mode"), spoken_to=monitoring.get("spoken_to"),
                               domain_ratings=ratings or None, computed_risk=computed,
                               raise_reason=monitoring.get("raise_reason") if cause == "raised" else None)
        if chosen and chosen != self.risk_level:
            self._change_risk(chosen, by, cause)

    def _require_contact_between(self, contact_date: datetime, now: datetime) -> None:
        if contact_date > now:
            raise InvalidInput({"contact_date": ["A follow-up cannot be recorded for a future date."]})
        if contact_date < self.registered_on:
            raise InvalidInput({"contact_date": ["The contact is dated before the case was registered."]})

    @property
    def registered_on(self) -> datetime:
        return datetime.fromisoformat(self.registered_at) if self.registered_at else self.created_on

    def _latest_ratings(self) -> dict[str, str]:
        return {d: r["rating"] for d, r in (self.monitoring or {}).get("ratings", {}).items()}

    @staticmethod
    def _rated_enough(ratings: dict[str, str]) -> bool:
        return all(domain in ratings for domain in DOMAINS[:3])

    def _chosen_risk(self, computed: str | None, typed: str | None, monitoring: dict,
                     latest: dict[str, str]) -> tuple[str | None, str]:
        raised = monitoring.get("raise_risk_to")
        if raised and RISK_ORDER[raised] < RISK_ORDER[self.risk_level]:
            raise InvalidInput({"raise_risk_to": [f"The risk is {self.risk_level}; it may be raised, not lowered."]})
        if computed is None:  # no ratings yet: the level is typed, as before monitoring by domain
            return raised or typed, "raised" if raised else "follow_up"
        for field, level in (("raise_risk_to", raised), ("risk_level", typed)):
            if level and RISK_ORDER[level] < RISK_ORDER[computed]:
                raise InvalidInput({field: [f"The ratings make the risk {computed}; it may be raised, not lowered."]})
        if raised and RISK_ORDER[raised] > RISK_ORDER[computed]:
            return raised, "raised"
        if typed and RISK_ORDER[typed] > RISK_ORDER[computed]:
            return typed, "follow_up"
        if monitoring.get("domain_ratings"):
            # Until each of the first three domains has a rating, ratings may raise the level, never lower it.
            if RISK_ORDER[computed] < RISK_ORDER[self.risk_level] and not self._rated_enough(latest):
                return None, ""
            return computed, "domain_ratings"
        return None, ""  # nothing newly rated: the level stays

    @event("FollowUpRecorded")
    def _record_follow_up(self, contacted: bool, contact_date: str, safety_reassessed: bool,
                          notes: str | None, next_due: str, by: dict, mode: str | None = None,
                          spoken_to: list | None = None, domain_ratings: dict | None = None,
                          computed_risk: str | None = None, raise_reason: str | None = None) -> None:
        self.follow_ups += 1
        self.last_contact = {"date": contact_date, "contacted": contacted, "mode": mode, "spoken_to": spoken_to}
        if contacted:
            self.last_successful_contact = max(contact_date, self.last_successful_contact or contact_date)
        if self.stage == Stage.IMPLEMENTATION:
            self.stage = Stage.FOLLOW_UP
        self.monitoring_base, self.next_due = contact_date, next_due
        if domain_ratings:
            ratings = dict((self.monitoring or {}).get("ratings", {}))
            ratings.update({d: {"rating": r, "rated_at": contact_date} for d, r in domain_ratings.items()})
            # A domain left out of this contact is still to discuss at the next one.
            self.monitoring = {"ratings": ratings, "to_discuss": [d for d in DOMAINS if d not in domain_ratings],
                               "computed_risk": computed_risk, "raise_reason": raise_reason}
        elif self.monitoring and raise_reason:
            self.monitoring = dict(self.monitoring, raise_reason=raise_reason)

    def _change_risk(self, risk_level: str, by: dict, cause: str = "assessment") -> None:
        next_due = self._due_after(self.monitoring_base, risk_level) if self.monitoring_base else None
        self._risk_changed(previous=self.risk_level, risk_level=risk_level, next_due=next_due, cause=cause, by=by)

    @event("RiskLevelChanged")
    def _risk_changed(self, previous: str, risk_level: str, next_due: str | None, by: dict,
                      cause: str | None = None) -> None:
        self.risk_level, self.next_due = risk_level, next_due

    @staticmethod
    def _due_after(base: str, risk_level: str) -> str:
        return (datetime.fromisoformat(base) + CADENCE[risk_level]).isoformat()

    def is_overdue(self, now: datetime) -> bool:
        return self.stage != Stage.CLOSED and self.next_due is not None and datetime.fromisoformat(self.next_due) < now

    def flag_overdue(self, due: str, now: datetime, by: dict) -> bool:
        """Records a missed due time once; a due time already flagged, or no longer current, is ignored."""
        if self.next_due != due or due in self.overdue_flagged or not self.is_overdue(now):
            return False
        self._follow_up_overdue(due=due, by=by)
        return True

    @event("FollowUpOverdue")
    def _follow_up_overdue(self, due: str, by: dict) -> None:
        self.overdue_flagged = [*self.overdue_flagged[-9:], due]

    # --- conferences, reassignment -------------------------------------------------------

    def hold_conference(self, held_on: str, participants: list[str], decisions: str,
                        next_steps: str | None, by: dict) -> None:
        self._require("hold_conference")
        if self.stage in BEFORE_ASSESSMENT:
            raise InvalidTransition("Record an assessment before holding a case conference.")
        self._conference_held(held_on=held_on, participants=participants, decisions=decisions,
                              next_steps=next_steps, by=by)

    @event("CaseConferenceHeld")
    def _conference_held(self, held_on: str, participants: list[str], decisions: str,
                         next_steps: str | None, by: dict) -> None:
        self.conferences += 1

    def reassign(self, caseworker: str, team: Sequence[str], by: dict) -> None:
        self._require("reassign")
        if caseworker not in team:
            raise InvalidTransition(f"{caseworker} is not a caseworker in your team.")
        if caseworker == self.assigned_to:
            raise InvalidTransition(f"The case is already assigned to {caseworker}.")
        self._reassigned(previous=self.assigned_to, caseworker=caseworker, by=by)

    @event("CaseReassigned")
    def _reassigned(self, previous: str, caseworker: str, by: dict) -> None:
        self.assigned_to = caseworker

    # --- closure, reopening, feedback ------------------------------------------------------

    def request_closure(self, reason: str, notes: str, by: dict, now: datetime) -> None:
        self._require("request_closure")
        if self.closure["status"] == "requested":
            raise InvalidTransition("Closure is already awaiting the supervisor's decision.")
        if reason == ClosureReason.UNREACHABLE:
            last = (datetime.fromisoformat(self.last_successful_contact) if self.last_successful_contact
                    else self.registered_on)
            if now - last < UNREACHABLE_AFTER:
                days = (now - last).days
                raise InvalidTransition(f"A case may be closed as unreachable only 30 days after the last "
                                        f"successful contact; it was {days} days ago.")
        self._closure_requested(reason=reason, notes=notes, submission=self.version + 1, **self._facts(), by=by)

    @event("ClosureRequested")
    def _closure_requested(self, reason: str, notes: str, submission: int, case_number: str, risk_level: str,
                           is_child: bool, by: dict) -> None:
        self.closure = {"status": "requested", "reason": reason, "submission": submission}

    def decide_closure(self, submission: int, approved: bool, decided_by: str, by: dict) -> bool:
        if self.closure["status"] != "requested" or self.closure["submission"] != submission:
            return False
        if approved:
            self._closure_approved(decided_by=decided_by, by=by)
            self._closed(reason=self.closure["reason"], by=by)
        else:
            self._closure_rejected(decided_by=decided_by, by=by)
        return True

    @event("ClosureApproved")
    def _closure_approved(self, decided_by: str, by: dict) -> None:
        self.closure = dict(self.closure, status="approved", decided_by=decided_by)

    @event("ClosureRejected")
    def _closure_rejected(self, decided_by: str, by: dict) -> None:
        self.closure = dict(self.closure, status="rejected", decided_by=decided_by)

    @event("CaseClosed")
    def _closed(self, reason: str, by: dict) -> None:
        self.stage = Stage.CLOSED
        self.next_due = None

    def reopen(self, reason: str, by: dict, now: datetime) -> None:
        self._require("reopen")
        base = now.isoformat()
        self._reopened(reason=reason, monitoring_base=base, next_due=self._due_after(base, self.risk_level), by=by)

    @event("CaseReopened")
    def _reopened(self, reason: str, monitoring_base: str, next_due: str, by: dict) -> None:
        self.stage = Stage.FOLLOW_UP
        self.closure = {"status": "none"}
        self.monitoring_base, self.next_due = monitoring_base, next_due

    def give_feedback(self, answers: dict, by: dict) -> None:
        self._require("give_feedback")
        self._feedback(answers=answers, by=by)

    @event("ClientFeedbackRecorded")
    def _feedback(self, answers: dict, by: dict) -> None:
        self.feedback_given += 1

    # --- erasure ------------------------------------------------------------------------

    def erase(self, reason: str, by: dict, now: datetime) -> None:
        """The survivor asked to be forgotten: the application destroys the case's key with this event."""
        self._require("erase")
        self._erased(reason=reason, erased_at=now.isoformat(), by=by)

    @event("CaseErased")
    def _erased(self, reason: str, erased_at: str, by: dict) -> None:
        self.erasure = {"reason": reason, "erased_by": by["username"], "erased_at": erased_at}

    # --- what the case's state accepts --------------------------------------------------------

    def refusal(self, action: str) -> str | None:
        """Why the case, as it now is, refuses `action` (a command of the access policy), or None.
        An erased case refuses everything; a closed one all but CLOSED_ACCEPTS."""
        if self.erasure:
            if action == "erase":
                return "The survivor's identifying data has already been erased."
            return "The survivor's identifying data was erased; the case can no longer change."
        if self.stage == Stage.CLOSED and action not in CLOSED_ACCEPTS:
            return f"The case is closed; reopen it to {_DOING.get(action, action.replace('_', ' '))}."
        if self.stage != Stage.CLOSED and action in AFTER_CLOSURE:
            return AFTER_CLOSURE[action]
        return None

    def _require(self, action: str) -> None:
        if why := self.refusal(action):
            raise InvalidTransition(why)


class CaseAccess(Audited):
    """Who read a case file, and when: a stream of its own, so reading never changes the case's version."""

    @staticmethod
    def id_for(case_id: UUID) -> UUID:
        return uuid5(_ACCESS_NAMESPACE, str(case_id))

    class CaseViewed(Audited.Event):
        case_id: UUID
        view: str  # case | as_of | history | audit_export


class CaseActivity(Audited):
    """What other services did to a case (referrals, approval requests and decisions), in the order
    the cases service learned it: a stream of its own, linked into the case's chain, so the case's
    whole story is in one chain. Ids, enumerations and usernames only: free text stays sealed where
    it is kept."""

    @staticmethod
    def id_for(case_id: UUID) -> UUID:
        return uuid5(_ACTIVITY_NAMESPACE, str(case_id))

    class ReferralRecorded(Audited.Event):
        case_id: UUID
        event_type: str  # ReferralMade | ReferralAccepted | ... as the referrals service announced it
        occurred_at: str  # when the referrals service recorded it
        referral_id: str
        referral_version: int
        provider_id: str
        service_type: str
        status: str

    class ApprovalRecorded(Audited.Event):
        case_id: UUID
        event_type: str  # ApprovalRequested | CasePlanApproved | ... as the approvals service announced it
        occurred_at: str  # when the approvals service recorded it
        approval: str  # case_plan | closure
        submission: int
        requested_by: str
        decided_by: str | None
        commented: bool


def activity_view(events: Iterable[object]) -> dict[str, list[dict]]:
    """Referrals and approvals as a run of CaseActivity events leaves them. A referral's own version
    orders its changes, so a late, older announcement never moves it back."""
    referrals: dict[str, dict[str, Any]] = {}
    approvals: dict[tuple[str, int], dict[str, Any]] = {}
    for recorded in events:
        if isinstance(recorded, CaseActivity.ReferralRecorded):
            known = referrals.get(recorded.referral_id)
            if known is None or known["version"] < recorded.referral_version:
                referrals[recorded.referral_id] = {
                    "referral_id": recorded.referral_id, "provider_id": recorded.provider_id,
                    "service_type": recorded.service_type, "status": recorded.status,
                    "version": recorded.referral_version}
        elif isinstance(recorded, CaseActivity.ApprovalRecorded):
            key = (recorded.approval, recorded.submission)
            status = _APPROVAL_STATUS[recorded.event_type]
            entry = approvals.setdefault(key, {"type": recorded.approval, "submission": recorded.submission,
                                               "requested_by": recorded.requested_by, "status": status})
            if status != ApprovalStatus.PENDING:
                entry.update(status=status, decided_by=recorded.decided_by, commented=recorded.commented)
    return {"referrals": [{k: v for k, v in r.items() if k != "version"}
                          for r in sorted(referrals.values(), key=lambda r: r["referral_id"])],
            "approvals": [approvals[key] for key in sorted(approvals)]}


# The approvals service's events (by the names it announces them under), and the status each leaves.
_APPROVAL_STATUS = {"ApprovalRequested": ApprovalStatus.PENDING, "CasePlanApproved": ApprovalStatus.APPROVED,
                    "ClosureApproved": ApprovalStatus.APPROVED, "CasePlanRejected": ApprovalStatus.REJECTED,
                    "ClosureRejected": ApprovalStatus.REJECTED}


class Consent(Audited):
    """The survivor's informed consent, kept apart from the case file."""

    id: UUID

    if TYPE_CHECKING:  # the event classes @event makes from the names below, for the type checker
        ConsentRecorded: type[Any]
        ConsentRenewed: type[Any]
        ConsentWithdrawn: type[Any]

    @staticmethod
    def id_for(case_id: UUID) -> UUID:
        return uuid5(_CONSENT_NAMESPACE, str(case_id))

    @event("ConsentRecorded")
    def __init__(self, case_id: UUID, terms: dict, by: dict):
        self.case_id = case_id
        self._apply(terms)

    def record(self, terms: dict, by: dict) -> None:
        self._renewed(case_id=self.case_id, terms=terms, by=by)

    @event("ConsentRenewed")
    def _renewed(self, case_id: UUID, terms: dict, by: dict) -> None:
        self._apply(terms)

    def withdraw(self, by: dict) -> None:
        if self.withdrawn:
            raise InvalidTransition("Consent is already withdrawn.")
        self._withdrawn(case_id=self.case_id, by=by)

    @event("ConsentWithdrawn")
    def _withdrawn(self, case_id: UUID, by: dict) -> None:
        self.withdrawn = True

    def _apply(self, terms: dict) -> None:
        self.terms = terms
        self.withdrawn = False

    @property
    def services(self) -> bool:
        return not self.withdrawn and bool(self.terms.get("services"))

    @property
    def child_disagrees(self) -> bool:
        return (not self.withdrawn and self.terms.get("given_by") == "caregiver"
                and self.terms.get("child_assent") is False)

    @property
    def shares_with_providers(self) -> bool:
        return self.services and bool(self.terms.get("share_with_providers"))

