"""What the cases service shows of a case: to a client (the case file, a row of the case list, an
item of its history, as JSON) and to the other services (the public event on the bus, which never
carries survivor data). An auditor's view never carries identifying fields."""
from datetime import UTC, datetime
from uuid import UUID

from services.cases.domain import Case, CaseAccess, CaseActivity, Consent
from services.cases.protection import CASE_FILE, IDENTIFYING, redacted
from shared.organisations import organisation_or_first
from shared.times import iso, shown
from shared.vocabulary import Stage

# --- the case file (GET /v1/cases/{id}) -------------------------------------------------------


def case_view(case: Case, consent: Consent | None = None, now: datetime | None = None,
              redact: bool = False, referrals: list[dict] | None = None, approvals: list[dict] | None = None) -> dict:
    """The case file as the contract shows it (GET /v1/cases/{id}). A closed case file never
    carries the consent record; an auditor's view never carries identifying fields."""
    now = now or datetime.now(UTC)
    view = {
        "id": str(case.id), "case_number": case.case_number, "version": case.version,
        "stage": case.stage, "risk_level": case.risk_level, "assigned_to": case.assigned_to,
        "is_child": case.is_child, "survivor": case.survivor, "caregiver": case.caregiver,
        "unaccompanied": case.unaccompanied if case.is_child else None,
        "intake_notes": case.intake_notes,
        "consent": None if case.stage == Stage.CLOSED else consent_view(consent),
        "assessment": case.assessment,
        "plan": {k: v for k, v in case.plan.items() if k != "submission"},
        "follow_up": _follow_up(case, now),
        "closure": {k: v for k, v in case.closure.items() if k != "submission"},
        "monitoring": _monitoring(case),
        "conferences": case.conferences,
        "referrals": referrals or [],
        "approvals": approvals or [],
        "erasure": case.erasure,
        "created_at": iso(case.created_on), "updated_at": iso(case.modified_on),
    }
    view = plain(view)  # times the case keeps as strings (an erasure's, its activity's) in UTC with Z
    return redacted(view, CASE_FILE) if redact else view


def _follow_up(case: Case, now: datetime) -> dict:
    last = case.last_contact
    return {"next_due": iso(case.next_due), "overdue": case.is_overdue(now),
            "last_contact": last and dict(last, date=iso(last["date"])), "count": case.follow_ups}


def _monitoring(case: Case) -> dict | None:
    if not case.monitoring:
        return case.monitoring
    ratings = {d: dict(r, rated_at=iso(r["rated_at"])) for d, r in case.monitoring["ratings"].items()}
    return {**case.monitoring, "risk_level": case.risk_level, "ratings": ratings}


def consent_view(consent: Consent | None) -> dict | None:
    if consent is None:
        return None
    return {**consent.terms, "withdrawn": consent.withdrawn, "version": consent.version,
            "recorded_at": iso(consent.modified_on)}


# --- a row of the case list ---------------------------------------------------------------------

