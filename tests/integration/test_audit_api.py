"""Audit and data protection over HTTP, on the running system: history, verification, who may
read what, erasure, and a survivor's planted name searched for everywhere it must not be."""
import json
import os
import subprocess
import uuid
from datetime import UTC, datetime

import requests
from kombu import Connection, Queue

from services.approvals.application import Approvals
from services.referrals.application import Referrals
from shared.bus import EXCHANGE
from shared.settings import Settings
from tests.integration.conftest import PLANTED_EVERYWHERE
from tests.support import queue_depths, wait_until

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}


def post(api, path, body=None, status=None):
    response = api.post(path, body)
    if status is not None:
        assert response.status_code == status, response.text
    return response


def new_case(api, survivor: dict, **extra) -> dict:
    return post(api, "/v1/cases", {"survivor": survivor, "risk_level": "high", **extra}, 201).json()


def approve(supervisor, case, kind, comment="ok"):
    request = wait_until(lambda: next((i for i in supervisor.every("/v1/approvals", {"status": "pending"})
                                       if i["case_id"] == case["id"] and i["type"] == kind), None),
                         what=f"the {kind} approval request")
    decided = post(supervisor, f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": comment}, 200)
    assert decided.json()["comment"] == comment


def test_history_records_who_read_the_case_and_auditors_see_it_redacted(people):
    cw1, sup1, aud1 = people["cw1"], people["sup1"], people["aud1"]
    case = new_case(cw1, {"name": "Zawadi Unique-Name", "phone": "+254711111111"})
    post(cw1, f"/v1/cases/{case['id']}/consent", CONSENT, 201)
    cw1.get(f"/v1/cases/{case['id']}")
    sup1.get(f"/v1/cases/{case['id']}")

    history = aud1.get(f"/v1/cases/{case['id']}/history")
    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert [(i["type"], i["actor"]["username"]) for i in items] == [
        ("CaseRegistered", "cw1"), ("ConsentRecorded", "cw1"), ("CaseViewed", "cw1"), ("CaseViewed", "sup1")]
    assert items[0]["data"]["survivor"] == {"name": "[redacted]", "phone": "[redacted]"}
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(items, items[1:]))
    assert "Zawadi" not in history.text

    verdict = aud1.get(f"/v1/cases/{case['id']}/verify").json()
    after = aud1.get(f"/v1/cases/{case['id']}/history").json()["items"]
    # Five links when verified (the four above and the auditor's read of the history): the head is
    # the fifth link's hash, whatever was appended since.
    assert verdict == {"valid": True, "events": 5, "head_hash": after[4]["hash"]}
    assert after[4]["actor"] == {"username": "aud1", "role": "auditor"}
    own = cw1.get(f"/v1/cases/{case['id']}/history").json()["items"]
    assert own[0]["data"]["survivor"]["name"] == "Zawadi Unique-Name"

    paged = aud1.get(f"/v1/cases/{case['id']}/history", params={"limit": 2}).json()
    rest = aud1.get(f"/v1/cases/{case['id']}/history", params={"cursor": paged["next_cursor"]}).json()
    assert [i["sequence"] for i in paged["items"] + rest["items"]][:6] == [1, 2, 3, 4, 5, 6]
    assert rest["items"][0]["prev_hash"] == paged["items"][-1]["hash"]


def test_nobody_outside_the_case_reads_its_record_and_auditors_change_nothing(people, pathway):
    case = new_case(people["cw1"], {"name": "Amina"})
    path = f"/v1/cases/{case['id']}"
    assert people["cw3"].get(f"{path}/history").status_code == 404
    assert people["cw3"].get(f"{path}/verify").status_code == 404
    for outsider in (people["admin"], pathway["clinic1"]):
        assert outsider.get(f"{path}/history").status_code == 403
        assert outsider.get(f"{path}/verify").status_code == 403
        assert outsider.get(path, params={"as_of": datetime.now(UTC).isoformat()}).status_code == 403
        assert outsider.get(path).status_code == 403  # the role may never read a case file
    aud1 = people["aud1"]
    assert post(aud1, f"{path}/consent", CONSENT).status_code == 403
    assert post(aud1, f"{path}/erase", {"reason": "x"}).status_code == 403
    assert aud1.get(f"{path}/history", params={"limit": 500}).status_code == 422
    assert aud1.get("/v1/cases/not-a-case/history").status_code == 404


