"""The approvals service's access policy (services/approvals/policy.py), against one table: every
role × action × case state, for three requests: cw1's on a case cw1 holds; sup1's on a case sup1
holds (sup1's supervisor is head); cw1's on a case since reassigned to cw2. Teams: sup1 {cw1, cw2},
sup2 {cw3}, head {sup1}. The approvals service learns nothing of consent: a withdrawal changes nothing.
Every request is the first organisation's (what a caller naming none belongs to); the callers marked
"elsewhere" have the same names and teams but belong to another organisation (issue 19)."""
from dataclasses import replace

import pytest

from services.approvals import policy
from services.approvals.policy import Request
from shared.caller import Caller
from shared.errors import Forbidden, InvalidTransition, NotFound
from shared.organisations import FIRST

ELSEWHERE = "5d1c2a9e-0000-4000-8000-000000000002"  # another organisation

CALLERS = {
    "cw_own": {"username": "cw1", "role": "caseworker"},
    "cw_same_team": {"username": "cw2", "role": "caseworker"},
    "cw_other_team": {"username": "cw3", "role": "caseworker"},
    "sup_of_team": {"username": "sup1", "role": "supervisor", "team": ["cw1", "cw2"]},
    "sup_other_team": {"username": "sup2", "role": "supervisor", "team": ["cw3"]},
    "sup_of_sup": {"username": "head", "role": "supervisor", "team": ["sup1"]},
    "auditor": {"username": "aud1", "role": "auditor"},
    "provider": {"username": "clinic1", "role": "provider", "provider_id": "p"},
    "another_provider": {"username": "legal1", "role": "provider", "provider_id": "q"},
    "admin": {"username": "admin", "role": "admin"},
    # The same names and teams, in another organisation: nothing of the first organisation's requests.
    "cw_own_elsewhere": {"username": "cw1", "role": "caseworker", "organisation": ELSEWHERE},
    "sup_of_team_elsewhere": {"username": "sup1", "role": "supervisor", "team": ["cw1", "cw2"],
                              "organisation": ELSEWHERE},
    "sup_of_sup_elsewhere": {"username": "head", "role": "supervisor", "team": ["sup1"], "organisation": ELSEWHERE},
}
REQUESTS = {
    "cw1_asks": Request(requested_by="cw1", requester_role="caseworker", holder="cw1", organisation=FIRST),
    "sup1_asks_on_own_case": Request(requested_by="sup1", requester_role="supervisor", holder="sup1",
                                     organisation=FIRST),
    "sup1_asks_on_cw1s_case": Request(requested_by="sup1", requester_role="supervisor", holder="cw1",
                                      organisation=FIRST),
    "cw1_asked_then_reassigned_to_cw2": Request(requested_by="cw1", requester_role="caseworker", holder="cw2",
                                                organisation=FIRST),
}
STATES = {"open": {}, "closed": {"closed": True}, "erased": {"erased": True}, "consent_withdrawn": {}}
ELSEWHERE_ANSWERS = {"read": {"cw_own_elsewhere": "404 404 404 404", "sup_of_team_elsewhere": "404 404 404 404",
                               "sup_of_sup_elsewhere": "404 404 404 404"},
                      "decide": {"cw_own_elsewhere": "403 403 403 403", "sup_of_team_elsewhere": "404 404 404 404",
                                 "sup_of_sup_elsewhere": "404 404 404 404"}}
NOBODY = {"auditor": "403 403 403 403", "provider": "403 403 403 403", "another_provider": "403 403 403 403",
          "admin": "403 403 403 403"}
