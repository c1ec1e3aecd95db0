import pytest

from services.cases.domain import Case, Consent, in_scope, require, scope
from shared.errors import Forbidden
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


def test_scope_caseworker_sees_own_supervisor_sees_team():
    case = a_case("cw1")
    assert in_scope(case, {"username": "cw1", "role": "caseworker"})
    assert not in_scope(case, {"username": "cw2", "role": "caseworker"})
    assert in_scope(case, {"username": "sup1", "role": "supervisor", "team": ["cw1"]})
    assert not in_scope(case, {"username": "sup2", "role": "supervisor", "team": ["cw3"]})
    for role in ("auditor", "provider", "admin"):
        assert scope({"username": "x", "role": role}) is None
        assert not in_scope(case, {"username": "cw1", "role": role})


@pytest.mark.parametrize("role", ["auditor", "provider", "admin"])
def test_only_caseworkers_and_supervisors_register_cases(role):
    with pytest.raises(Forbidden):
        require({"username": "x", "role": role}, "register_case")
    require({"username": "x", "role": "caseworker"}, "register_case")
