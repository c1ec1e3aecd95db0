"""The case lifecycle in the domain alone: every transition, and every refusal."""
from datetime import UTC, datetime, timedelta

import pytest

from services.cases.domain import Case, Consent
from shared.errors import InvalidInput, InvalidTransition
from shared.store import request_id

CW = {"username": "cw1", "role": "caseworker", "correlation_id": None}
SUP = {"username": "sup1", "role": "supervisor", "correlation_id": None}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REGISTERED = NOW - timedelta(days=90)
GOALS = [{"need": "medical", "action": "refer to clinic", "responsible": "cw1", "due_date": "2026-12-01"}]


def registered(risk="high") -> Case:
    return Case(id=request_id(Case, "cw1", "k"), case_number="GBV-2026-000001", survivor={"name": "A"},
                risk_level=risk, is_child=False, caregiver=None, intake_notes=None, assigned_to="cw1",
                request_hash="h", by=CW, registered_at=REGISTERED.isoformat())


def consent(services=True) -> Consent:
    return Consent(id=Consent.id_for(request_id(Case, "cw1", "k")), case_id=request_id(Case, "cw1", "k"),
                   terms={"services": services, "share_with_providers": True}, by=CW)


def in_implementation(risk="high") -> Case:
    case = registered(risk)
    case.assess(needs=["medical"], safety_concerns="none", notes=None, risk_level=None, consent=consent(), by=CW)
    case.draft_plan(GOALS, None, by=CW)
    case.submit_plan(by=CW)
    assert case.plan["submission"] == case.version  # what the bus announces and the decision names
    assert case.decide_plan(case.version, True, "sup1", by=SUP, now=NOW)
    return case


def refused(command, *args, **kwargs) -> str:
    with pytest.raises(InvalidTransition) as refusal:
        command(*args, **kwargs)
    return str(refusal.value)


def test_a_plan_rejected_then_revised_is_approved_and_schedules_follow_ups():
    case = registered()
    case.assess(needs=["medical"], safety_concerns="threats", notes=None, risk_level=None, consent=consent(), by=CW)
    assert case.stage == "case_plan"
    case.draft_plan(GOALS, None, by=CW)
    case.submit_plan(by=CW)
    first = case.plan["submission"]
    assert case.decide_plan(first, False, "sup1", by=SUP, now=NOW)
    assert case.plan["status"] == "rejected" and case.stage == "case_plan"

    case.draft_plan(GOALS * 2, None, by=CW)
    case.submit_plan(by=CW)
    assert not case.decide_plan(first, True, "sup1", by=SUP, now=NOW)  # a stale decision
    assert case.decide_plan(case.plan["submission"], True, "sup1", by=SUP, now=NOW)
    assert case.stage == "implementation" and case.plan["status"] == "approved"
    assert case.next_due == (NOW + timedelta(hours=84)).isoformat()


def test_follow_ups_move_to_monitoring_and_a_risk_change_reschedules():
    case = in_implementation("medium")
    contact = NOW - timedelta(days=1)
    case.record_follow_up(True, contact, True, None, None, by=CW, now=NOW)
    assert case.stage == "follow_up"
    assert case.next_due == (contact + timedelta(days=7)).isoformat()
    case.record_follow_up(True, NOW, True, "low", None, by=CW, now=NOW)
    assert case.next_due == (NOW + timedelta(days=14)).isoformat()
    case.record_follow_up(False, NOW, False, "high", None, by=CW, now=NOW)
    assert case.risk_level == "high" and case.next_due == (NOW + timedelta(hours=84)).isoformat()


def test_an_overdue_due_time_is_flagged_once():
    case = in_implementation("high")
    due = case.next_due
    late = NOW + timedelta(hours=85)
    assert not case.flag_overdue(due, NOW, by=SUP)  # not yet due
    assert case.flag_overdue(due, late, by=SUP)
    assert not case.flag_overdue(due, late, by=SUP)
    case.record_follow_up(True, late, True, None, None, by=CW, now=late)
    assert case.flag_overdue(case.next_due, late + timedelta(hours=85), by=SUP)  # the next missed time


def test_unreachable_closure_needs_30_days_since_the_last_successful_contact():
    case = in_implementation()
    contact = NOW - timedelta(days=40)
    case.record_follow_up(True, contact, True, None, None, by=CW, now=NOW)
    case.record_follow_up(False, NOW - timedelta(days=5), False, None, None, by=CW, now=NOW)
    assert "29 days" in refused(case.request_closure, "unreachable", "no answer", by=CW,
                                now=contact + timedelta(days=29, hours=23))
    case.request_closure("unreachable", "no answer", by=CW, now=contact + timedelta(days=30))
    assert case.closure["status"] == "requested"


