"""In-app notifications end to end: the right person, once, by case number only."""
import json
import uuid
from datetime import UTC, datetime, timedelta

from shared.bus import event_publisher, publish_event
from shared.envelope import make_envelope
from tests.support import wait_until

SURVIVOR = {"name": "Rehema Notify-Plant", "phone": "+254722333444", "location": "Block 9 Kakuma"}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic", "responsible": "cw1", "due_date": "2026-12-15"}]}


def inbox(api, **query) -> list[dict]:
    return api.get("/v1/notifications", params=query).json()["items"]


def notified(api, case, kind) -> list[dict]:
    return [n for n in inbox(api) if n["case_id"] == case["id"] and n["type"] == kind]


def arrives(api, case, kind) -> dict:
    [notification] = wait_until(lambda: notified(api, case, kind), what=f"{kind} for {case['case_number']}")
    return notification


def new_case(api, risk="medium") -> dict:
    case = api.post("/v1/cases", {"survivor": SURVIVOR, "risk_level": risk,
                                  "intake_notes": "Rehema Notify-Plant fled on foot"}).json()
    assert api.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    assert api.post(f"/v1/cases/{case['id']}/assessment", {"needs": ["medical"], "safety_concerns": "x"}
                    ).status_code == 200
    assert api.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200
    return case


def test_approval_requested_goes_to_the_supervisor_and_the_decision_to_the_requester(people):
    cw1, sup1 = people["cw1"], people["sup1"]
    case = new_case(cw1)
    cw1.post(f"/v1/cases/{case['id']}/plan/submit")
    asked = arrives(sup1, case, "approval_requested")
    assert asked["case_number"] == case["case_number"] and "awaits your decision" in asked["message"]
    assert notified(people["sup2"], case, "approval_requested") == []

    [request] = [r for r in sup1.get("/v1/approvals?status=pending").json()["items"] if r["case_id"] == case["id"]]
    sup1.post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"})
    decided = arrives(cw1, case, "approval_decided")
    assert "approved by sup1" in decided["message"]


def test_referrals_notify_the_focal_point_then_the_caseworker(people, pathway):
    cw1, clinic1 = people["cw1"], pathway["clinic1"]
    case = new_case(cw1)
    key = str(uuid.uuid4())
    referral = wait_until(lambda: (r := cw1.post(f"/v1/cases/{case['id']}/referrals",
                                                 {"provider_id": pathway["clinic"]["id"], "service_type": "medical"},
                                                 headers={"Idempotency-Key": key})).status_code == 201 and r.json(),
                          what="the referral")
    received = arrives(clinic1, case, "referral_received")
    assert "medical referral" in received["message"]
    assert notified(pathway["legal1"], case, "referral_received") == []
    clinic1.post(f"/v1/referrals/{referral['id']}/accept")
    assert "now accepted" in arrives(cw1, case, "referral_updated")["message"]


def test_reassignment_tells_both_caseworkers(people):
    case = people["cw1"].post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "low"}).json()
    wait_until(lambda: people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"}
                                           ).status_code == 200, what="the reassignment")
    arrives(people["cw1"], case, "case_reassigned")
    assert "from cw1 to cw2" in arrives(people["cw2"], case, "case_reassigned")["message"]


def test_an_overdue_follow_up_notifies_the_caseworker_once_even_when_redelivered(people, test_env):
    cw1 = people["cw1"]
    case = cw1.post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "high"}).json()
    overdue = make_envelope(source="cases", event_type="FollowUpOverdue", aggregate_id=uuid.UUID(case["id"]),
                            aggregate_version=99, occurred_at=datetime.now(UTC),
                            by={"username": "system", "role": "system", "correlation_id": None},
                            payload={"due": (datetime.now(UTC) - timedelta(hours=2)).isoformat()})
    publisher = event_publisher(test_env["AMQP_URI"])
    publish_event(publisher, overdue)
    publish_event(publisher, overdue)  # as after a relay crash before it saved its position
    notification = arrives(cw1, case, "follow_up_overdue")
    assert "Contact the survivor" in notification["message"]
    publish_event(publisher, overdue)
    wait_until(lambda: len(notified(cw1, case, "follow_up_overdue")) == 1, what="still one")


def test_read_marks_one_notification_and_only_for_its_recipient(people):
    cw1 = people["cw1"]
    case = people["cw1"].post("/v1/cases", {"survivor": SURVIVOR, "risk_level": "low"}).json()
    people["sup1"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": "cw2"})
    mine = arrives(cw1, case, "case_reassigned")
    assert people["cw2"].post(f"/v1/notifications/{mine['id']}/read").status_code == 404
    assert cw1.post(f"/v1/notifications/{mine['id']}/read").json() == {"id": mine["id"], "read": True}
    assert cw1.post(f"/v1/notifications/{mine['id']}/read").status_code == 200
    wait_until(lambda: mine["id"] not in {n["id"] for n in inbox(cw1, unread="true")}, what="read")
    assert mine["id"] in {n["id"] for n in inbox(cw1)}


def test_no_notification_carries_survivor_data(people, pathway):
    everything = json.dumps([inbox(people[u]) for u in ("cw1", "cw2", "cw3", "sup1", "sup2")]
                            + [inbox(pathway["clinic1"]), inbox(pathway["legal1"])])
    for planted in (*SURVIVOR.values(), "fled on foot"):
        assert planted not in everything
