"""The cases service's access policy, in memory: every role × action × state of a case, against one table.

The case is cw1's (team of sup1: cw1, cw2; sup2's team: cw3). Answers: ok (the policy lets it through; the
command's own finer rules may still refuse), 403 (the role may never), 404 (outside the caller's scope:
nothing said about the case), 409 (in scope, but the case's state refuses it)."""
from dataclasses import replace

import pytest

from services.cases.policy import (
    COMMANDS,
    READS,
    ROLES,
    case_list_reach,
    caseworkers_seen,
    decide,
    organisation_of,
    organisation_seen,
    permit,
    permit_case_list,
    permit_texts,
)
from shared.caller import Caller
from shared.errors import Forbidden, InvalidTransition, NotFound
from shared.organisations import FIRST
from shared.vocabulary import Role
from tests.unit.test_case_rules import CW, NOW, SUP, in_implementation, registered

CALLERS = {who: Caller.of(caller) for who, caller in {
    "cw_own": {"username": "cw1", "role": "caseworker", "supervisor": "sup1", "teammates": ["cw2"]},
    "cw_team": {"username": "cw2", "role": "caseworker", "supervisor": "sup1", "teammates": ["cw1"]},
    "cw_other": {"username": "cw3", "role": "caseworker", "supervisor": "sup2", "teammates": []},
    "sup_team": {"username": "sup1", "role": "supervisor", "team": ["cw1", "cw2"]},
    "sup_other": {"username": "sup2", "role": "supervisor", "team": ["cw3"]},
    "auditor": {"username": "aud1", "role": "auditor"},
    "provider": {"username": "clinic1", "role": "provider", "provider_id": "p"},
    "admin": {"username": "admin", "role": "admin"},
}.items()}
COLUMNS = tuple(CALLERS)

# action: {state: answers for the callers in COLUMNS' order}
#                      cw_own cw_team cw_other sup_team sup_other auditor provider admin
READ = "                ok     404     404      ok       404       ok      403      403"
REFERRALS = "           ok     404     404      ok       404       403     403      403"
OPEN_COMMAND = "        ok     404     404      ok       404       403     403      403"
REFUSED_COMMAND = "     409    404     404      409      404       403     403      403"
# Another service's text about the case; a provider is let through by the referral (permit_texts), not scope.
TEXTS = "               ok     404     404      ok       404       403     404      403"
EXPECTED = {
    **{action: {"open": READ, "closed": READ, "erased": READ} for action in READS},
    "referrals": {"open": REFERRALS, "closed": REFERRALS, "erased": REFERRALS},
    "texts": {"open": TEXTS, "closed": TEXTS, "erased": TEXTS},
    **{action: {"open": OPEN_COMMAND, "closed": REFUSED_COMMAND, "erased": REFUSED_COMMAND}
       for action in ("record_consent", "assess", "draft_plan", "submit_plan", "record_follow_up",
                      "hold_conference", "request_closure", "refer")},
    "withdraw_consent": {"open": OPEN_COMMAND, "closed": OPEN_COMMAND, "erased": REFUSED_COMMAND},
    "reopen": {"open": REFUSED_COMMAND, "closed": OPEN_COMMAND, "erased": REFUSED_COMMAND},
    "reassign": {
        #        cw_own cw_team cw_other sup_team sup_other auditor provider admin
        "open": "403    403     403      ok       404       403     403      403",
        "closed": "403  403     403      409      404       403     403      403",
        "erased": "403  403     403      409      404       403     403      403"},
    "erase": {
        "open": "403    403     403      ok       404       403     403      403",
        "closed": "403  403     403      ok       404       403     403      403",
        "erased": "403  403     403      409      404       403     403      403"},
    "give_feedback": {
        "open": "403    409     404      409      404       403     403      403",
        "closed": "403  ok      404      ok       404       403     403      403",
        "erased": "403  409     404      409      404       403     403      403"},
}


def closed():
    case = in_implementation()
    case.request_closure("needs_met", "done", by=CW, now=NOW)
    case.decide_closure(case.closure["submission"], True, "sup1", by=SUP)
    return case


def erased():
    case = registered()
    case.erase("the survivor asked", by=SUP, now=NOW)
    return case


STATES = {"open": registered, "closed": closed, "erased": erased}


def answer(caller: Caller, action: str, case) -> str:
    try:
        decide(caller, action, lambda: case)
    except Forbidden:
        return "403"
    except NotFound:
        return "404"
    except InvalidTransition:
        return "409"
    return "ok"


def test_the_table_names_every_action_of_the_policy():
    assert set(EXPECTED) == set(READS) | set(COMMANDS) | {"referrals", "texts"}
    assert set(EXPECTED) | {"register_case", "list_cases", "find_case", "list_changes", "caseload"} == set(ROLES)


def test_only_an_admin_asks_how_many_open_cases_a_member_of_staff_holds():
    for role in Role:
        caller = Caller(username="someone", role=role)
        if role == Role.ADMIN:
            permit(caller, "caseload")
        else:
            with pytest.raises(Forbidden):
                permit(caller, "caseload")


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", EXPECTED)
def test_every_role_on_every_action_in_every_state(action, state):
    case = STATES[state]()
    expected = dict(zip(COLUMNS, EXPECTED[action][state].split(), strict=True))
    answers = {who: answer(caller, action, case) for who, caller in CALLERS.items()}
    assert answers == expected


