"""The other roles in the browser: a supervisor decides plans from the approvals queue, reassigns a case
and erases one; a provider answers referrals; an auditor reads a case's history, verifies it and downloads
its export; an admin creates an organisation, sets its approval policy, adds a provider and a user. The
cases are built through the API by their caseworker, as the app's other actors would."""
import json
import os
import re
import uuid

from conftest import eventually
from playwright.sync_api import expect

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "psychosocial", "action": "counselling", "responsible": "the caseworker",
                   "due_date": "2030-12-15"}]}




def new_case(caseworker, name: str = "Survivor Test") -> dict:
    case = caseworker.ok("POST", "/v1/cases", {"survivor": {"name": name}, "risk_level": "medium"})
    caseworker.ok("POST", f"/v1/cases/{case['id']}/consent", CONSENT)
    return case


def submitted_plan(caseworker, supervisor) -> dict:
    """A case whose plan waits in the supervisor's queue."""
    case = new_case(caseworker)
    caseworker.ok("POST", f"/v1/cases/{case['id']}/assessment", {"needs": ["psychosocial"], "safety_concerns": "x"})
    caseworker.ok("PUT", f"/v1/cases/{case['id']}/plan", PLAN)
    caseworker.ok("POST", f"/v1/cases/{case['id']}/plan/submit")
    eventually(lambda: [r for r in supervisor.ok("GET", "/v1/approvals", params={"status": "pending"})["items"]
                      if r["case_id"] == case["id"]], "the plan in the supervisor's queue")
    return case


def referral(caseworker, case: dict, provider: dict) -> dict:
    """Consent reaches the referrals service as an event: the same Idempotency-Key until it is accepted."""
    key = str(uuid.uuid4())

    def made():
        answer = caseworker.post(f"/v1/cases/{case['id']}/referrals", {"provider_id": provider["id"],
                                 "service_type": "medical", "notes": "Needs care this week."},
                                 headers={"Idempotency-Key": key})
        return answer.status_code == 201 and answer.json()
    return eventually(made, "the referral made")


def heading(page):
    return page.get_by_role("heading", level=1)


def test_a_supervisor_approves_and_rejects_plans_reassigns_a_case_and_erases_one(admin, new_user, page, sign_in):
    supervisor = new_user("supervisor")
    caseworker, colleague = new_user("caseworker", supervisor=supervisor), new_user("caseworker", supervisor=supervisor)
    worker, boss = admin.login(caseworker), admin.login(supervisor)
    approved, rejected = submitted_plan(worker, boss), submitted_plan(worker, boss)
    moved, erased = new_case(worker), new_case(worker, "Forget Me")
    gone = new_user("caseworker", supervisor=supervisor)  # deactivated: never offered
    admin.ok("POST", f"/v1/users/{gone}/deactivate")
    new_user("caseworker", supervisor=new_user("supervisor"))  # another team's: never offered

    sign_in(page, supervisor)
    expect(heading(page)).to_have_text("My team's cases")
    page.get_by_role("navigation").get_by_role("link", name="Approvals").click()
    expect(heading(page)).to_have_text("Approvals")
    page.get_by_role("row", name=re.compile(approved["case_number"])).get_by_role("link", name="Decide").click()
    expect(heading(page)).to_have_text(f"Case action plan of case {approved['case_number']}")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text(f"Approved: case {approved['case_number']}")

    page.get_by_role("row", name=re.compile(rejected["case_number"])).get_by_role("link", name="Decide").click()
    page.get_by_role("button", name="Reject").click()  # no comment: refused before it is sent
    expect(page.get_by_role("alert")).to_have_text("A rejection needs a comment.")
    expect(page.get_by_label("Comment")).to_be_focused()
    page.get_by_label("Comment").fill("Add a safety goal first.")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text(f"Rejected: case {rejected['case_number']}")
    assert not page.get_by_role("row", name=re.compile(rejected["case_number"])).count()

    page.get_by_label("Status").select_option("rejected")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("row", name=re.compile(rejected["case_number"]))).to_contain_text("Add a safety goal")
    assert worker.ok("GET", f"/v1/cases/{approved['id']}")["plan"]["status"] == "approved"

    page.goto(page.url.split("#")[0] + f"#/cases/{moved['id']}")
    expect(heading(page)).to_have_text(f"Case {moved['case_number']}")
    choice = page.get_by_label("Caseworker", exact=True)
    # The team as GET /v1/team gives it, the case's own caseworker aside: nothing to type.
    expect(choice.locator("option")).to_have_text(["Choose a caseworker", f"Caseworker {colleague[-4:]} ({colleague})"])
    page.get_by_role("button", name="Reassign the case").click()  # nobody chosen: the browser asks first
    assert boss.ok("GET", f"/v1/cases/{moved['id']}")["assigned_to"] == caseworker
    choice.select_option(colleague)
    page.get_by_role("button", name="Reassign the case").click()
    expect(page.locator("section").first).to_contain_text(colleague)
    assert boss.ok("GET", f"/v1/cases/{moved['id']}")["assigned_to"] == colleague

    page.goto(page.url.split("#")[0] + f"#/cases/{erased['id']}")
    expect(heading(page)).to_have_text(f"Case {erased['case_number']}")
    expect(page.get_by_text("Forget Me")).to_be_visible()
    page.get_by_label("Reason for erasure").fill("The survivor asked to be forgotten.")
    page.get_by_role("button", name="Erase the survivor's data…").click()
    confirm = page.get_by_label(f"Type the case number {erased['case_number']} to confirm")
    expect(confirm).to_be_focused()
    expect(page.get_by_text(f"Erasing case {erased['case_number']} cannot be undone.")).to_be_visible()
    confirm.fill("GBV-0000-000000")
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_role("alert")).to_have_text("The case number typed is not this case's.")
    confirm.fill(erased["case_number"])
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_role("heading", name="Erased")).to_be_visible()
    expect(page.get_by_text("Forget Me")).to_have_count(0)
    assert boss.ok("GET", f"/v1/cases/{erased['id']}")["survivor"]["name"] == "[erased]"
    assert not page.problems, page.problems


