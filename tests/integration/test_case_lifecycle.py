"""A survivor's case through every stage, over HTTP, on the running system. Plans and closures are
decided by the supervisor through the gateway: the real approvals service announces the decisions."""
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kombu import Connection, Queue

from services.approvals.domain import Approval
from shared.bus import EXCHANGE
from tests.support import relay_caught_up, wait_for_timer_runs, wait_until

NEW_CASE = {"survivor": {"name": "Halima", "phone": "+254700000002"}, "risk_level": "medium"}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
ASSESSMENT = {"needs": ["medical", "psychosocial"], "safety_concerns": "threats from partner"}
PLAN = {"goals": [{"need": "medical", "action": "clinic referral", "responsible": "cw1", "due_date": "2026-12-15"}]}


def ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def decide(supervisor, case: dict, kind: str, submission: int, decision: str = "approve"):
    """The supervisor decides, through the gateway, the request the approvals service opened for the
    submission (once it has): its decision reaches the cases service from the approvals service."""
    request = Approval.id_for(uuid.UUID(case["id"]), kind, submission)
    body = {"decision": "approve"} if decision == "approve" else {"decision": "reject", "comment": "add a safety goal"}

    def decided():  # a Response is falsy for 4xx: wrap it
        response = supervisor.post(f"/v1/approvals/{request}/decision", body)
        return [response] if response.status_code != 404 else None
    [response] = wait_until(decided, what=f"the {kind} request to reach the supervisor")
    assert response.status_code == 200, response.text
    return request


@pytest.fixture
def sup1(people):
    return people["sup1"]


@pytest.fixture
def cw1(people):
    return people["cw1"]


def new_case(api) -> dict:
    response = api.post("/v1/cases", NEW_CASE)
    assert response.status_code == 201, response.text
    return response.json()


def read(api, case) -> dict:
    return api.get(f"/v1/cases/{case['id']}").json()


def command(api, case, path, body=None, status=None, method="POST", headers=None):
    response = api.request(method, f"/v1/cases/{case['id']}/{path}", body, headers=headers)
    if status is not None:
        assert response.status_code == status, response.text
    return response


def in_implementation(api, supervisor, risk=None) -> dict:
    case = new_case(api)
    command(api, case, "consent", CONSENT, 201)
    command(api, case, "assessment", dict(ASSESSMENT, risk_level=risk) if risk else ASSESSMENT, 200)
    command(api, case, "plan", PLAN, 200, method="PUT")
    submitted = command(api, case, "plan/submit", status=202).json()
    decide(supervisor, case, "case_plan", submitted["version"])
    wait_until(lambda: read(api, case)["stage"] == "implementation", what="the plan approved")
    return read(api, case)


