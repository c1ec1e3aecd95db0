"""Organisations (issue 19): two agencies on one installation can neither see nor affect each other's
cases. All through the gateway, on the real system: two organisations, each with admin-made
caseworkers, supervisors and auditors; each organisation's own approval policy, applied; supervisors'
queues inside their organisation; what was recorded before organisations is the first one's."""
import uuid

import pytest

from services.cases.settings import CasesSettings
from shared.organisations import FIRST
from shared.settings import Settings
from tests.support import PASSWORD, database, new_member, new_organisation, wait_until

NEW_CASE = {"survivor": {"name": "Halima"}, "risk_level": "medium"}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "psychosocial", "action": "counselling", "responsible": "x", "due_date": "2026-12-15"}]}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def agencies(people, api):
    """Two organisations, A and B, each with a supervisor, two caseworkers of theirs, and an auditor."""
    admin = people["admin"]
    found = {}
    for agency in ("A", "B"):
        organisation = new_organisation(admin, f"Agency {agency}")
        sup = new_member(admin, "supervisor", organisation)
        cw = new_member(admin, "caseworker", organisation, supervisor=sup)
        cw2 = new_member(admin, "caseworker", organisation, supervisor=sup)
        aud = new_member(admin, "auditor", organisation)
        found[agency] = {"id": organisation, "names": {"sup": sup, "cw": cw, "cw2": cw2, "aud": aud},
                         **{who: api.login(name, PASSWORD) for who, name in
                            (("sup", sup), ("cw", cw), ("cw2", cw2), ("aud", aud))}}
    return found


def registered(api) -> dict:
    response = api.post("/v1/cases", NEW_CASE)
    assert response.status_code == 201, response.text
    return response.json()


def with_plan(api) -> dict:
    case = registered(api)
    assert api.post(f"/v1/cases/{case['id']}/consent", CONSENT).status_code == 201
    assert api.post(f"/v1/cases/{case['id']}/assessment", {"needs": ["psychosocial"], "safety_concerns": "x"}
                    ).status_code == 200
    assert api.request("PUT", f"/v1/cases/{case['id']}/plan", PLAN).status_code == 200
    return case


def queued(api, case) -> list[dict]:
    return [item for item in api.every("/v1/approvals") if item["case_id"] == case["id"]]


# --- organisations and users ------------------------------------------------------------------------