def test_a_provider_accepts_declines_and_completes_referrals(admin, new_user, page, sign_in):
    provider = admin.ok("POST", "/v1/providers", {"name": f"Clinic {uuid.uuid4().hex[:6]}",
                                                   "service_types": ["medical"], "area": "North", "contact": "555"})
    focal_point = new_user("provider", provider_id=provider["id"])
    worker = admin.login(new_user("caseworker", supervisor=new_user("supervisor")))
    cases = [new_case(worker) for _ in range(3)]
    for case in cases:
        referral(worker, case, provider)
    completed, declined, waiting = cases

    sign_in(page, focal_point)
    expect(heading(page)).to_have_text("Incoming referrals")
    for case in cases:
        expect(page.get_by_role("row", name=re.compile(case["case_number"]))).to_contain_text("Waiting for an answer")

    page.get_by_role("link", name=completed["case_number"]).click()
    expect(heading(page)).to_have_text(f"Referral of case {completed['case_number']}")
    expect(page.get_by_text("Needs care this week.")).to_be_visible()
    page.get_by_role("button", name="Accept the referral").click()
    expect(page.get_by_role("status")).to_contain_text(f"Accepted: the referral of case {completed['case_number']}")
    expect(page.get_by_role("row", name=re.compile(completed["case_number"]))).to_contain_text("Accepted")

    page.get_by_role("link", name=declined["case_number"]).click()
    page.get_by_label("Reason").fill("No capacity this month.")
    page.get_by_role("button", name="Decline the referral").click()
    expect(page.get_by_role("row", name=re.compile(declined["case_number"]))).to_contain_text("Declined")

    page.get_by_role("link", name=completed["case_number"]).click()
    page.get_by_label("Outcome").fill("Treated; follow-up booked.")
    page.get_by_role("button", name="Complete the referral").click()
    expect(page.get_by_role("row", name=re.compile(completed["case_number"]))).to_contain_text("Completed")
    expect(page.get_by_role("row", name=re.compile(waiting["case_number"]))).to_contain_text("Waiting for an answer")
    statuses = {r["case_number"]: r["status"] for r in admin.login(focal_point).ok("GET", "/v1/referrals")["items"]}
    assert statuses == {completed["case_number"]: "completed", declined["case_number"]: "declined",
                        waiting["case_number"]: "requested"}
    assert not page.problems, page.problems


