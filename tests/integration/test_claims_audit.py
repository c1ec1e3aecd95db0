"""README, "Hash chain": a case's stored events changed, removed or reordered in PostgreSQL, as a
database superuser would, and `GET /v1/cases/{id}/verify` answers `valid: false` naming the first
sequence that no longer holds. Through the gateway, on the running system."""
import pytest

from tests.support import database, wait_until

CONSENT = {"services": True, "share_with_providers": False, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic visit", "responsible": "cw1", "due_date": "2026-12-15"}]}
EVENTS = "cases.cases_events"


def case_with_a_plan(cw) -> dict:
    case = cw.post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "medium"}).json()
    path = f"/v1/cases/{case['id']}"
    assert cw.post(f"{path}/consent", CONSENT).status_code == 201
    assert cw.post(f"{path}/assessment", {"needs": ["medical"], "safety_concerns": "x"}).status_code == 200
    assert cw.request("PUT", f"{path}/plan", PLAN).status_code == 200
    return case


def verify(api, case) -> dict:
    response = api.get(f"/v1/cases/{case['id']}/verify")
    assert response.status_code == 200, response.text
    return response.json()


def linked(auditor, case, event_type: str) -> dict:
    """The case file's event of this type as the history shows it: its sequence and stream version."""
    items = auditor.get(f"/v1/cases/{case['id']}/history").json()["items"]
    return next(i for i in items if i["type"] == event_type and i["stream"] == "case")


def followed(env, case) -> bool:
    """Every follower of the cases log (outbox relay, case list) is past the case's events, so none
    of them reads a row this test damages."""
    with database(env) as conn:
        return conn.execute(
            f"SELECT min(position) >= (SELECT max(notification_id) FROM {EVENTS} WHERE originator_id = %s)"
            " FROM cases.positions", (case["id"],)).fetchone()[0]


def superuser(env, statement: str, *params) -> None:
    with database(env, autocommit=True) as conn:
        assert conn.execute(statement, params).rowcount >= 1, statement


def change_a_byte(env, case, event):
    superuser(env, f"UPDATE {EVENTS} SET state = overlay(state placing"
                   " decode(lpad(to_hex(get_byte(state, 20) # 1), 2, '0'), 'hex') from 21 for 1)"
                   " WHERE originator_id = %s AND originator_version = %s", case["id"], event["stream_version"])


def remove(env, case, event):
    superuser(env, f"DELETE FROM {EVENTS} WHERE originator_id = %s AND originator_version = %s",
              case["id"], event["stream_version"])


def swap_with_the_next(env, case, event):
    # Each row still decrypts and reads as an event of the case: only the chain tells.
    superuser(env, f"UPDATE {EVENTS} a SET state = b.state, topic = b.topic FROM {EVENTS} b"
                   " WHERE a.originator_id = %s AND b.originator_id = a.originator_id"
                   " AND a.originator_version + b.originator_version = %s AND a.originator_version IN (%s, %s)",
              case["id"], 2 * event["stream_version"] + 1, event["stream_version"], event["stream_version"] + 1)


@pytest.mark.parametrize("tamper", [change_a_byte, remove, swap_with_the_next])
def test_verify_over_http_names_the_assessment_tampered_with_in_postgresql(people, test_env, tamper):
    cw1, aud1 = people["cw1"], people["aud1"]
    case, untouched = case_with_a_plan(cw1), case_with_a_plan(cw1)
    assessment = linked(aud1, case, "AssessmentRecorded")
    before = verify(aud1, case)
    assert before["valid"] is True and "first_bad_sequence" not in before
    wait_until(lambda: followed(test_env, case), what="the cases log's followers past the case's events")

    tamper(test_env, case, assessment)

    verdict = verify(aud1, case)
    assert verdict["valid"] is False, verdict
    assert verdict["first_bad_sequence"] == assessment["sequence"], (verdict, assessment)
    assert verdict["head_hash"] == before["head_hash"]  # the recorded head, printed for comparison elsewhere
    assert verify(cw1, case) == verdict  # the case's caseworker reads the same verdict
    assert verify(aud1, untouched)["valid"] is True


def test_verify_over_http_notices_links_cut_off_the_end(people, test_env):
    cw1, aud1 = people["cw1"], people["aud1"]
    case = case_with_a_plan(cw1)
    plan = linked(aud1, case, "CasePlanDrafted")  # the history read is linked after it, as the last link
    last = verify(aud1, case)["events"]
    assert last == plan["sequence"] + 1
    superuser(test_env, "DELETE FROM cases.audit_chain WHERE chain_id = %s AND sequence = %s", case["id"], last)

    verdict = verify(aud1, case)
    assert verdict["valid"] is False and verdict["first_bad_sequence"] == last, verdict