def test_a_case_through_every_stage(cw1, sup1, people):
    case = new_case(cw1)
    assert case["stage"] == "engagement" and case["consent"] is None

    consent = command(cw1, case, "consent", CONSENT, 201).json()
    assert consent["services"] and not consent["withdrawn"]
    assessed = command(cw1, case, "assessment", dict(ASSESSMENT, risk_level="high"), 200).json()
    assert assessed["stage"] == "case_plan" and assessed["risk_level"] == "high"
    assert assessed["consent"]["services"] is True

    drafted = command(cw1, case, "plan", PLAN, 200, method="PUT").json()
    assert drafted["plan"]["status"] == "draft"
    submitted = command(cw1, case, "plan/submit", status=202).json()
    assert submitted["plan"]["status"] == "submitted"

    rejected = decide(sup1, case, "case_plan", submitted["version"], "reject")
    wait_until(lambda: read(cw1, case)["plan"]["status"] == "rejected", what="the rejection")
    assert read(cw1, case)["plan"]["decided_by"] == "sup1"

    revised = {"goals": PLAN["goals"] + [{"need": "safety", "action": "safety plan", "responsible": "cw1",
                                          "due_date": "2026-12-01"}]}
    command(cw1, case, "plan", revised, 200, method="PUT")
    resubmitted = command(cw1, case, "plan/submit", status=202).json()
    assert sup1.post(f"/v1/approvals/{rejected}/decision", {"decision": "approve"}).status_code == 409  # decided
    decide(sup1, case, "case_plan", resubmitted["version"])
    wait_until(lambda: read(cw1, case)["stage"] == "implementation", what="the approval")
    approved = read(cw1, case)
    assert approved["plan"]["status"] == "approved" and len(approved["plan"]["goals"]) == 2
    assert approved["follow_up"]["next_due"] is not None

    command(cw1, case, "conferences", {"held_on": "2026-11-20", "participants": ["cw1", "clinic"],
                                        "decisions": "refer for counselling"}, 201)
    followed = command(cw1, case, "follow-ups", {"contacted": True, "contact_date": ago(),
                                                 "safety_reassessed": True}, 201).json()
    assert followed["stage"] == "follow_up"
    due = datetime.fromisoformat(followed["follow_up"]["next_due"])
    contact = datetime.fromisoformat(followed["follow_up"]["last_contact"]["date"])
    assert due - contact == timedelta(hours=84)

    lowered = command(cw1, case, "follow-ups", {"contacted": True, "contact_date": ago(),
                                                "safety_reassessed": True, "risk_level": "low"}, 201).json()
    contact = datetime.fromisoformat(lowered["follow_up"]["last_contact"]["date"])
    assert lowered["risk_level"] == "low"
    assert datetime.fromisoformat(lowered["follow_up"]["next_due"]) - contact == timedelta(days=14)

    requested = command(cw1, case, "closure", {"reason": "needs_met", "notes": "goals met"}, 202).json()
    assert requested["closure"]["status"] == "requested"
    decide(sup1, case, "closure", requested["version"])
    wait_until(lambda: read(cw1, case)["stage"] == "closed", what="the closure")
    closed = read(cw1, case)
    assert closed["consent"] is None  # a closed case file never carries the consent record
    assert closed["follow_up"]["next_due"] is None

    assert command(cw1, case, "feedback", {"answers": {"satisfied": "yes"}}).status_code == 403
    command(people["cw2"], case, "feedback", {"answers": {"satisfied": "yes"}}, 201)

    reopened = command(cw1, case, "reopen", {"reason": "new threats"}, 200).json()
    assert reopened["stage"] == "follow_up" and reopened["follow_up"]["next_due"]


def test_unreachable_closure_waits_30_days_and_contacts_cannot_be_backdated_past_registration(cw1, sup1):
    """The 30-day boundary itself is tested with the clock injected (test_cases_store): here, the case
    was registered just now, so no contact can be dated 30 days back and no unreachable closure is due."""
    case = in_implementation(cw1, sup1)
    for dated in (ago(days=30, minutes=1), "0001-01-01T00:00:00Z", ago(days=-1)):
        refused = command(cw1, case, "follow-ups", {"contacted": True, "contact_date": dated,
                                                    "safety_reassessed": True}, 422)
        assert set(refused.json()["errors"]) == {"contact_date"}
    command(cw1, case, "follow-ups", {"contacted": False, "contact_date": ago(),
                                      "safety_reassessed": False}, 201)
    refused = command(cw1, case, "closure", {"reason": "unreachable", "notes": "no answer"}, 409)
    assert "0 days ago" in refused.json()["detail"]
    assert read(cw1, case)["closure"]["status"] == "none"


def test_every_invalid_transition_is_409_and_stores_nothing(cw1):
    case = new_case(cw1)

    def refused(path, body=None, method="POST", reason=""):
        before = read(cw1, case)["version"]
        response = command(cw1, case, path, body, method=method)
        assert response.status_code == 409, (path, response.text)
        assert reason in response.json()["detail"]
        assert read(cw1, case)["version"] == before

    refused("assessment", ASSESSMENT, reason="consent")
    refused("plan", PLAN, method="PUT", reason="assessment")
    refused("plan/submit", reason="Draft a case plan")
    refused("follow-ups", {"contacted": True, "contact_date": ago(hours=1), "safety_reassessed": True},
            reason="must be approved")
    refused("conferences", {"held_on": "2026-11-20", "participants": ["cw1"], "decisions": "x"}, reason="assessment")
    refused("reopen", {"reason": "x"}, reason="Only a closed case")
    command(cw1, case, "consent", CONSENT, 201)
    command(cw1, case, "consent/withdraw", status=200)
    refused("assessment", ASSESSMENT, reason="consent")
    command(cw1, case, "consent", CONSENT, 201)
    command(cw1, case, "assessment", ASSESSMENT, 200)
    command(cw1, case, "plan", PLAN, 200, method="PUT")
    command(cw1, case, "plan/submit", status=202)
    refused("plan", PLAN, method="PUT", reason="awaiting")
    refused("plan/submit", reason="already awaiting")
    command(cw1, case, "closure", {"reason": "survivor_request", "notes": "she asked"}, 202)
    refused("closure", {"reason": "survivor_request", "notes": "again"}, reason="already awaiting")