def test_an_auditor_reads_a_cases_history_verifies_it_and_downloads_its_export(admin, new_user, page, sign_in):
    caseworker = new_user("caseworker", supervisor=new_user("supervisor"))
    case = new_case(admin.login(caseworker), "<img src=x onerror=alert(1)>")  # shown as text, never markup
    auditor = new_user("auditor")

    elsewhere = admin.ok("POST", "/v1/organisations", {"name": f"Elsewhere {uuid.uuid4().hex[:6]}"})["id"]
    outsider = new_user("caseworker", supervisor=new_user("supervisor", organisation=elsewhere),
                        organisation=elsewhere)
    theirs = new_case(admin.login(outsider))  # another organisation's case: never found

    sign_in(page, auditor)
    expect(heading(page)).to_have_text("Find a case")
    wanted = page.get_by_label("Case number or id")
    for number in (theirs["case_number"], "GBV-1999-999999"):
        wanted.fill(number)
        page.get_by_role("button", name="Open the case's audit").click()
        expect(page.get_by_role("alert")).to_have_text(f"No case of your organisation has the number {number}.")
    wanted.fill(case["case_number"].lower())  # typed in small letters: found all the same
    wanted.press("Enter")
    expect(heading(page)).to_have_text(f"Audit of case {case['case_number']}")
    assert page.url.endswith(f"#/audit/{case['id']}")
    history = page.get_by_role("table")
    expect(history.get_by_role("row", name=re.compile(r"^1 Case registered CaseRegistered"))).to_contain_text(
        f"{caseworker} (caseworker)")
    expect(history).to_contain_text("Consent recorded")
    assert page.locator("img").count() == 0

    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_text(re.compile(r"The chain holds: \d+ events verified."))).to_be_visible()

    page.get_by_role("button", name="Prepare the export").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the export (JSON)").click()
    assert download.value.suggested_filename == f"casetrail-{case['case_number']}.json"
    bundle = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert bundle["signature"]["algorithm"] == "Ed25519"
    assert "<img" not in json.dumps(bundle)  # an auditor's export is redacted

    page.get_by_role("link", name="Find a case").first.click()  # by its id, as before
    page.get_by_label("Case number or id").fill(case["id"])
    page.get_by_label("Case number or id").press("Enter")
    expect(heading(page)).to_have_text(f"Audit of case {case['case_number']}")
    assert not page.problems, page.problems


def test_an_admin_creates_an_organisation_sets_its_policy_adds_a_provider_and_a_user(admin, page, sign_in):
    sign_in(page, os.environ.get("CASETRAIL_ADMIN_USERNAME", "admin"), os.environ["CASETRAIL_ADMIN_PASSWORD"])
    expect(heading(page)).to_have_text("Users")

    agency = f"Agency {uuid.uuid4().hex[:6]}"
    page.get_by_role("navigation").get_by_role("link", name="Organisations").click()
    page.get_by_label("Organisation's name").fill(agency)
    page.get_by_role("button", name="Create the organisation").click()
    expect(page.get_by_role("status")).to_have_text(f"Organisation {agency} created.")
    page.get_by_role("link", name=f"Approval policy of {agency}").click()
    expect(page.get_by_role("heading", name=f"Approval policy of {agency}")).to_be_visible()
    plan_rule = page.get_by_role("group", name="A case action plan needs a supervisor's approval")
    expect(plan_rule.get_by_label("Always")).to_be_checked()
    plan_rule.get_by_label("Only for high-risk cases").check()
    page.get_by_role("group", name="A case closure needs a supervisor's approval").get_by_label("Never").check()
    page.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_role("status")).to_have_text(f"The approval policy of {agency} is saved.")
    [organisation] = [o for o in admin.ok("GET", "/v1/organisations", params={"limit": 200})["items"]
                      if o["name"] == agency]
    assert admin.ok("GET", f"/v1/organisations/{organisation['id']}/approval-policy") == {
        "case_plan": "high_risk", "closure": "never"}

    clinic = f"Clinic {uuid.uuid4().hex[:6]}"
    page.get_by_role("navigation").get_by_role("link", name="Providers").click()
    page.get_by_label("Provider's name").fill(clinic)
    page.get_by_role("group", name="Services").get_by_label("Medical").check()
    page.get_by_role("group", name="Services").get_by_label("Psychosocial").check()
    page.get_by_label("Area").fill("North district")
    page.get_by_label("Contact").fill("+000 555 0199")
    page.get_by_role("button", name="Add the provider").click()
    expect(page.get_by_role("row", name=re.compile(clinic))).to_contain_text("Medical, Psychosocial")

    username = f"sup-{uuid.uuid4().hex[:8]}"
    page.get_by_role("navigation").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="New user").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Display name").fill("Team Lead")
    page.get_by_label("Password").fill("short")
    page.get_by_label("Role").select_option("supervisor")
    page.get_by_label("Organisation").select_option(label=agency)
    page.get_by_label("Password").fill("a-long-enough-password")
    page.get_by_role("button", name="Create the user").click()
    expect(page.get_by_role("status")).to_have_text(f"User {username} created.")
    created = admin.ok("GET", f"/v1/users/{username}")
    assert created["role"] == "supervisor" and created["organisation"] == organisation["id"]

    page.goto(page.url.split("#")[0] + f"#/admin/users/{username}")
    expect(heading(page)).to_have_text(f"User {username}")
    page.get_by_role("button", name="Give a temporary password").click()
    expect(page.get_by_role("status")).to_contain_text("Temporary password: ")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("button", name="Reactivate")).to_be_visible()
    assert admin.ok("GET", f"/v1/users/{username}")["active"] is False
    assert not page.problems, page.problems
