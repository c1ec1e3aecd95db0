"""The acting user as a typed value (issue 18): read once from what the RPC layer verified."""
import pytest

from shared.caller import Caller, read_caller, recorded_by
from shared.errors import InvalidInput
from shared.vocabulary import Role


def test_a_caller_is_read_once_into_a_frozen_typed_value():
    caller = read_caller({"username": "sup1", "role": "supervisor", "team": ["cw1", "cw2"], "correlation_id": "c"})
    assert caller.role is Role.SUPERVISOR and caller.team == ("cw1", "cw2")
    assert caller.scope == ("sup1", "cw1", "cw2") and caller.works_on_cases
    assert recorded_by(caller) == {"username": "sup1", "role": "supervisor", "correlation_id": "c"}
    with pytest.raises(AttributeError):
        caller.role = Role.ADMIN  # type: ignore[misc]
    assert Caller.of(caller) is caller


@pytest.mark.parametrize("data", [{"username": "x", "role": "operator"}, {"username": "x", "role": "root"},
                                  {"username": "", "role": "admin"}, {"username": "x", "role": "admin", "extra": 1}])
def test_a_caller_no_user_can_be_is_refused(data):
    with pytest.raises(InvalidInput):
        read_caller(data)


def test_scope_is_own_cases_for_a_caseworker_and_none_for_others():
    assert read_caller({"username": "cw1", "role": "caseworker", "team": ["x"]}).scope == ("cw1",)
    assert read_caller({"username": "a", "role": "auditor"}).scope == ()
