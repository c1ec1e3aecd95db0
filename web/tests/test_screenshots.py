"""The main screens, photographed for README (docs/screenshots) when CASETRAIL_SCREENSHOTS names a folder;
into the test's own folder otherwise. Each screen must show its heading and no error in the page.

    CASETRAIL_SCREENSHOTS=docs/screenshots make test   # or BROWSER_PYTEST_ARGS="-k screenshots"
"""
import os
from pathlib import Path

import pytest
from conftest import eventually
from playwright.sync_api import expect

SIZE = {"width": 1200, "height": 760}


@pytest.fixture
def folder(tmp_path) -> Path:
    chosen = os.environ.get("CASETRAIL_SCREENSHOTS")
    path = Path(chosen).resolve() if chosen else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


def photograph(page, folder: Path, name: str, heading: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(folder / f"{name}.png"))
    assert (folder / f"{name}.png").stat().st_size > 10_000


def test_the_main_screens_render_and_are_photographed(admin, new_user, open_page, sign_in, base, folder):
    supervisor = new_user("supervisor")
    caseworker = new_user("caseworker", supervisor=supervisor)
    as_caseworker = admin.login(caseworker)
    for name, risk in (("Amina K.", "high"), ("Grace W.", "medium"), ("Fatuma A.", "low")):
        as_caseworker.ok("POST", "/v1/cases", {"survivor": {"name": name, "location": "Kakuma 3"}, "risk_level": risk,
                                                "is_child": False})
    page = open_page()
    page.set_viewport_size(SIZE)
    page.goto(base + "/")
    photograph(page, folder, "sign-in", "Sign in")
    sign_in(page, caseworker)
    photograph(page, folder, "my-cases", "My cases")
    page.get_by_role("link", name="GBV-", exact=False).first.click()
    photograph(page, folder, "case-file", "Case GBV-")
    page.get_by_role("link", name="Record consent").click()
    photograph(page, folder, "consent", "Record consent")
    page.locator("#language").select_option("ar")
    page.get_by_role("navigation").get_by_role("link").nth(1).click()
    photograph(page, folder, "register-arabic", "تسجيل حالة")
    page.locator("#language").select_option("en")
    assert not page.problems, page.problems


def a_case_in_implementation(caseworker, supervisor, name: str) -> dict:
    case = caseworker.ok("POST", "/v1/cases", {"survivor": {"name": name}, "risk_level": "high"})
    caseworker.ok("POST", f"/v1/cases/{case['id']}/consent", {"services": True, "share_with_providers": True,
                                                              "mandatory_reporting_explained": True,
                                                              "given_by": "survivor"})
    caseworker.ok("POST", f"/v1/cases/{case['id']}/assessment", {"needs": ["medical", "psychosocial"],
                                                                 "safety_concerns": "Lives near the perpetrator."})
    caseworker.ok("PUT", f"/v1/cases/{case['id']}/plan", {"goals": [
        {"need": "medical", "action": "Accompany to the clinic.", "responsible": "Caseworker",
         "due_date": "2030-06-01"},
        {"need": "psychosocial", "action": "Weekly counselling.", "responsible": "Counsellor",
         "due_date": "2030-07-01"}]})
    caseworker.ok("POST", f"/v1/cases/{case['id']}/plan/submit")
    return case




def test_the_other_roles_screens_are_photographed(admin, new_user, open_page, sign_in, base, folder):
    supervisor_name = new_user("supervisor")
    caseworker = admin.login(new_user("caseworker", supervisor=supervisor_name))
    supervisor = admin.login(supervisor_name)
    cases = [a_case_in_implementation(caseworker, supervisor, name) for name in ("Amina K.", "Grace W.")]
    eventually(lambda: len(supervisor.ok("GET", "/v1/approvals", params={"status": "pending"})["items"]) == 2)

    page = open_page()
    page.set_viewport_size(SIZE)
    sign_in(page, supervisor_name)
    page.get_by_role("navigation").get_by_role("link", name="Approvals").click()
    photograph(page, folder, "approvals", "Approvals")
    page.get_by_role("link", name="Decide").first.click()
    page.get_by_label("Comment").fill("The goals fit the needs.")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved: case")
    page.goto(base + f"/#/cases/{cases[0]['id']}")
    photograph(page, folder, "case-file-supervisor", "Case GBV-")

    provider = admin.ok("POST", "/v1/providers", {"name": "Hope Clinic", "service_types": ["medical"],
                                                  "area": "Kakuma", "contact": "+254 700 000 000"})
    focal_point = new_user("provider", provider_id=provider["id"])
    eventually(lambda: caseworker.ok("GET", f"/v1/cases/{cases[0]['id']}")["stage"] == "implementation")
    eventually(lambda: caseworker.post(f"/v1/cases/{cases[0]['id']}/referrals", {
        "provider_id": provider["id"], "service_type": "medical", "urgency": "urgent",
        "notes": "Needs care this week."}).status_code == 201)
    provider_page = open_page()
    provider_page.set_viewport_size(SIZE)
    sign_in(provider_page, focal_point)
    photograph(provider_page, folder, "provider-referrals", "Incoming referrals")

    auditor_page = open_page()
    auditor_page.set_viewport_size(SIZE)
    sign_in(auditor_page, new_user("auditor"))
    expect(auditor_page.get_by_role("heading", level=1)).to_have_text("Find a case")
    auditor_page.goto(base + f"/#/audit/{cases[0]['id']}")
    photograph(auditor_page, folder, "audit-history", "Audit of case")

    admin_page = open_page()
    admin_page.set_viewport_size(SIZE)
    sign_in(admin_page, "admin", os.environ["CASETRAIL_ADMIN_PASSWORD"])
    photograph(admin_page, folder, "admin-users", "Users")
    for each in (page, provider_page, auditor_page, admin_page):
        assert not each.problems, each.problems