def test_erasure_by_the_team_supervisor_leaves_a_verifiable_history_and_no_identifying_data(people, pathway):
    cw1, sup1, aud1 = people["cw1"], people["sup1"], people["aud1"]
    case = new_case(cw1, {"name": "Nadia", "phone": "+254700000001", "location": "Block 9 Kakuma"},
                    intake_notes="fled on foot")
    post(cw1, f"/v1/cases/{case['id']}/consent", CONSENT, 201)
    wait_until(lambda: post(cw1, f"/v1/cases/{case['id']}/referrals", {
        "provider_id": pathway["clinic"]["id"], "service_type": "medical", "notes": "Nadia fled on foot"}
        ).status_code == 201, what="a referral (consent reaches the referrals service first)")
    assert cw1.get(f"/v1/cases/{case['id']}/referrals").json()["items"][0]["notes"] == "Nadia fled on foot"
    before = datetime.now(UTC).isoformat()
    path = f"/v1/cases/{case['id']}"

    assert post(cw1, f"{path}/erase", {"reason": "asked"}).status_code == 403
    assert post(people["sup2"], f"{path}/erase", {"reason": "asked"}).status_code == 404
    assert post(sup1, f"{path}/erase", {}).status_code == 422
    erased = post(sup1, f"{path}/erase", {"reason": "the survivor asked to be forgotten"}, 200).json()
    assert erased["survivor"] == {"name": "[erased]", "phone": "[erased]", "location": "[erased]"}
    assert erased["intake_notes"] == "[erased]" and erased["erasure"]["erased_by"] == "sup1"

    assert cw1.get(path).json()["survivor"]["name"] == "[erased]"
    assert cw1.get(path, params={"as_of": before}).json()["survivor"]["name"] == "[erased]"
    history = cw1.get(f"{path}/history")
    assert "Nadia" not in history.text and "fled on foot" not in history.text
    assert "CaseErased" in [i["type"] for i in history.json()["items"]]
    assert aud1.get(f"{path}/verify").json()["valid"] is True
    assert cw1.get(f"{path}/referrals").json()["items"][0]["notes"] == "[erased]"
    # Erasure withdraws the referral: the provider no longer reads its notes at all.
    provider_view = wait_until(lambda: next((r for r in pathway["clinic1"].get("/v1/referrals").json()["items"]
                                            if r["case_id"] == case["id"] and r["status"] == "withdrawn"), None),
                               what="the referral withdrawn on erasure")
    assert provider_view["notes"] is None and "Nadia" not in json.dumps(provider_view)
    assert post(cw1, f"{path}/closure", {"reason": "survivor_request", "notes": "x"}).status_code == 409
    assert post(sup1, f"{path}/erase", {"reason": "again"}).status_code == 409


