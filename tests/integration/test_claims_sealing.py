"""README, "Per-case keys" and "Monitoring by domain, and child survivors": identifying free text is
sealed with the case's key before the event is stored. A child's case is driven through the gateway
with a unique value in every such field; then no table of the database holds one as text, and the
stored events, opened with the service-wide cipher alone (no case key), hold none of them either."""
import dataclasses
import json
import uuid
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import Mapper

from services.cases.application import Cases
from services.cases.domain import Consent
from services.cases.settings import CasesSettings
from shared.caller import Caller
from tests.support import database, wait_until

PLANTED = {
    "survivor name": "Baraka Sealplant-Child", "date of birth": "2012-02-29", "survivor phone": "+254788990011",
    "location": "Kalobeyei Sealplant-Village", "caregiver name": "Tumaini Sealplant-Aunt",
    "caregiver relationship": "Sealplant-maternal-aunt", "caregiver phone": "+254788990022",
    "intake notes": "Sealplant intake: came at night", "best-interests note": "Sealplant best interests: stay",
    "safety concerns": "Sealplant concern: uncle visits", "assessment notes": "Sealplant assessment notes",
    "plan action": "Sealplant action: school transfer", "goal responsible": "Sealplant-Teacher-Wanjala",
    "consulted": "Sealplant-Grandmother-Akinyi", "child participation": "Sealplant: chose the school",
    "follow-up notes": "Sealplant follow-up: doing better", "raise reason": "Sealplant raise: uncle returned",
    "conference participant": "Sealplant-Nurse-Otieno", "conference decisions": "Sealplant decisions: move",
    "conference next steps": "Sealplant next: visit school", "closure notes": "Sealplant closure: settled",
    "feedback question": "Sealplant question?", "feedback answer": "Sealplant answer: grateful",
    "reopening reason": "Sealplant reopened: uncle back", "unaccompanied reason": "Sealplant: separated at Nadapal",
    "erasure reason": "Sealplant erase: asked by the child",
}
P = PLANTED
CW1 = Caller.of({"username": "cw1", "role": "caseworker", "team": [], "correlation_id": "test-sealing"})
SUP1 = Caller.of({"username": "sup1", "role": "supervisor", "team": ["cw1"], "correlation_id": "test-sealing"})


def post(api, path, body, status):
    response = api.post(path, body)
    assert response.status_code == status, response.text
    return response.json()


def approve(supervisor, case, kind):
    request = wait_until(lambda: next((i for i in supervisor.get("/v1/approvals?status=pending").json()["items"]
                                       if i["case_id"] == case["id"] and i["type"] == kind), None),
                         what=f"the {kind} request")
    post(supervisor, f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}, 200)


def stage(api, case) -> str:
    return api.get(f"/v1/cases/{case['id']}").json()["stage"]


def child_case_journey(people) -> dict:
    """Registration to reopening, every identifying field filled with a planted value."""
    cw1, sup1 = people["cw1"], people["sup1"]
    case = post(cw1, "/v1/cases", {
        "survivor": {"name": P["survivor name"], "date_of_birth": P["date of birth"], "phone": P["survivor phone"],
                     "location": P["location"]},
        "risk_level": "medium", "is_child": True, "intake_notes": P["intake notes"],
        "caregiver": {"name": P["caregiver name"], "relationship": P["caregiver relationship"],
                      "phone": P["caregiver phone"]}}, 201)
    path = f"/v1/cases/{case['id']}"
    post(cw1, f"{path}/consent", {"services": True, "share_with_providers": False, "given_by": "caregiver",
                                  "mandatory_reporting_explained": True, "child_assent": False, "child_age": 13,
                                  "best_interests_note": P["best-interests note"]}, 201)
    post(cw1, f"{path}/assessment", {"needs": ["education"], "safety_concerns": P["safety concerns"],
                                     "notes": P["assessment notes"]}, 200)
    assert cw1.request("PUT", f"{path}/plan", {
        "goals": [{"need": "education", "action": P["plan action"], "responsible": P["goal responsible"],
                   "consulted": [P["consulted"]], "due_date": "2026-12-20"}],
        "child_participation": P["child participation"]}).status_code == 200
    post(cw1, f"{path}/plan/submit", None, 202)
    approve(sup1, case, "case_plan")
    wait_until(lambda: stage(cw1, case) == "implementation", what="the plan approved")
    post(cw1, f"{path}/follow-ups", {"contacted": True, "contact_date": datetime.now(UTC).isoformat(),
                                     "safety_reassessed": True, "notes": P["follow-up notes"],
                                     "raise_risk_to": "high", "raise_reason": P["raise reason"]}, 201)
    post(cw1, f"{path}/conferences", {"held_on": "2026-11-20", "participants": [P["conference participant"]],
                                      "decisions": P["conference decisions"],
                                      "next_steps": P["conference next steps"]}, 201)
    post(cw1, f"{path}/closure", {"reason": "needs_met", "notes": P["closure notes"]}, 202)
    approve(sup1, case, "closure")
    wait_until(lambda: stage(cw1, case) == "closed", what="the case closed")
    post(people["cw2"], f"{path}/feedback", {"answers": {P["feedback question"]: P["feedback answer"]}}, 201)
    post(cw1, f"{path}/reopen", {"reason": P["reopening reason"]}, 200)
    return case


