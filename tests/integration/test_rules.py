"""Issue 15, the cases side, through the gateway on the running system: who may do what to a case in
which state, follow-up dates and risk levels, reassignment, and what free text is identifying.

People: sup1 supervises cw1 and cw2, sup2 supervises cw3; aud1 audits (tests/support.py)."""
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import database, wait_until

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
ASSESSMENT = {"needs": ["medical"], "safety_concerns": "threats from partner"}
PLAN = {"goals": [{"need": "medical", "action": "clinic", "responsible": "cw1", "due_date": "2026-12-15"}]}
FOLLOW_UP = {"contacted": True, "safety_reassessed": True}
OUTSIDERS = ("cw3", "sup2")  # the other team


def now(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def send(api, case, path, body=None, status=None, method="POST"):
    response = api.request(method, f"/v1/cases/{case['id']}/{path}" if path else f"/v1/cases/{case['id']}", body)
    if status is not None:
        assert response.status_code == status, (path, response.status_code, response.text)
    return response


def read(api, case) -> dict:
    return send(api, case, "", method="GET", status=200).json()


def new_case(cw, body=None) -> dict:
    response = cw.post("/v1/cases", body or {"survivor": {"name": "Halima"}, "risk_level": "medium"})
    assert response.status_code == 201, response.text
    return response.json()


def approve(people, case, kind):
    """sup1 approves the request the policy ("always") routed to them."""
    sup1 = people["sup1"]
    request = wait_until(lambda: next((i for i in sup1.every("/v1/approvals", {"status": "pending"}) if i["case_id"] == case["id"] and i["type"] == kind), None), what=f"the {kind} request")
    decided = sup1.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": "ok"})
    assert decided.status_code == 200, decided.text


def in_implementation(people, body=None, plan=PLAN, risk=None) -> dict:
    cw1 = people["cw1"]
    case = new_case(cw1, body)
    send(cw1, case, "consent", CONSENT, 201)
    send(cw1, case, "assessment", dict(ASSESSMENT, risk_level=risk) if risk else ASSESSMENT, 200)
    send(cw1, case, "plan", plan, 200, method="PUT")
    send(cw1, case, "plan/submit", status=202)
    approve(people, case, "case_plan")
    wait_until(lambda: read(cw1, case)["stage"] == "implementation", what="the plan approved")
    return read(cw1, case)


def closed(people, **kw) -> dict:
    cw1 = people["cw1"]
    case = in_implementation(people, **kw)
    send(cw1, case, "closure", {"reason": "needs_met", "notes": "goals met"}, 202)
    approve(people, case, "closure")
    wait_until(lambda: read(cw1, case)["stage"] == "closed", what="the closure approved")
    return read(cw1, case)


# Every command on a case, with a body that passes validation.
COMMANDS = (
    ("consent", CONSENT, "POST"), ("consent/withdraw", None, "POST"), ("assessment", ASSESSMENT, "POST"),
    ("plan", PLAN, "PUT"), ("plan/submit", None, "POST"),
    ("follow-ups", {**FOLLOW_UP, "contact_date": "2026-11-01T00:00:00Z"}, "POST"),
    ("conferences", {"held_on": "2026-11-20", "participants": ["cw1"], "decisions": "x"}, "POST"),
    ("closure", {"reason": "needs_met", "notes": "x"}, "POST"), ("reopen", {"reason": "x"}, "POST"),
    ("feedback", {"answers": {"satisfied": "yes"}}, "POST"), ("erase", {"reason": "x"}, "POST"),
    ("reassign", {"caseworker": "cw3"}, "POST"),
)


def unchanged(people, case, attempt):
    before = read(people["sup1"], case)["version"]
    attempt()
    assert read(people["sup1"], case)["version"] == before


def test_an_erased_case_refuses_every_command_consent_and_referrals_included(people, pathway):
    cw1, sup1 = people["cw1"], people["sup1"]
    case = new_case(cw1)
    send(cw1, case, "consent", CONSENT, 201)
    send(sup1, case, "erase", {"reason": "the survivor asked"}, 200)

    def refused():
        note = {**CONSENT, "given_by": "caregiver", "child_assent": False, "best_interests_note": "Zawadi's aunt"}
        answer = send(cw1, case, "consent", note, 409)
        assert "Zawadi" not in answer.text and "erased" in answer.json()["detail"]
        send(cw1, case, "consent/withdraw", status=409)
        send(cw1, case, "referrals", {"provider_id": pathway["clinic"]["id"], "service_type": "medical"}, 409)
        for path, body, method in COMMANDS:
            who = sup1 if path in ("reassign", "erase", "feedback") else cw1
            assert send(who, case, path, body, method=method).status_code == 409, path
        assert send(cw1, case, "feedback", COMMANDS[9][1]).status_code == 403  # its own caseworker, always
    unchanged(people, case, refused)


def test_outside_the_team_every_command_is_404_whatever_the_state_and_feedback_is_the_teams(people):
    open_case, closed_case = new_case(people["cw1"]), closed(people)
    erased_case = new_case(people["cw1"])
    send(people["sup1"], erased_case, "erase", {"reason": "asked"}, 200)
    nowhere = {"id": "00000000-0000-4000-8000-000000000000"}
    for case in (open_case, closed_case, erased_case, nowhere):
        for who in OUTSIDERS:
            for path, body, method in COMMANDS:
                answer = send(people[who], case, path, body, method=method)
                if who == "cw3" and path in ("reassign", "erase"):
                    assert answer.status_code == 403, (path, answer.text)  # never a caseworker's, anywhere
                else:
                    assert answer.status_code == 404, (who, path, case["id"], answer.text)
                    assert answer.json()["detail"] == "No such case."
    feedback = {"answers": {"satisfied": "yes"}}
    send(people["cw1"], closed_case, "feedback", feedback, 403)  # the case's own caseworker
    send(people["cw2"], closed_case, "feedback", feedback, 201)  # another caseworker of the team
    send(people["sup1"], closed_case, "feedback", feedback, 201)  # the team's supervisor
    send(people["cw2"], open_case, "feedback", feedback, 409)  # in the team, but the case is open
    send(people["cw2"], open_case, "consent", CONSENT, 404)  # feedback is all a colleague may do
    assert people["cw2"].get(f"/v1/cases/{closed_case['id']}").status_code == 404
    assert read(people["cw1"], closed_case)["version"] == closed_case["version"] + 2


def test_a_contact_dated_before_registration_or_in_the_future_is_422_and_the_30_days_hold(people):
    cw1 = people["cw1"]
    case = in_implementation(people)
    for dated in ("0001-01-01T00:00:00Z", now(days=31), now(days=-1)):
        refused = send(cw1, case, "follow-ups", {**FOLLOW_UP, "contact_date": dated}, 422).json()
        assert set(refused["errors"]) == {"contact_date"}
    assert read(cw1, case)["version"] == case["version"]
    send(cw1, case, "closure", {"reason": "unreachable", "notes": "no answer"}, 409)


def test_raising_the_risk_below_its_level_is_422(people):
    cw1 = people["cw1"]
    case = in_implementation(people, risk="high")
    refused = send(cw1, case, "follow-ups", {**FOLLOW_UP, "contact_date": now(),
                                             "raise_risk_to": "medium", "raise_reason": "calmer"}, 422).json()
    assert set(refused["errors"]) == {"raise_risk_to"}
    assert read(cw1, case)["version"] == case["version"]


def test_ratings_lower_the_level_only_once_the_first_three_domains_are_rated(people):
    cw1 = people["cw1"]
    case = in_implementation(people, risk="high")
    contact = {**FOLLOW_UP, "contact_date": now()}
    one = send(cw1, case, "follow-ups", {**contact, "domain_ratings": {"safety_protection": "green"}}, 201).json()
    assert one["risk_level"] == "high" and one["monitoring"]["computed_risk"] == "low"
    two = send(cw1, case, "follow-ups", {**contact, "domain_ratings": {"health_development": "green"}}, 201).json()
    assert two["risk_level"] == "high"
    three = send(cw1, case, "follow-ups", {**contact, "domain_ratings": {"psychosocial_mental_health": "green"}},
                 201).json()
    assert three["risk_level"] == "low"
    raised = send(cw1, case, "follow-ups", {**contact, "domain_ratings": {"education": "red"}}, 201).json()
    assert raised["risk_level"] == "medium"  # a rating always raises


def test_after_reassignment_the_new_caseworker_holds_everything_and_the_previous_nothing(people, test_env):
    cw1, cw2, sup1 = people["cw1"], people["cw2"], people["sup1"]
    case = in_implementation(people)
    send(cw1, case, "closure", {"reason": "needs_met", "notes": "goals met"}, 202)  # waits for sup1
    path = f"/v1/cases/{case['id']}"
    # The case list (a read model) is held back while the case moves: what a reader may see of the case
    # itself must not wait for it: the history and the verification neither.
    with database(test_env) as held:
        held.execute("SELECT 1 FROM cases.case_index WHERE case_id = %s FOR UPDATE", (case["id"],))
        send(sup1, case, "reassign", {"caseworker": "cw2"}, 200)
        for route in ("/history", "/verify", ""):
            assert cw1.get(path + route).status_code == 404, route
            assert cw2.get(path + route).status_code == 200, route
        held.rollback()
    assert cw1.get(path, params={"as_of": now()}).status_code == 404
    assert cw2.get(path, params={"as_of": now()}).status_code == 200
    assert cw1.get(f"{path}/referrals").status_code == 404
    assert read(cw2, case)["closure"]["status"] == "requested" and read(cw2, case)["assigned_to"] == "cw2"
    send(cw1, case, "conferences", COMMANDS[6][1], 404)
    send(cw2, case, "conferences", COMMANDS[6][1], 201)


def test_a_closed_case_takes_no_new_consent_but_a_withdrawal(people):
    cw1 = people["cw1"]
    case = closed(people)
    unchanged(people, case, lambda: send(cw1, case, "consent", CONSENT, 409))
    send(cw1, case, "consent/withdraw", status=200)


def test_every_free_text_field_is_sealed_redacted_for_auditors_and_erased(people):
    cw1, sup1, aud1 = people["cw1"], people["sup1"], people["aud1"]
    plan = {"goals": [{"need": "medical", "action": "clinic", "responsible": "Wanjiru Secret",
                       "consulted": ["Wanjiru Secret"], "due_date": "2026-12-15"}]}
    body = {"survivor": {"name": "Nadia"}, "risk_level": "low",
            "caregiver": {"name": "Amina", "relationship": "Rehema Notify-Plant's aunt"}}
    case = closed(people, body=body, plan=plan)
    send(people["cw2"], case, "feedback", {"answers": {"Zawadi Unique-Name": "Zawadi Unique-Name"}}, 201)
    secrets = ("Nadia", "Amina", "Rehema", "Wanjiru", "Zawadi", "fled on foot")
    path = f"/v1/cases/{case['id']}"

    current = aud1.get(path)  # an auditor reads the current state, redacted
    assert current.status_code == 200 and current.json()["caregiver"]["relationship"] == "[redacted]"
    assert current.json()["plan"]["goals"][0]["responsible"] == "[redacted]"
    for answer in (current, aud1.get(f"{path}/history"), aud1.get(path, params={"as_of": now()})):
        assert answer.status_code == 200 and not [s for s in secrets if s in answer.text], answer.text

    send(sup1, case, "erase", {"reason": "fled on foot"}, 200)
    for reader in (cw1, sup1, aud1):
        for answer in (reader.get(path), reader.get(f"{path}/history"), reader.get(path, params={"as_of": now()})):
            assert answer.status_code == 200 and not [s for s in secrets if s in answer.text], answer.text
    erased = read(cw1, case)
    assert erased["caregiver"] == {"name": "[erased]", "relationship": "[erased]"}
    assert erased["plan"]["goals"][0]["responsible"] == "[erased]" and erased["erasure"]["reason"] == "[erased]"
    feedback = next(i for i in cw1.get(f"{path}/history").json()["items"] if i["type"] == "ClientFeedbackRecorded")
    assert feedback["data"]["answers"] == "[erased]"
    assert aud1.get(f"{path}/verify").json()["valid"]


@pytest.mark.parametrize("who", ["admin", "clinic1"])
def test_a_role_that_never_reads_case_files_is_403_for_any_id(people, pathway, who):
    caller = people.get(who) or pathway[who]
    case = new_case(people["cw1"])
    for case_id in (case["id"], "00000000-0000-4000-8000-000000000000"):
        answers = [caller.get(f"/v1/cases/{case_id}{route}").status_code for route in ("", "/history", "/verify")]
        assert answers == [403, 403, 403], json.dumps(answers)
