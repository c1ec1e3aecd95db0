"""Monitoring by domain and child survivors' cases, in the domain alone."""
from datetime import timedelta

import pytest

from services.cases.domain import DOMAINS, Case, Consent, computed_risk
from shared.errors import InvalidInput
from shared.store import request_id
from tests.unit.test_case_rules import CW, GOALS, NOW, SUP, consent, in_implementation

SAFETY, HEALTH, PSYCHO, FAMILY, EDUCATION, LIVELIHOOD = DOMAINS


@pytest.mark.parametrize("ratings, risk", [
    ({}, "low"),
    ({d: "green" for d in DOMAINS}, "low"),
    ({SAFETY: "red"}, "high"), ({HEALTH: "red"}, "high"), ({PSYCHO: "red"}, "high"),
    ({SAFETY: "orange"}, "medium"), ({HEALTH: "orange"}, "medium"), ({PSYCHO: "orange"}, "medium"),
    ({FAMILY: "red"}, "medium"), ({EDUCATION: "red"}, "medium"), ({LIVELIHOOD: "red"}, "medium"),
    ({FAMILY: "orange", EDUCATION: "orange", LIVELIHOOD: "orange"}, "low"),
    ({SAFETY: "red", FAMILY: "green"}, "high"),
    ({SAFETY: "orange", FAMILY: "red"}, "medium"),
    ({PSYCHO: "red", LIVELIHOOD: "red", SAFETY: "orange"}, "high"),
])
def test_the_risk_computed_from_the_ratings(ratings, risk):
    assert computed_risk(ratings) == risk


def contact(case: Case, when, ratings=None, **monitoring):
    case.record_follow_up(True, when, True, monitoring.pop("risk_level", None), None, by=CW, now=when,
                          monitoring={"mode": "phone", "spoken_to": ["survivor"], "domain_ratings": ratings, **monitoring})


def test_ratings_set_the_risk_and_the_cadence_with_their_cause():
    case = in_implementation(risk="low")
    contact(case, NOW, {SAFETY: "red", HEALTH: "green"})
    assert case.risk_level == "high" and case.next_due == (NOW + timedelta(hours=84)).isoformat()
    changed = case.collect_events()[-1]
    assert type(changed).__name__ == "RiskLevelChanged" and changed.cause == "domain_ratings"
    contact(case, NOW + timedelta(days=1), {SAFETY: "green"})  # health stays green from before
    assert case.risk_level == "high"  # psychosocial unrated: ratings may raise the level, not yet lower it
    contact(case, NOW + timedelta(days=1), {PSYCHO: "green"})  # each of the first three domains rated
    assert case.risk_level == "low" and case.next_due == (NOW + timedelta(days=15)).isoformat()
    assert case.monitoring["computed_risk"] == "low"


def test_domains_left_out_are_still_to_discuss_until_rated():
    case = in_implementation(risk="low")
    contact(case, NOW, {SAFETY: "green", HEALTH: "green", PSYCHO: "orange"})
    assert case.monitoring["to_discuss"] == [FAMILY, EDUCATION, LIVELIHOOD]
    contact(case, NOW + timedelta(days=1), {FAMILY: "green", EDUCATION: "red"})
    assert case.monitoring["to_discuss"] == [SAFETY, HEALTH, PSYCHO, LIVELIHOOD]
    assert case.monitoring["ratings"][PSYCHO] == {"rating": "orange", "rated_at": NOW.isoformat()}
    assert case.risk_level == "medium"  # psychosocial orange is carried over, education red is new
    case.record_follow_up(False, NOW + timedelta(days=2), False, None, None, by=CW, now=NOW + timedelta(days=2))
    assert case.monitoring["to_discuss"] == [SAFETY, HEALTH, PSYCHO, LIVELIHOOD]  # an attempt rates nothing
    assert case.risk_level == "medium"


def test_a_caseworker_raises_the_computed_level_with_a_reason_but_never_lowers_it():
    case = in_implementation(risk="low")
    contact(case, NOW, {SAFETY: "orange"}, raise_risk_to="high", raise_reason="threats since the last call")
    assert case.risk_level == "high" and case.monitoring["computed_risk"] == "medium"
    assert case.monitoring["raise_reason"] == "threats since the last call"
    assert case.collect_events()[-1].cause == "raised"
    with pytest.raises(InvalidInput) as lowered:
        contact(case, NOW + timedelta(days=1), {SAFETY: "red"}, raise_risk_to="medium", raise_reason="x")
    assert "raise_risk_to" in lowered.value.errors
    with pytest.raises(InvalidInput) as below:
        contact(case, NOW + timedelta(days=1), {}, raise_risk_to="medium", raise_reason="x")
    assert set(below.value.errors) == {"raise_risk_to"}  # below the case's level, whatever the ratings
    with pytest.raises(InvalidInput) as typed:
        contact(case, NOW + timedelta(days=1), {SAFETY: "red"}, risk_level="low")
    assert "risk_level" in typed.value.errors


def child_case(caregiver_consents_child_refuses: bool) -> tuple[Case, Consent]:
    case_id = request_id(Case, "cw1", "child")
    case = Case(id=case_id, case_number="GBV-2026-000002", survivor={"name": "A"}, risk_level="low", is_child=True,
                caregiver={"name": "B", "relationship": "mother"}, intake_notes=None, assigned_to="cw1",
                request_hash="h", by=CW)
    terms = {"services": True, "share_with_providers": False, "given_by": "caregiver", "child_age": 13,
             "child_assent": not caregiver_consents_child_refuses, "best_interests_note": "safer at home"}
    agreed = Consent(id=Consent.id_for(case_id), case_id=case_id, terms=terms, by=CW)
    case.assess(needs=["medical"], safety_concerns="x", notes=None, risk_level=None, consent=agreed, by=CW)
    case.draft_plan([{**GOALS[0], "consulted": ["aunt"]}], "the child chose the clinic", by=CW)
    return case, agreed


@pytest.mark.parametrize("disagree", [True, False])
def test_a_plan_goes_to_a_supervisor_whatever_the_policy_when_caregiver_and_child_disagree(disagree):
    case, agreed = child_case(disagree)
    case.submit_plan(by=CW, consent=agreed)
    assert case.collect_events()[-1].approval_required is disagree
    assert case.plan["child_participation"] == "the child chose the clinic"


def test_an_adult_plan_never_forces_approval():
    case = in_implementation()
    case.draft_plan(GOALS, None, by=CW)
    case.submit_plan(by=CW, consent=consent())
    assert case.collect_events()[-1].approval_required is False
    assert case.decide_plan(case.plan["submission"], True, "sup1", by=SUP, now=NOW)