def test_bad_input_is_422_with_field_paths_and_stores_nothing(cw1):
    case = new_case(cw1)
    response = command(cw1, case, "follow-ups", {"contacted": "perhaps", "contact_date": "yesterday"}, 422)
    assert set(response.json()["errors"]) == {"contacted", "contact_date", "safety_reassessed"}
    response = command(cw1, case, "plan", {"goals": []}, 422, method="PUT")
    assert "goals" in response.json()["errors"]
    assert read(cw1, case)["version"] == 1


def test_if_match_guards_against_overwriting_and_idempotency_key_replays(cw1):
    case = new_case(cw1)
    stale = command(cw1, case, "consent", CONSENT, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    command(cw1, case, "consent", CONSENT, 201, headers={"If-Match": '"1"'})

    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = command(cw1, case, "assessment", ASSESSMENT, 200, headers=key).json()
    again = command(cw1, case, "assessment", ASSESSMENT, 200, headers=key).json()
    assert again == first and read(cw1, case)["version"] == first["version"]
    assert command(cw1, case, "assessment", dict(ASSESSMENT, notes="other"), headers=key).status_code == 409
    assert command(cw1, case, "assessment", ASSESSMENT, headers={"If-Match": "three"}).status_code == 400


def test_reassignment_is_for_the_supervisor_within_the_team(people):
    case = new_case(people["cw1"])
    assert command(people["cw1"], case, "reassign", {"caseworker": "cw2"}).status_code == 403
    assert command(people["sup2"], case, "reassign", {"caseworker": "cw3"}).status_code == 404
    assert command(people["sup1"], case, "reassign", {"caseworker": "cw3"}).status_code == 409
    moved = command(people["sup1"], case, "reassign", {"caseworker": "cw2"}, 200).json()
    assert moved["assigned_to"] == "cw2"
    assert people["cw1"].get(f"/v1/cases/{case['id']}").status_code == 404
    assert people["cw2"].get(f"/v1/cases/{case['id']}").status_code == 200


def test_as_of_shows_the_case_as_it_was_and_auditors_see_no_identifying_data(people):
    cw1 = people["cw1"]
    case = new_case(cw1)
    command(cw1, case, "consent", CONSENT, 201)
    between = datetime.now(UTC).isoformat()
    command(cw1, case, "assessment", ASSESSMENT, 200)

    then = cw1.get(f"/v1/cases/{case['id']}", params={"as_of": between}).json()
    assert then["stage"] == "engagement" and then["assessment"] is None and then["consent"]["services"]
    assert read(cw1, case)["stage"] == "case_plan"

    audited = people["aud1"].get(f"/v1/cases/{case['id']}", params={"as_of": datetime.now(UTC).isoformat()}).json()
    assert audited["survivor"] == {"name": "[redacted]", "phone": "[redacted]"}
    assert audited["assessment"]["safety_concerns"] == "[redacted]"
    assert "Halima" not in json.dumps(audited)
    early = people["cw1"].get(f"/v1/cases/{case['id']}", params={"as_of": "2000-01-01T00:00:00Z"})
    assert early.status_code == 404
    assert people["cw3"].get(f"/v1/cases/{case['id']}", params={"as_of": between}).status_code == 404


@pytest.fixture
def overdue_events(test_env):
    queue = Queue(f"test-overdue-{uuid.uuid4().hex[:8]}", exchange=EXCHANGE, routing_key="FollowUpOverdue")
    with Connection(test_env["AMQP_URI"]) as conn:
        queue(conn.channel()).declare()

    def received() -> list[dict]:
        with Connection(test_env["AMQP_URI"]) as conn:
            bound, messages = queue(conn.channel()), []
            while (message := bound.get(no_ack=True)) is not None:
                messages.append(json.loads(message.body))
            return messages
    yield received
    with Connection(test_env["AMQP_URI"]) as conn:
        queue(conn.channel()).delete()


@pytest.fixture
def registered_days_ago(test_env, cw1, sup1):
    """Builds a case in implementation as if registered four days ago (a contact cannot be dated before
    registration): registered and its plan submitted by the running cases service's own store, in this
    process, with its clock turned back; the plan approved by the supervisor through the gateway."""
    from services.cases.application import Cases
    from services.cases.settings import CasesSettings
    from tests.support import case_submitted
    store = Cases(CasesSettings.from_env())
    store.clock = lambda: datetime.now(UTC) - timedelta(days=4)

    def registered(risk: str) -> str:
        case_id, submission = case_submitted(store, {"username": "cw1", "role": "caseworker", "team": []}, risk)
        case = {"id": str(case_id)}
        decide(sup1, case, "case_plan", submission)
        wait_until(lambda: read(cw1, case)["stage"] == "implementation", what="the plan approved")
        return case["id"]
    yield registered
    store.close()


def test_an_overdue_follow_up_is_emitted_once_across_a_restart(cw1, system, overdue_events, registered_days_ago):
    case = {"id": registered_days_ago("high")}
    command(cw1, case, "follow-ups", {"contacted": True, "contact_date": ago(hours=85),
                                      "safety_reassessed": True}, 201)  # due an hour ago
    seen = []
    wait_until(lambda: seen.extend(e for e in overdue_events() if e["aggregate_id"] == case["id"]) or seen,
               timeout=20, what="FollowUpOverdue")
    assert read(cw1, case)["follow_up"]["overdue"] is True
    listed = cw1.get("/v1/cases?overdue=true&limit=200").json()["items"]
    assert case["id"] in {item["id"] for item in listed}

    system["cases"].kill()
    system["cases"].start()
    wait_until(lambda: cw1.get(f"/v1/cases/{case['id']}").status_code == 200, what="cases back")
    # Positive markers: four scans of the restarted service finished, then its relay passed every
    # event in its store (what those scans appended included): a second FollowUpOverdue would be on
    # the bus by now.
    wait_for_timer_runs(system["cases"], "flag_overdue_follow_ups", runs=4)
    wait_until(lambda: relay_caught_up(system["cases"].env, "cases"), what="the cases relay past every stored event")
    seen.extend(e for e in overdue_events() if e["aggregate_id"] == case["id"])
    assert len(seen) == 1
    assert seen[0]["payload"]["due"] == read(cw1, case)["follow_up"]["next_due"].replace("Z", "+00:00")


def test_a_closed_case_refuses_changes_until_reopened(people, sup1):
    cw1 = people["cw1"]
    case = in_implementation(cw1, sup1)

    def refused(who, path, body=None, method="POST", reason=""):
        before = read(cw1, case)["version"]
        response = command(who, case, path, body, method=method)
        assert response.status_code == 409, (path, response.text)
        assert reason in response.json()["detail"]
        assert read(cw1, case)["version"] == before

    refused(cw1, "plan/submit", reason="approved")
    refused(cw1, "assessment", ASSESSMENT, reason="past assessment")
    refused(people["sup1"], "reassign", {"caseworker": "cw1"}, reason="already assigned")
    command(cw1, case, "consent/withdraw", status=200)
    refused(cw1, "consent/withdraw", reason="already withdrawn")

    requested = command(cw1, case, "closure", {"reason": "relocated", "notes": "moved"}, 202).json()
    decide(sup1, case, "closure", requested["version"])
    wait_until(lambda: read(cw1, case)["stage"] == "closed", what="the closure")
    assert case["id"] in {i["id"] for i in cw1.get("/v1/cases?stage=closed&limit=200").json()["items"]}
    for path, body, method in (("assessment", ASSESSMENT, "POST"), ("plan", PLAN, "PUT"),
                               ("follow-ups", {"contacted": True, "contact_date": ago(hours=1),
                                               "safety_reassessed": True}, "POST"),
                               ("conferences", {"held_on": "2026-11-20", "participants": ["cw1"],
                                                "decisions": "x"}, "POST"),
                               ("closure", {"reason": "needs_met", "notes": "x"}, "POST")):
        refused(cw1, path, body, method, reason="reopen it")
    refused(people["sup1"], "reassign", {"caseworker": "cw2"}, reason="reopen it")
