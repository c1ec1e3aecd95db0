"""Two things the web app needs and the API did not give (issue 21): an auditor finds a case by its case
number (GET /v1/cases?case_number=), and a supervisor lists the caseworkers they may reassign a case
to (GET /v1/team). All through the gateway, on the real system, with two organisations."""

import pytest

from tests.support import PASSWORD, new_member, new_organisation, wait_until

NEW_CASE = {"survivor": {"name": "Halima", "phone": "+000 555 0199", "location": "Camp 4"}, "risk_level": "high"}



@pytest.fixture(scope="module")
def agencies(people, api):
    """Two organisations, A and B. A: sup (cw, cw2, and a sub-supervisor sub with their own cw3), a
    deactivated caseworker of sup's, another supervisor (other) with cw4; and an auditor. B: the same
    kind of team and an auditor."""
    admin = people["admin"]
    found = {}
    for agency in ("A", "B"):
        organisation = new_organisation(admin, f"Agency {agency}")
        sup = new_member(admin, "supervisor", organisation)
        names = {"sup": sup, "cw": new_member(admin, "caseworker", organisation, sup, "Amal Yusuf"),
                 "cw2": new_member(admin, "caseworker", organisation, sup, "Brice Ndayi"),
                 "gone": new_member(admin, "caseworker", organisation, sup),
                 "sub": new_member(admin, "supervisor", organisation, sup),
                 "other": new_member(admin, "supervisor", organisation),
                 "aud": new_member(admin, "auditor", organisation)}
        names["cw3"] = new_member(admin, "caseworker", organisation, names["sub"])
        names["cw4"] = new_member(admin, "caseworker", organisation, names["other"])
        deactivated = admin.post(f"/v1/users/{names['gone']}/deactivate")
        assert deactivated.status_code == 200, deactivated.text
        found[agency] = {"id": organisation, "names": names,
                         **{who: api.login(name, PASSWORD) for who, name in names.items() if who != "gone"}}
    return found


def registered(api) -> dict:
    response = api.post("/v1/cases", NEW_CASE)
    assert response.status_code == 201, response.text
    return response.json()


def found_by_number(api, case_number: str):
    return api.get("/v1/cases", params={"case_number": case_number})


# --- an auditor finds a case by its number ----------------------------------------------------------------

def test_an_auditor_finds_a_case_of_their_organisation_by_its_number_as_the_list_gives_it(agencies):
    a = agencies["A"]
    case = registered(a["cw"])
    wait_until(lambda: found_by_number(a["sup"], case["case_number"]).json()["items"], what="the case listed")
    listed = found_by_number(a["sup"], case["case_number"]).json()
    found = found_by_number(a["aud"], case["case_number"])
    assert found.status_code == 200, found.text
    assert found.json() == listed  # the item as the list gives it, nothing more
    [item] = found.json()["items"]
    assert item["id"] == case["id"] and item["case_number"] == case["case_number"]
    # Nothing identifying a survivor is in a listed item: no survivor, notes or free text at all.
    assert set(item) == {"id", "case_number", "stage", "risk_level", "assigned_to", "is_child", "version",
                         "follow_up", "created_at", "updated_at"}
    for value in ("Halima", "555 0199", "Camp 4"):
        assert value not in found.text
    # With the id it found, the auditor reads the case as before: redacted.
    assert a["aud"].get(f"/v1/cases/{item['id']}").json()["survivor"]["name"] == "[redacted]"


def test_another_organisations_number_and_an_unknown_one_give_the_auditor_the_same_empty_answer(agencies):
    a, b = agencies["A"], agencies["B"]
    theirs = registered(b["cw"])
    wait_until(lambda: found_by_number(b["aud"], theirs["case_number"]).json()["items"], what="B's case found")
    across = found_by_number(a["aud"], theirs["case_number"])
    unknown = found_by_number(a["aud"], "GBV-1999-999999")
    assert across.status_code == unknown.status_code == 200
    assert across.json() == unknown.json() == {"items": [], "next_cursor": None}


def test_an_auditor_lists_no_cases_without_a_case_number(agencies):
    auditor = agencies["A"]["aud"]
    for params in ({}, {"stage": "intake"}, {"assigned_to": agencies["A"]["names"]["cw"]}, {"limit": "200"},
                   {"overdue": "true"}):
        refused = auditor.get("/v1/cases", params=params)
        assert refused.status_code == 403, (params, refused.text)
        assert refused.json()["code"] == "forbidden" and "case_number" in refused.json()["detail"]
    bad = auditor.get("/v1/cases", params={"case_number": ""})
    assert bad.status_code == 422 and "case_number" in bad.json()["errors"]