def test_the_admin_creates_and_lists_organisations_the_first_one_first(people, agencies, api):
    admin = people["admin"]
    listed, cursor = [], None
    while True:  # a page of one at a time: every page but the last has a cursor
        page = admin.get("/v1/organisations", params={"limit": 1, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        listed += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        assert len(page.json()["items"]) == 1
    ids = [item["id"] for item in listed]
    assert ids[0] == FIRST and len(ids) == len(set(ids))
    assert listed[0]["name"] == "First organisation"  # FIRST_ORGANISATION_NAME's default
    assert {agencies["A"]["id"], agencies["B"]["id"]} <= set(ids)
    assert all(set(item) == {"id", "name"} for item in listed)
    for who in (agencies["A"]["sup"], agencies["A"]["aud"], people["cw1"]):
        assert who.get("/v1/organisations").status_code == 403
        assert who.post("/v1/organisations", {"name": unique("Mine")}).status_code == 403


def test_an_organisations_name_is_unique_one_line_and_bounded(people):
    admin = people["admin"]
    name = unique("Relief Agency")
    assert admin.post("/v1/organisations", {"name": name}).status_code == 201
    again = admin.post("/v1/organisations", {"name": name.upper()})
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    for bad in ("", "   ", "Agency\x00", "Agency\nTwo", "Agency\u202e\x1b[31m", "A" * 201):
        refused = admin.post("/v1/organisations", {"name": bad})
        assert refused.status_code == 422, (bad[:20], refused.text)
    assert admin.post("/v1/organisations", {"name": "x" * 300_000}).status_code == 413
    forged = admin.post("/v1/organisations", {"name": unique("Agency"), "id": FIRST})
    assert forged.status_code == 422 and "id" in forged.json()["errors"]
    assert admin.get("/v1/organisations", params={"cursor": "not-a-cursor"}).status_code == 422
    assert admin.get("/v1/organisations", params={"limit": 0}).status_code == 422


def test_a_retried_creation_with_its_idempotency_key_is_the_first_one(people):
    admin, key, name = people["admin"], str(uuid.uuid4()), unique("Retried Agency")
    first = admin.post("/v1/organisations", {"name": name}, headers={"Idempotency-Key": key})
    again = admin.post("/v1/organisations", {"name": name}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = admin.post("/v1/organisations", {"name": unique("Other")}, headers={"Idempotency-Key": key})
    assert other.status_code == 409


def test_users_belong_to_an_organisation_and_a_supervisor_to_their_caseworkers_one(people, agencies):
    admin, a, b = people["admin"], agencies["A"], agencies["B"]
    assert a["cw"].get("/v1/users/me").json()["organisation"] == a["id"]
    assert admin.get("/v1/users/me").json()["organisation"] is None
    assert people["cw1"].get("/v1/users/me").json()["organisation"] == FIRST  # made with none named

    def refused(body: dict, field: str) -> None:
        response = admin.post("/v1/users", {"username": unique("usr"), "password": PASSWORD,
                                            "display_name": "X", **body})
        assert response.status_code == 422 and field in response.json()["errors"], response.text

    refused({"role": "caseworker", "supervisor": b["names"]["sup"], "organisation": a["id"]}, "supervisor")
    # None named: the first organisation, where A's supervisor is not.
    refused({"role": "caseworker", "supervisor": a["names"]["sup"]}, "supervisor")
    refused({"role": "supervisor", "supervisor": a["names"]["sup"], "organisation": b["id"]}, "supervisor")
    refused({"role": "caseworker", "supervisor": a["names"]["sup"], "organisation": str(uuid.uuid4())},
            "organisation")
    refused({"role": "auditor", "organisation": "not-an-id"}, "organisation")
    refused({"role": "auditor", "organisation": "\x00"}, "organisation")
    refused({"role": "admin", "organisation": a["id"]}, "organisation")


# --- cases: neither sees nor affects the other's ------------------------------------------------------

def test_another_organisations_people_neither_see_nor_affect_a_case(agencies, pathway):
    a, b = agencies["A"], agencies["B"]
    case = registered(a["cw"])
    cid = case["id"]
    assert a["cw"].post(f"/v1/cases/{cid}/consent", CONSENT).status_code == 201
    # Its own organisation: the caseworker, the supervisor and the auditor reach it.
    for who in ("cw", "sup", "aud"):
        for path in (f"/v1/cases/{cid}", f"/v1/cases/{cid}/history", f"/v1/cases/{cid}/verify",
                     f"/v1/cases/{cid}/export", f"/v1/cases/{cid}?as_of=2100-01-01T00:00:00Z"):
            assert a[who].get(path).status_code == 200, (who, path)
    assert a["aud"].get(f"/v1/cases/{cid}").json()["survivor"]["name"] == "[redacted]"
    # The other organisation: nothing, to anyone, whatever the route.
    before = a["cw"].get(f"/v1/cases/{cid}").json()["version"]
    for who in ("cw", "sup", "aud", "cw2"):
        outsider = b[who]
        for path in (f"/v1/cases/{cid}", f"/v1/cases/{cid}/history", f"/v1/cases/{cid}/verify",
                     f"/v1/cases/{cid}/export", f"/v1/cases/{cid}?as_of=2100-01-01T00:00:00Z",
                     f"/v1/cases/{cid}/referrals"):
            # An auditor never sees a case's referrals (403, as in their own organisation); the rest: 404.
            expected = 403 if who == "aud" and path.endswith("/referrals") else 404
            assert outsider.get(path).status_code == expected, (who, path)
        if who != "aud":
            assert cid not in listed(outsider)
    for who in ("cw", "sup"):
        outsider = b[who]
        for path, body in (("consent", CONSENT), ("consent/withdraw", None),
                           ("assessment", {"needs": ["legal"], "safety_concerns": "x"}),
                           ("follow-ups", {"contacted": True, "contact_date": "2026-01-01T00:00:00Z",
                                           "safety_reassessed": False}),
                           ("closure", {"reason": "needs_met", "notes": "x"}), ("reopen", {"reason": "x"}),
                           ("feedback", {"answers": {"q": "a"}}),
                           ("referrals", {"provider_id": pathway["clinic"]["id"], "service_type": "medical"})):
            response = outsider.post(f"/v1/cases/{cid}/{path}", body)
            assert response.status_code == 404, (who, path, response.status_code, response.text)
        assert outsider.request("PUT", f"/v1/cases/{cid}/plan", PLAN).status_code == 404
    for path, body in (("reassign", {"caseworker": b["names"]["cw"]}), ("erase", {"reason": "x"})):
        assert b["sup"].post(f"/v1/cases/{cid}/{path}", body).status_code == 404, path
    # ... and nothing changed: the same version, held by the same caseworker, no referral, consent given.
    after = a["cw"].get(f"/v1/cases/{cid}").json()
    assert after["version"] == before and after["assigned_to"] == a["names"]["cw"]
    assert after["consent"]["services"] is True
    assert a["cw"].get(f"/v1/cases/{cid}/referrals").json()["items"] == []
    # Nobody of B read it: B's refused reads left nothing in its history.
    readers = {item["actor"]["username"] for item in a["aud"].get(f"/v1/cases/{cid}/history").json()["items"]}
    assert readers and not readers & set(b["names"].values())


def listed(api) -> list[str]:
    """Every case id in the caller's list, page by page."""
    ids, cursor = [], None
    while True:
        page = api.get("/v1/cases", params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        ids += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return ids


def test_a_supervisor_reassigns_only_within_their_organisation(agencies):
    a, b = agencies["A"], agencies["B"]
    case = registered(a["cw"])
    across = a["sup"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": b["names"]["cw"]})
    assert across.status_code == 409, across.text  # not a caseworker of the supervisor's team
    assert a["cw"].get(f"/v1/cases/{case['id']}").json()["assigned_to"] == a["names"]["cw"]
    assert b["cw"].get(f"/v1/cases/{case['id']}").status_code == 404
    within = a["sup"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": a["names"]["cw2"]})
    assert within.status_code == 200 and within.json()["assigned_to"] == a["names"]["cw2"]


def test_a_forged_organisation_in_a_case_body_is_refused_and_the_list_is_ones_own(agencies):
    a, b = agencies["A"], agencies["B"]
    forged = b["cw"].post("/v1/cases", {**NEW_CASE, "organisation": a["id"]})
    assert forged.status_code == 422 and "organisation" in forged.json()["errors"]
    mine, theirs = registered(b["cw"]), registered(a["cw"])
    wait_until(lambda: mine["id"] in listed(b["sup"]), what="B's case in B's supervisor's list")
    wait_until(lambda: theirs["id"] in listed(a["sup"]), what="A's case in A's supervisor's list")
    assert theirs["id"] not in listed(b["sup"]) and mine["id"] not in listed(a["sup"])
    assert theirs["id"] not in listed(b["cw"])


# --- approvals: each organisation's policy, applied; queues and decisions inside it ---------------------

def test_each_organisation_has_its_own_approval_policy_and_it_is_applied(people, agencies):
    admin, a, b = people["admin"], agencies["A"], agencies["B"]
    never = {"case_plan": "never", "closure": "never"}
    always = {"case_plan": "always", "closure": "always"}
    assert admin.request("PUT", f"/v1/organisations/{a['id']}/approval-policy", never).json() == never
    assert admin.request("PUT", f"/v1/organisations/{b['id']}/approval-policy", always).json() == always
    assert admin.get(f"/v1/organisations/{a['id']}/approval-policy").json() == never
    assert a["cw"].get("/v1/approval-policy").json() == never
    assert b["sup"].get("/v1/approval-policy").json() == always
    # The first organisation's is the one PUT /v1/approval-policy sets, untouched by A's and B's.
    assert admin.get(f"/v1/organisations/{FIRST}/approval-policy").json() == admin.get("/v1/approval-policy").json()
    # A's plan is approved at once by A's policy; B's waits for B's supervisor.
    a_case, b_case = with_plan(a["cw"]), with_plan(b["cw"])
    assert a["cw"].post(f"/v1/cases/{a_case['id']}/plan/submit").status_code == 202
    assert b["cw"].post(f"/v1/cases/{b_case['id']}/plan/submit").status_code == 202
    wait_until(lambda: a["cw"].get(f"/v1/cases/{a_case['id']}").json()["plan"]["status"] == "approved",
               what="A's plan approved by A's policy")
    [request] = wait_until(lambda: queued(b["sup"], b_case), what="B's request in B's supervisor's queue")
    assert request["status"] == "pending"
    assert b["cw"].get(f"/v1/cases/{b_case['id']}").json()["plan"]["status"] == "submitted"
    # A's supervisor and auditor see nothing of it, and cannot decide it; B's supervisor can.
    assert queued(a["sup"], b_case) == [] and queued(a["cw"], b_case) == []
    assert all(item["case_id"] != b_case["id"] for item in a["sup"].every("/v1/approvals", {"status": "pending"}))
    refused = a["sup"].post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"})
    assert refused.status_code == 404, refused.text
    assert a["sup"].post(f"/v1/approvals/{request['id']}/decision",
                         {"decision": "reject", "comment": "forged"}).status_code == 404
    assert b["sup"].post(f"/v1/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 200
    wait_until(lambda: b["cw"].get(f"/v1/cases/{b_case['id']}").json()["plan"]["status"] == "approved",
               what="B's plan approved by B's supervisor")


def test_only_the_admin_reads_or_sets_an_organisations_policy_and_only_of_one_that_exists(people, agencies):
    admin, a = people["admin"], agencies["A"]
    policy = {"case_plan": "high_risk", "closure": "always"}
    for who in (a["sup"], a["cw"], a["aud"]):
        assert who.get(f"/v1/organisations/{a['id']}/approval-policy").status_code == 403
        assert who.request("PUT", f"/v1/organisations/{a['id']}/approval-policy", policy).status_code == 403
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        assert admin.get(f"/v1/organisations/{unknown}/approval-policy").status_code == 404
        assert admin.request("PUT", f"/v1/organisations/{unknown}/approval-policy", policy).status_code == 404
    bad = admin.request("PUT", f"/v1/organisations/{a['id']}/approval-policy", {"case_plan": "sometimes",
                                                                              "closure": "always"})
    assert bad.status_code == 422


# --- what was recorded before organisations is the first organisation's --------------------------------

def test_users_and_cases_recorded_before_organisations_are_the_first_ones(people, agencies, api, test_env):
    """A user and a case whose events name no organisation, written as an older gateway and cases
    service wrote them: the user logs in as the first organisation's, the case is the first
    organisation's (listed, readable, and sent on the bus as the first's), out of A's reach."""
    from services.cases.application import Cases
    from services.cases.domain import Case
    from services.gateway.application import Identity
    from services.gateway.domain import User

    identity = Identity(Settings.for_service("gateway"))
    username = unique("old")
    try:
        old = User(username=username, password_hash=identity.hasher.hash(PASSWORD), role="caseworker",
                   display_name="Old", supervisor=None, provider_id=None, email=None, request_fingerprint="",
                   by={"username": "admin", "role": "admin", "correlation_id": None})
        [created] = old.pending_events
        created.__dict__.pop("organisation")  # exactly as an event from before organisations
        identity.save(old)
    finally:
        identity.close()
    assert api.login(username, PASSWORD).get("/v1/users/me").json()["organisation"] == FIRST

    cases = Cases(CasesSettings.from_env())
    try:
        case = Case(id=uuid.uuid4(), case_number=cases.next_case_number(), survivor={"name": "Amina"},
                    risk_level="low", is_child=False, caregiver=None, intake_notes=None, assigned_to="cw1",
                    request_hash="", by={"username": "cw1", "role": "caseworker", "correlation_id": None})
        [registration] = case.pending_events
        registration.__dict__.pop("organisation")  # exactly as an event from before organisations
        cases.save(case)
    finally:
        cases.close()
    cid = str(case.id)
    wait_until(lambda: cid in listed(people["cw1"]), what="the old case in its caseworker's list")
    assert people["cw1"].get(f"/v1/cases/{cid}").status_code == 200
    assert people["aud1"].get(f"/v1/cases/{cid}/verify").json()["valid"] is True
    for who in ("cw", "sup", "aud"):
        assert agencies["A"][who].get(f"/v1/cases/{cid}").status_code == 404
    with database(test_env) as conn:
        row = conn.execute("SELECT organisation FROM cases.case_index WHERE case_id = %s", (case.id,)).fetchone()
        assert str(row[0]) == FIRST
        wait_until(lambda: conn.execute("SELECT organisation FROM approvals.case_state WHERE case_id = %s",
                                        (case.id,)).fetchone(), what="approvals told of the old case")
        assert str(conn.execute("SELECT organisation FROM approvals.case_state WHERE case_id = %s",
                                (case.id,)).fetchone()[0]) == FIRST