def index_item(row: dict, now: datetime) -> dict:
    overdue = bool(row["next_due"] and row["stage"] != Stage.CLOSED and row["next_due"] < now)
    return {"id": str(row["case_id"]), "case_number": row["case_number"], "stage": row["stage"],
            "risk_level": row["risk_level"], "assigned_to": row["assigned_to"], "is_child": row["is_child"],
            "version": row["version"],
            "follow_up": {"next_due": iso(row["next_due"]), "overdue": overdue},
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


# --- an item of the case's history (its audit chain) ---------------------------------------------

_NOT_DATA = ("originator_id", "originator_version", "originator_topic", "timestamp", "by", "request_hash")


def history_item(link: dict, prev_hash: str, event, redact: bool) -> dict:
    """One link of the chain with the event it names."""
    kind = type(event).__name__
    data = {k: v for k, v in vars(event).items() if k not in _NOT_DATA}
    if redact:
        data = redacted(data, IDENTIFYING.get(kind, ()))
    return {**_link(link, prev_hash), "type": kind, "occurred_at": iso(event.timestamp),
            "actor": {"username": event.by.get("username"), "role": event.by.get("role")},
            "correlation_id": event.by.get("correlation_id"),
            "stream": stream_of(event), "stream_version": event.originator_version, "data": plain(data)}


def damaged_item(link: dict, prev_hash: str, damage: str) -> dict:
    """A link whose event is "missing" (its row gone) or "unreadable" (its bytes damaged): the history
    still answers; verification names it."""
    return {**_link(link, prev_hash), "type": None, damage: True}


def _link(link: dict, prev_hash: str) -> dict:
    return {"sequence": link["sequence"], "hash": link["hash"], "prev_hash": prev_hash}


def stream_of(event) -> str:
    """Which of the case's streams an event belongs to: its file, its consent, its reads, or what
    other services did to it."""
    if isinstance(event, Consent.Event):
        return "consent"
    if isinstance(event, CaseAccess.Event):
        return "access"
    if isinstance(event, CaseActivity.Event):
        return "activity"
    return "case"


def redacted_item(item: dict) -> dict:
    """A history item with its identifying fields "[redacted]" (an item without data as it is)."""
    if "data" not in item:
        return item
    return {**item, "data": redacted(item["data"], IDENTIFYING.get(item["type"], ()))}


def plain(value):
    """Event data as JSON: ids and times as strings."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, str):
        return shown(value)  # times kept as strings in events (registered_at, next_due...)
    return value


# --- what the other services learn of a case (the bus) --------------------------------------------

def public_event(event) -> tuple[str, dict] | None:
    """What other services learn of a case (the type it is announced as, and its payload): ids,
    numbers, stage, risk and dates; never survivor data. One case per public event, matched by its
    class. Approval decisions are the approvals service's events, not republished here."""
    match event:
        case Case.CaseRegistered():
            return "CaseRegistered", {"case_number": event.case_number, "risk_level": event.risk_level,
                                      "is_child": event.is_child, "assigned_to": event.assigned_to,
                                      "stage": Stage.ENGAGEMENT,  # issue 19: the organisation's id only
                                      "organisation": organisation_or_first(getattr(event, "organisation", None))}
        case Consent.ConsentRecorded() | Consent.ConsentRenewed():
            return "ConsentRecorded", {"case_id": str(event.case_id), "services": bool(event.terms.get("services")),
                                       "share_with_providers": bool(event.terms.get("share_with_providers"))}
        case Consent.ConsentWithdrawn():
            return "ConsentWithdrawn", {"case_id": str(event.case_id)}
        case Case.AssessmentRecorded():
            return "AssessmentRecorded", {"needs": event.needs}
        case Case.RiskLevelChanged():
            return "RiskLevelChanged", {"previous": event.previous, "risk_level": event.risk_level,
                                        "next_due": event.next_due, "cause": getattr(event, "cause", None)}
        case Case.CasePlanDrafted():
            return "CasePlanDrafted", {"goals": len(event.goals)}
        case Case.CasePlanSubmitted():
            return "CasePlanSubmitted", {"submission": event.submission, **_facts(event),
                                         "approval_required": getattr(event, "approval_required", False)}
        case Case.FollowUpRecorded():
            return "FollowUpRecorded", {"contacted": event.contacted, "next_due": event.next_due}
        case Case.FollowUpOverdue():
            return "FollowUpOverdue", {"due": event.due}
        case Case.CaseConferenceHeld():
            return "CaseConferenceHeld", {"held_on": event.held_on}
        case Case.ClosureRequested():
            return "ClosureRequested", {"reason": event.reason, "submission": event.submission, **_facts(event)}
        case Case.CaseClosed():
            return "CaseClosed", {"reason": event.reason}
        case Case.CaseReopened():
            return "CaseReopened", {"next_due": event.next_due}
        case Case.CaseReassigned():
            return "CaseReassigned", {"previous": event.previous, "assigned_to": event.caseworker}
        case Case.CaseErased():
            return "CaseErased", {"case_id": str(event.originator_id)}
    return None


def _facts(event) -> dict:
    """What a submission carries for the approval policy, as it was when it was made."""
    return {"case_number": event.case_number, "risk_level": event.risk_level, "is_child": event.is_child}