def test_the_other_roles_find_by_number_as_before(agencies, pathway, people):
    a = agencies["A"]
    case = registered(a["cw"])
    wait_until(lambda: found_by_number(a["cw"], case["case_number"]).json()["items"], what="the case listed")
    # Its caseworker and their supervisor find it; a caseworker outside its scope finds nothing.
    assert [item["id"] for item in found_by_number(a["sup"], case["case_number"]).json()["items"]] == [case["id"]]
    assert found_by_number(a["cw2"], case["case_number"]).json()["items"] == []
    assert found_by_number(a["other"], case["case_number"]).json()["items"] == []
    # A provider and the admin list no cases, by number or not.
    for refused in (pathway["clinic1"], people["admin"]):
        for params in ({}, {"case_number": case["case_number"]}):
            assert refused.get("/v1/cases", params=params).status_code == 403


# --- a supervisor lists their team ------------------------------------------------------------------------

def team(api, **params) -> list[dict]:
    response = api.get("/v1/team", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_supervisor_lists_exactly_the_active_members_they_may_reassign_a_case_to(agencies):
    a = agencies["A"]
    names = a["names"]
    expected = sorted([{"username": names["cw"], "display_name": "Amal Yusuf"},
                       {"username": names["cw2"], "display_name": "Brice Ndayi"},
                       {"username": names["sub"], "display_name": names["sub"]}], key=lambda item: item["username"])
    assert team(a["sup"]) == expected  # not the deactivated one, not sub's cw3, not another team's or agency's
    assert team(a["sub"]) == [{"username": names["cw3"], "display_name": names["cw3"]}]
    assert team(a["other"]) == [{"username": names["cw4"], "display_name": names["cw4"]}]
    # Each one listed is whom a reassignment may name; the others are refused.
    case = registered(a["cw"])
    for username in sorted((item["username"] for item in expected), key=lambda name: name == names["cw"]):
        moved = a["sup"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": username})
        assert moved.status_code == 200 and moved.json()["assigned_to"] == username, moved.text
    for outsider in (names["cw3"], names["cw4"], agencies["B"]["names"]["cw"]):
        assert a["sup"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": outsider}).status_code == 409


def test_the_team_is_paged_like_every_list(agencies):
    sup = agencies["A"]["sup"]
    whole = team(sup)
    first = sup.get("/v1/team", params={"limit": "2"}).json()
    assert first["items"] == whole[:2] and first["next_cursor"]
    rest = sup.get("/v1/team", params={"limit": "2", "cursor": first["next_cursor"]}).json()
    assert rest == {"items": whole[2:], "next_cursor": None}
    for params, field in (({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"), ({"cursor": "forged"}, "cursor"),
                          ({"supervisor": "someone"}, "supervisor")):
        refused = sup.get("/v1/team", params=params)
        assert refused.status_code == 422 and field in refused.json()["errors"], (params, refused.text)


def test_only_a_supervisor_lists_a_team(agencies, pathway, people):
    a = agencies["A"]
    for who in (a["cw"], a["aud"], pathway["clinic1"], people["admin"]):
        refused = who.get("/v1/team")
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden", refused.text
    assert a["cw"].get("/v1/team", params={"cursor": "forged"}).status_code == 403  # refused before it is read


def test_a_case_is_never_reassigned_to_a_deactivated_caseworker(agencies):
    """The deactivated caseworker is still in the supervisor's team (their old cases stay readable), but
    cannot sign in: a case handed to them would be held by nobody. Refused, and the case unchanged."""
    a = agencies["A"]
    case = registered(a["cw"])
    refused = a["sup"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": a["names"]["gone"]},
                            headers={"If-Match": f'"{case["version"]}"'})
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition", refused.text
    assert "deactivated" in refused.json()["detail"]
    after = a["sup"].get(f"/v1/cases/{case['id']}").json()
    assert after["assigned_to"] == a["names"]["cw"] and after["version"] == case["version"]
    moved = a["sup"].post(f"/v1/cases/{case['id']}/reassign", {"caseworker": a["names"]["cw2"]})
    assert moved.status_code == 200, moved.text
