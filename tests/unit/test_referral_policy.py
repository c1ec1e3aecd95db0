"""The referrals service's access policy (services/referrals/policy.py), against one table:
every role × action × case state. The case is held by cw1, of sup1's team; the referral goes to P."""
import pytest

from services.referrals import policy
from services.referrals.policy import CaseState
from shared.caller import Caller
from shared.errors import Forbidden, InvalidTransition, NotFound

P, Q = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
CALLERS = {
    "cw_own": {"username": "cw1", "role": "caseworker"},
    "cw_same_team": {"username": "cw2", "role": "caseworker"},
    "cw_other_team": {"username": "cw3", "role": "caseworker"},
    "sup_of_team": {"username": "sup1", "role": "supervisor", "team": ["cw1", "cw2"]},
    "sup_other_team": {"username": "sup2", "role": "supervisor", "team": ["cw3"]},
    "auditor": {"username": "aud1", "role": "auditor"},
    "provider_of_referral": {"username": "clinic1", "role": "provider", "provider_id": P},
    "another_provider": {"username": "legal1", "role": "provider", "provider_id": Q},
    "admin": {"username": "admin", "role": "admin"},
}
STATES = {
    "open": CaseState(assigned_to="cw1", consent=True),
    "closed": CaseState(assigned_to="cw1", consent=True, closed=True),
    "erased": CaseState(assigned_to="cw1", consent=True, erased=True),
    "consent_withdrawn": CaseState(assigned_to="cw1", consent=False),
}
PROVIDER_ONLY = {"provider_of_referral": "ok ok 409 409", **{role: "404 404 404 404" for role in CALLERS
                                                           if role != "provider_of_referral"}}
# action -> caller -> the answer in each state, in the order of STATES: open closed erased consent_withdrawn
EXPECTED = {
    "make": {"cw_own": "ok 409 409 409", "cw_same_team": "404 404 404 404", "cw_other_team": "404 404 404 404",
             "sup_of_team": "ok 409 409 409", "sup_other_team": "404 404 404 404", "auditor": "403 403 403 403",
             "provider_of_referral": "403 403 403 403", "another_provider": "403 403 403 403",
             "admin": "403 403 403 403"},
    "read_case": {"cw_own": "ok ok ok ok", "cw_same_team": "404 404 404 404", "cw_other_team": "404 404 404 404",
                  "sup_of_team": "ok ok ok ok", "sup_other_team": "404 404 404 404", "auditor": "404 404 404 404",
                  "provider_of_referral": "404 404 404 404", "another_provider": "404 404 404 404",
                  "admin": "404 404 404 404"},
    "withdraw": {"cw_own": "ok 409 409 ok", "cw_same_team": "404 404 404 404", "cw_other_team": "404 404 404 404",
                 "sup_of_team": "ok 409 409 ok", "sup_other_team": "404 404 404 404", "auditor": "404 404 404 404",
                 "provider_of_referral": "404 404 404 404", "another_provider": "404 404 404 404",
                 "admin": "404 404 404 404"},
    "accept": PROVIDER_ONLY,
    "decline": PROVIDER_ONLY,
    "complete": PROVIDER_ONLY,
    # of a referral still requested
    "read_notes": {"cw_own": "ok ok ok ok", "cw_same_team": "403 403 403 403", "cw_other_team": "403 403 403 403",
                   "sup_of_team": "ok ok ok ok", "sup_other_team": "403 403 403 403", "auditor": "403 403 403 403",
                   "provider_of_referral": "ok ok 403 403", "another_provider": "403 403 403 403",
                   "admin": "403 403 403 403"},
}
CODES = {NotFound: "404", Forbidden: "403", InvalidTransition: "409"}


def answer(caller: dict, action: str, state: CaseState, **kwargs) -> str:
    try:
        policy.check(Caller.of(caller), action, state, provider_id=P, status="requested", **kwargs)
    except tuple(CODES) as refusal:
        return CODES[type(refusal)]
    return "ok"


def test_the_table_covers_every_action_and_caller():
    assert set(EXPECTED) == set(policy.ACTIONS)
    assert all(set(row) == set(CALLERS) for row in EXPECTED.values())


@pytest.mark.parametrize("action", policy.ACTIONS)
@pytest.mark.parametrize("who", CALLERS)
def test_every_answer_is_the_tables(action, who):
    got = " ".join(answer(CALLERS[who], action, state) for state in STATES.values())
    assert got == EXPECTED[action][who], f"{who} {action} in states {list(STATES)}"


def test_a_withdrawn_referral_hides_its_notes_from_the_provider_only():
    open_case = STATES["open"]
    assert not policy.may_read_notes(Caller.of(CALLERS["provider_of_referral"]), open_case, P, "withdrawn")
    assert policy.may_read_notes(Caller.of(CALLERS["cw_own"]), open_case, P, "withdrawn")


@pytest.mark.parametrize("who, action, hint, expected", [
    ("cw_own", "make", True, "409"),  # consent still unknown: the hint never stands in for it
    ("cw_own", "read_case", True, "ok"),
    ("cw_own", "read_case", False, "404"),
    ("provider_of_referral", "read_case", True, "404"),
])
def test_the_cases_services_word_admits_only_a_case_not_heard_of_yet(who, action, hint, expected):
    assert answer(CALLERS[who], action, CaseState(), hint=hint) == expected
    if hint:  # a case this service knows: its own record decides, whatever the hint
        assert answer(CALLERS["cw_other_team"], action, STATES["open"], hint=True) == "404"