def test_a_planted_survivor_name_is_nowhere_but_the_cases_service(people, pathway, system, test_env):
    """A full journey with unique survivor data, then every bus message, every table of the
    database and every log and metric of every service are searched for it."""
    cw1, sup1 = people["cw1"], people["sup1"]
    capture = Queue(f"test-capture-{uuid.uuid4().hex[:8]}", exchange=EXCHANGE, routing_key="#")
    with Connection(test_env["AMQP_URI"]) as conn:
        capture(conn.channel()).declare()
    name, phone, place, note = PLANTED_EVERYWHERE
    case = new_case(cw1, {"name": name, "phone": phone, "location": place, "date_of_birth": "1999-04-02"},
                    intake_notes=f"{name} {note}")
    path = f"/v1/cases/{case['id']}"
    post(cw1, f"{path}/consent", CONSENT, 201)
    post(cw1, f"{path}/assessment", {"needs": ["medical"], "safety_concerns": f"{name} {note}", "notes": note}, 200)
    cw1.request("PUT", f"{path}/plan", {"goals": [{"need": "medical", "action": f"take {name} to clinic",
                                                   "responsible": "cw1", "due_date": "2026-12-20"}]})
    post(cw1, f"{path}/plan/submit", None, 202)
    approve(sup1, case, "case_plan", comment=f"good plan for {name}")
    wait_until(lambda: cw1.get(path).json()["stage"] == "implementation", what="the plan approved")
    referral = post(cw1, f"{path}/referrals", {"provider_id": pathway["clinic"]["id"], "service_type": "medical",
                                               "notes": f"{name}, {phone}, {note}"}, 201).json()
    clinic1 = pathway["clinic1"]
    post(clinic1, f"/v1/referrals/{referral['id']}/accept", {}, 200)
    completed = post(clinic1, f"/v1/referrals/{referral['id']}/complete", {"outcome": f"{name} treated"}, 200).json()
    assert completed["notes"] == f"{name}, {phone}, {note}" and completed["outcome"] == f"{name} treated"
    post(cw1, f"{path}/follow-ups", {"contacted": True, "contact_date": datetime.now(UTC).isoformat(),
                                      "safety_reassessed": True, "notes": f"{name} at {place}"}, 201)
    post(cw1, f"{path}/conferences", {"held_on": "2026-11-20", "participants": [name, "cw1"],
                                      "decisions": f"{name} stays put"}, 201)
    post(cw1, f"{path}/closure", {"reason": "needs_met", "notes": f"{name} {note}"}, 202)
    approve(sup1, case, "closure")
    wait_until(lambda: cw1.get(path).json()["stage"] == "closed", what="the case closed")
    people["aud1"].get(f"{path}/history")

    with Connection(test_env["AMQP_URI"]) as conn:
        bound = capture(conn.channel())
        messages = []
        wait_until(lambda: messages.extend(iter(lambda: bound.get(no_ack=True), None)) or
                   {"CaseClosed", "ClosureApproved", "ReferralMade"} <= {m.delivery_info["routing_key"] for m in messages},
                   what="the journey's events on the bus")
        bound.delete()
        leftovers = [queue for queue, depth in queue_depths(test_env["VHOST"]).items() if depth]
        for queue in leftovers:  # dead letters, retries: read and put back
            held = Queue(queue, no_declare=True)(conn.channel())
            messages.extend(iter(lambda: held.get(no_ack=False), None))
    bus = "\n".join(m.body.decode() if isinstance(m.body, bytes) else str(m.body) for m in messages)
    assert case["case_number"] in bus

    dump = subprocess.run([pg_dump(), "--data-only", "-h", test_env["POSTGRES_HOST"], "-p", test_env["POSTGRES_PORT"],
                           "-U", test_env["POSTGRES_USER"], test_env["POSTGRES_DBNAME"]], capture_output=True, check=True,
                          env={**os.environ, "PGPASSWORD": test_env["POSTGRES_PASSWORD"]}).stdout
    assert case["case_number"].encode() in dump
    logs = b"".join(process.log_path.read_bytes() for process in system.values())
    metrics = "".join(requests.get(f"{process.url}/metrics", timeout=5).text for process in system.values())
    for planted in PLANTED_EVERYWHERE:
        assert planted not in bus, f"{planted!r} on the bus"
        assert planted.encode() not in dump and planted.encode().hex().encode() not in dump, f"{planted!r} in the database"
        assert planted.encode() not in logs, f"{planted!r} in a log"
        assert planted not in metrics, f"{planted!r} in metrics"
    assert cw1.get(path).json()["survivor"]["name"] == name  # and the cases service still has it
    # What the other services keep of the free text is sealed with the case's key, which only cases holds.
    referrals = Referrals(Settings.for_service("referrals"))
    try:
        kept = referrals.repository.get(uuid.UUID(referral["id"]))
        assert kept.notes.startswith("sealed:") and kept.outcome.startswith("sealed:")
    finally:
        referrals.close()
    approvals = Approvals(Settings.for_service("approvals"))
    try:
        comments = [approvals.repository.get(uuid.UUID(item["id"])).comment
                    for item in sup1.every("/v1/approvals", {"status": "approved"}) if item["case_id"] == case["id"]]
        assert len(comments) == 2 and all(c.startswith("sealed:") for c in comments)
    finally:
        approvals.close()


def pg_dump() -> str:
    found = sorted(subprocess.run(["bash", "-c", "ls /usr/lib/postgresql/*/bin/pg_dump"],
                                  capture_output=True, text=True).stdout.split())
    return found[-1] if found else "pg_dump"