# request -> action -> caller -> the answer in each state, in the order of STATES: open closed erased consent_withdrawn
EXPECTED = {
    "cw1_asks": {
        "read": {"cw_own": "ok ok ok ok", "cw_same_team": "404 404 404 404", "cw_other_team": "404 404 404 404",
                 "sup_of_team": "ok ok ok ok", "sup_other_team": "404 404 404 404",
                 "sup_of_sup": "404 404 404 404", **NOBODY, **ELSEWHERE_ANSWERS["read"]},
        "decide": {"cw_own": "403 403 403 403", "cw_same_team": "403 403 403 403",
                   "cw_other_team": "403 403 403 403", "sup_of_team": "ok 409 409 ok",
                   "sup_other_team": "403 403 403 403", "sup_of_sup": "403 403 403 403", **NOBODY, **ELSEWHERE_ANSWERS["decide"]},
    },
    "sup1_asks_on_own_case": {
        "read": {"cw_own": "404 404 404 404", "cw_same_team": "404 404 404 404", "cw_other_team": "404 404 404 404",
                 "sup_of_team": "ok ok ok ok", "sup_other_team": "404 404 404 404",
                 "sup_of_sup": "ok ok ok ok", **NOBODY, **ELSEWHERE_ANSWERS["read"]},
        "decide": {"cw_own": "403 403 403 403", "cw_same_team": "403 403 403 403",
                   "cw_other_team": "403 403 403 403", "sup_of_team": "403 403 403 403",
                   "sup_other_team": "403 403 403 403", "sup_of_sup": "ok 409 409 ok", **NOBODY, **ELSEWHERE_ANSWERS["decide"]},
    },
    "sup1_asks_on_cw1s_case": {
        "read": {"cw_own": "ok ok ok ok", "cw_same_team": "404 404 404 404", "cw_other_team": "404 404 404 404",
                 "sup_of_team": "ok ok ok ok", "sup_other_team": "404 404 404 404",
                 "sup_of_sup": "ok ok ok ok", **NOBODY, **ELSEWHERE_ANSWERS["read"]},
        "decide": {"cw_own": "403 403 403 403", "cw_same_team": "403 403 403 403",
                   "cw_other_team": "403 403 403 403", "sup_of_team": "403 403 403 403",
                   "sup_other_team": "403 403 403 403", "sup_of_sup": "ok 409 409 ok", **NOBODY, **ELSEWHERE_ANSWERS["decide"]},
    },
    "cw1_asked_then_reassigned_to_cw2": {
        "read": {"cw_own": "404 404 404 404", "cw_same_team": "ok ok ok ok", "cw_other_team": "404 404 404 404",
                 "sup_of_team": "ok ok ok ok", "sup_other_team": "404 404 404 404",
                 "sup_of_sup": "404 404 404 404", **NOBODY, **ELSEWHERE_ANSWERS["read"]},
        "decide": {"cw_own": "403 403 403 403", "cw_same_team": "403 403 403 403",
                   "cw_other_team": "403 403 403 403", "sup_of_team": "ok 409 409 ok",
                   "sup_other_team": "403 403 403 403", "sup_of_sup": "403 403 403 403", **NOBODY, **ELSEWHERE_ANSWERS["decide"]},
    },
}
CODES = {NotFound: "404", Forbidden: "403", InvalidTransition: "409"}


def answer(caller: dict, action: str, request: Request) -> str:
    try:
        policy.check(Caller.of(caller), action, request)
    except tuple(CODES) as refusal:
        return CODES[type(refusal)]
    return "ok"


def test_the_table_covers_every_request_action_and_caller():
    assert set(EXPECTED) == set(REQUESTS)
    assert all(set(actions) == set(policy.ACTIONS) for actions in EXPECTED.values())
    assert all(set(row) == set(CALLERS) for actions in EXPECTED.values() for row in actions.values())


@pytest.mark.parametrize("request_name", REQUESTS)
@pytest.mark.parametrize("action", policy.ACTIONS)
@pytest.mark.parametrize("who", CALLERS)
def test_every_answer_is_the_tables(request_name, action, who):
    request = REQUESTS[request_name]
    got = " ".join(answer(CALLERS[who], action, replace(request, **state)) for state in STATES.values())
    assert got == EXPECTED[request_name][action][who], f"{who} {action} {request_name} in {list(STATES)}"


@pytest.mark.parametrize("supervisor, needed, refused", [
    (None, True, True), (None, False, False), ("head", True, False), ("head", False, False)])
def test_a_submission_nobody_could_approve_is_refused(supervisor, needed, refused):
    caller = {"username": "sup1", "role": "supervisor", "team": ["cw1"], "supervisor": supervisor}
    if refused:
        with pytest.raises(InvalidTransition, match="Nobody could approve"):
            policy.check_submission(Caller.of(caller), needed)
    else:
        policy.check_submission(Caller.of(caller), needed)


@pytest.mark.parametrize("who", CALLERS)
def test_a_request_whose_organisation_is_not_known_is_nobodys(who):
    request = replace(REQUESTS["cw1_asks"], organisation=None)
    assert answer(CALLERS[who], "read", request) in ("403", "404")
    assert answer(CALLERS[who], "decide", request) in ("403", "404")


def test_each_reads_their_own_organisations_rules_and_only_an_admin_another_or_sets_them():
    own = Caller.of({"username": "sup1", "role": "supervisor", "organisation": ELSEWHERE})
    admin = Caller.of({"username": "admin", "role": "admin"})
    assert policy.rules_read(own, None) == ELSEWHERE and policy.rules_read(own, ELSEWHERE) == ELSEWHERE
    with pytest.raises(Forbidden):
        policy.rules_read(own, FIRST)
    assert policy.rules_read(admin, None) == FIRST and policy.rules_read(admin, ELSEWHERE) == ELSEWHERE
    assert policy.rules_set(admin, None) == FIRST and policy.rules_set(admin, ELSEWHERE) == ELSEWHERE
    with pytest.raises(Forbidden):
        policy.rules_set(own, ELSEWHERE)
    assert policy.queue_organisation(own) == ELSEWHERE