def test_closure_approved_closes_then_reopen_and_feedback():
    case = in_implementation()
    case.request_closure("needs_met", "done", by=CW, now=NOW)
    assert "already awaiting" in refused(case.request_closure, "needs_met", "again", by=CW, now=NOW)
    assert case.decide_closure(case.closure["submission"], True, "sup1", by=SUP)
    assert case.stage == "closed" and case.next_due is None
    assert not case.is_overdue(NOW + timedelta(days=365))

    # That the case's own caseworker may not collect feedback is the access policy's (test_case_policy).
    case.give_feedback({"satisfied": True}, by={"username": "cw2", "role": "caseworker"})
    assert "reopen it" in refused(case.record_follow_up, True, NOW, True, None, None, by=CW, now=NOW)
    case.reopen("new threats", by=CW, now=NOW)
    assert case.stage == "follow_up" and case.next_due == (NOW + timedelta(hours=84)).isoformat()


def test_every_out_of_order_command_is_refused_with_a_reason():
    case = registered()
    assert "consent" in refused(case.assess, ["medical"], "x", None, None, None, by=CW)
    assert "consent" in refused(case.assess, ["medical"], "x", None, None, consent(services=False), by=CW)
    assert "assessment" in refused(case.draft_plan, GOALS, None, by=CW)
    assert "Draft a case plan" in refused(case.submit_plan, by=CW)
    assert "must be approved" in refused(case.record_follow_up, True, NOW, True, None, None, by=CW, now=NOW)
    assert "assessment" in refused(case.hold_conference, "2026-11-20", ["cw1"], "x", None, by=CW)
    assert "Only a closed case" in refused(case.reopen, "x", by=CW, now=NOW)
    assert "after the case is closed" in refused(case.give_feedback, {}, by=SUP)
    case.assess(needs=["medical"], safety_concerns="x", notes=None, risk_level=None, consent=consent(), by=CW)
    case.draft_plan(GOALS, None, by=CW)
    case.submit_plan(by=CW)
    assert "awaiting" in refused(case.draft_plan, GOALS, None, by=CW)
    assert "already awaiting" in refused(case.submit_plan, by=CW)
    assert "not a caseworker in your team" in refused(case.reassign, "cw9", ["cw2"], by=SUP)
    for dated in (NOW + timedelta(days=1), REGISTERED - timedelta(seconds=1)):
        with pytest.raises(InvalidInput) as refusal:
            in_implementation().record_follow_up(True, dated, True, None, None, by=CW, now=NOW)
        assert set(refusal.value.errors) == {"contact_date"}


def test_consent_can_be_withdrawn_once():
    given = consent()
    assert given.services and given.shares_with_providers
    given.withdraw(by=CW)
    assert not given.services and not given.shares_with_providers
    assert "already withdrawn" in refused(given.withdraw, by=CW)
    given.record({"services": True, "share_with_providers": False}, by=CW)
    assert given.services and not given.shares_with_providers


def test_every_public_case_event_passes_its_bus_schema():
    from services.cases.views import public_event
    from shared.envelope import PAYLOADS
    case = in_implementation()
    case.record_follow_up(True, NOW, True, "low", "notes", by=CW, now=NOW)
    case.flag_overdue(case.next_due, NOW + timedelta(days=30), by=SUP)
    case.hold_conference("2026-11-20", ["cw1"], "x", None, by=CW)
    case.reassign("cw2", ["cw2"], by=SUP)
    case.request_closure("needs_met", "done", by=CW, now=NOW)
    case.decide_closure(case.closure["submission"], True, "sup1", by=SUP)
    case.reopen("again", by=CW, now=NOW)
    given = consent()
    given.record({"services": True, "share_with_providers": False}, by=CW)
    given.withdraw(by=CW)
    published = set()
    for event in case.collect_events() + given.collect_events():
        public = public_event(event)
        if public is not None:
            PAYLOADS[public[0]].load(public[1])
            published.add(public[0])
    assert {"CaseRegistered", "FollowUpRecorded", "RiskLevelChanged", "FollowUpOverdue", "CaseClosed",
            "CaseReopened", "CaseReassigned", "ConsentRecorded", "ConsentWithdrawn", "ClosureRequested"} <= published
