from services.cases.domain import Case, Consent
from shared.store import request_id

BY = {"username": "cw1", "role": "caseworker", "correlation_id": None}


def a_case(assigned_to="cw1") -> Case:
    return Case(id=request_id(Case, "cw1", "k"), case_number="GBV-2026-000001", survivor={"name": "A"},
                risk_level="medium", is_child=False, caregiver=None, intake_notes=None,
                assigned_to=assigned_to, request_hash="h", by=BY)


def test_a_new_case_starts_in_engagement_and_records_who_registered_it():
    case = a_case()
    assert case.stage == "engagement" and case.version == 1
    [registered] = case.collect_events()
    assert type(registered).__name__ == "CaseRegistered" and registered.by == BY


def test_a_retry_lands_on_the_same_case_id_only_for_the_same_user_and_key():
    assert request_id(Case, "cw1", "k") == request_id(Case, "cw1", "k")
    assert request_id(Case, "cw1", "k") != request_id(Case, "cw2", "k")
    assert request_id(Case, "cw1", "k") != request_id(Case, "cw1", "k2")
    assert request_id(Case, "cw1", "k") != request_id(Consent, "cw1", "k")  # one key, two kinds: two aggregates


# Who may read and do what: tests/unit/test_case_policy.py, one table for every role, action and state.