@pytest.fixture(scope="module")
def planted_cases(people):
    journey = child_case_journey(people)
    alone = post(people["cw1"], "/v1/cases", {"survivor": {"name": "Child"}, "risk_level": "high", "is_child": True,
                                              "unaccompanied": True,
                                              "unaccompanied_reason": P["unaccompanied reason"]}, 201)
    erased = post(people["cw1"], "/v1/cases", {"survivor": {"name": "Someone"}, "risk_level": "low"}, 201)
    post(people["sup1"], f"/v1/cases/{erased['id']}/erase", {"reason": P["erasure reason"]}, 200)
    return {"journey": journey, "unaccompanied": alone, "erased": erased}


def test_the_case_service_still_gives_every_planted_value_back(people, planted_cases):
    """So that the searches below look for values that were stored, not dropped."""
    shown = json.dumps(people["cw1"].get(f"/v1/cases/{planted_cases['journey']['id']}").json())
    shown += json.dumps(people["cw1"].get(f"/v1/cases/{planted_cases['unaccompanied']['id']}").json())
    history = people["cw1"].get(f"/v1/cases/{planted_cases['journey']['id']}/history").json()["items"]
    shown += json.dumps(history)
    missing = [field for field, value in PLANTED.items() if value not in shown and field != "erasure reason"]
    assert not missing, missing


def test_no_table_of_the_database_holds_a_planted_value_as_text(test_env, planted_cases):
    found = []
    with database(test_env) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type ="
                              " 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
        assert ("cases", "cases_events") in tables and ("cases", "case_index") in tables
        for schema, table in tables:
            rows = "\n".join(row[0] for row in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t'))
            found += [(schema, table, field) for field, value in PLANTED.items()
                      if value in rows or value.encode().hex() in rows]
    assert not found, f"planted values stored as text: {found}"


def test_stored_events_opened_without_the_case_key_hold_only_sealed_values(test_env, planted_cases):
    store = Cases(CasesSettings.from_env())
    try:
        service_cipher_only = Mapper(transcoder=store.mapper.transcoder, cipher=store.mapper.cipher,
                                     compressor=store.mapper.compressor)
        events = []
        for case in planted_cases.values():
            case_id = uuid.UUID(case["id"])
            for stream in (case_id, Consent.id_for(case_id)):
                events += [service_cipher_only.to_domain_event(stored)
                           for stored in store.recorder.select_events(stream)]
    finally:
        store.close()
    kinds = {type(event).__name__ for event in events}
    assert {"CaseRegistered", "ConsentRecorded", "AssessmentRecorded", "CasePlanDrafted", "FollowUpRecorded",
            "CaseConferenceHeld", "ClosureRequested", "ClientFeedbackRecorded", "CaseReopened", "CaseErased"} <= kinds
    opened = [(type(event).__name__, json.dumps(vars(event), default=str)) for event in events]
    leaks = [(kind, field) for kind, text in opened for field, value in PLANTED.items() if value in text]
    assert not leaks, f"identifying values stored without the case's key: {leaks}"
    assert sum(text.count('"sealed:') for _, text in opened) >= len(PLANTED) - 1  # feedback: one sealed dict


def test_an_erasure_reaches_another_instance_within_case_key_cache_seconds(store, monkeypatch):
    """Another instance that read the case keeps its key in memory for CASE_KEY_CACHE_SECONDS, no longer."""
    other = Cases(dataclasses.replace(store.settings, case_key_cache_seconds=1.0))  # CASE_KEY_CACHE_SECONDS=1
    try:
        case = store.register_case(CW1, {"survivor": {"name": P["survivor name"]}, "risk_level": "low",
                                         "is_child": False, "caregiver": None, "intake_notes": None})
        assert other.repository.get(case.id).survivor["name"] == P["survivor name"]  # its key now cached there
        store.erase(SUP1, case.id, {"reason": P["erasure reason"]}, {})
        wait_until(lambda: other.repository.get(case.id).survivor["name"] == "[erased]", timeout=3,
                   what="the erasure seen by the other instance")
    finally:
        other.close()


def test_no_planted_value_in_any_service_log(system, planted_cases):
    logs = {process.log_path.name: process.log_path.read_text(errors="replace") for process in system.values()}
    assert all(logs.values())
    leaks = [(name, field) for name, text in logs.items() for field, value in PLANTED.items() if value in text]
    assert not leaks, leaks