def test_a_role_that_may_never_act_is_refused_before_the_case_is_looked_up():
    def unknown():
        raise NotFound("No such case.")
    for who in ("auditor", "provider", "admin"):
        with pytest.raises(Forbidden):
            decide(CALLERS[who], "assess", unknown)
    with pytest.raises(NotFound):
        decide(CALLERS["cw_own"], "assess", unknown)


def test_a_supervisor_holding_a_case_acts_on_it_but_collects_no_feedback_on_it():
    case = closed()
    case.reopen("again", by=SUP, now=NOW)
    case.reassign("cw2", ["cw2"], by=SUP)
    held = Caller.of({"username": "cw2", "role": "supervisor", "team": []})  # as if cw2 held it as a supervisor
    assert answer(held, "erase", case) == "ok" and answer(held, "give_feedback", case) == "403"


def test_registering_and_listing_are_for_caseworkers_and_supervisors():
    for who in ("cw_own", "sup_team"):
        permit(CALLERS[who], "register_case")
    for who in ("auditor", "provider", "admin"):
        with pytest.raises(Forbidden):
            permit(CALLERS[who], "register_case")
        with pytest.raises(Forbidden):
            caseworkers_seen(CALLERS[who])
    assert caseworkers_seen(CALLERS["cw_team"]) == ["cw2"]  # a colleague's cases are not in one's list
    assert caseworkers_seen(CALLERS["sup_team"]) == ["sup1", "cw1", "cw2"]


def test_an_auditor_finds_a_case_of_their_organisation_by_its_number_and_lists_nothing_else():
    auditor = CALLERS["auditor"]
    assert case_list_reach(auditor, {"case_number": "GBV-2026-000001"}) == (FIRST, None)  # anyone's case
    assert case_list_reach(ELSEWHERE_CALLERS["auditor"], {"case_number": "GBV-2026-000001"}) == (ELSEWHERE, None)
    for filters in ({}, {"stage": "intake"}, {"assigned_to": "cw1"}, None, ["case_number"]):
        with pytest.raises(Forbidden, match="case_number"):
            permit_case_list(auditor, filters)
    for who in ("provider", "admin"):
        with pytest.raises(Forbidden):
            permit_case_list(CALLERS[who], {"case_number": "GBV-2026-000001"})
    # A caseworker's and a supervisor's list, by number or not, stays their scope's.
    for filters in ({}, {"case_number": "GBV-2026-000001"}):
        assert case_list_reach(CALLERS["cw_own"], filters) == (FIRST, ["cw1"])
        assert case_list_reach(CALLERS["sup_team"], filters) == (FIRST, ["sup1", "cw1", "cw2"])


def test_a_provider_reaches_a_cases_text_only_through_a_referral_to_it():
    provider = CALLERS["provider"]
    permit_texts(provider, registered(), referred_to_caller=True)
    with pytest.raises(NotFound):
        permit_texts(provider, registered(), referred_to_caller=False)
    permit_texts(CALLERS["cw_own"], registered(), referred_to_caller=False)
    with pytest.raises(NotFound):
        permit_texts(CALLERS["cw_other"], registered(), referred_to_caller=True)


@pytest.mark.parametrize("action", [*READS, "texts", *COMMANDS])
def test_the_installation_operator_only_reads_histories_verifies_and_exports(action):
    operator = Caller(username="installation-operator", role=Role.OPERATOR)  # no caller over RPC is one
    expected = "ok" if action in ("history", "verify", "export") else ("404" if action in READS else "403")
    assert answer(operator, action, registered()) == expected


# --- organisations (issue 19) ---------------------------------------------------------------------

ELSEWHERE = "5d1c2a9e-0000-4000-8000-000000000002"  # another organisation than the cases' (the first)
# The same names and teams as the case's own people, but of another organisation: whatever a forged
# or coincident name says, they are outside the case's scope.
ELSEWHERE_CALLERS = {who: replace(caller, organisation=ELSEWHERE) for who, caller in CALLERS.items()
                     if who in ("cw_own", "cw_team", "sup_team", "auditor")}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", EXPECTED)
def test_another_organisations_people_never_reach_a_case_whatever_their_names(action, state):
    case = STATES[state]()
    assert case.organisation == FIRST  # registered by a caller naming none: the first organisation's
    for who, caller in ELSEWHERE_CALLERS.items():
        # A role that may never do it hears so (403, before the case is looked up); anyone else: 404.
        expected = "404" if caller.role in ROLES[action] else "403"
        assert answer(caller, action, case) == expected, (who, action)


def test_a_case_is_registered_in_the_callers_organisation_and_lists_only_it():
    assert organisation_of(ELSEWHERE_CALLERS["cw_own"]) == ELSEWHERE
    assert organisation_of(CALLERS["cw_own"]) == FIRST  # a caller naming none: the first organisation's
    assert organisation_seen(ELSEWHERE_CALLERS["sup_team"]) == ELSEWHERE
    with pytest.raises(Forbidden):
        organisation_of(CALLERS["auditor"])
    with pytest.raises(Forbidden):
        organisation_seen(CALLERS["admin"])


def test_the_installation_operator_reads_every_organisations_histories():
    operator = Caller(username="installation-operator", role=Role.OPERATOR)
    case = registered()
    case_elsewhere = registered()
    case_elsewhere.organisation = ELSEWHERE
    assert answer(operator, "verify", case) == answer(operator, "verify", case_elsewhere) == "ok"
    assert answer(CALLERS["auditor"], "history", case_elsewhere) == "404"
    assert answer(ELSEWHERE_CALLERS["auditor"], "history", case_elsewhere) == "ok"
