"""axe-core (WCAG 2.1 A and AA, and best practices) on every screen of every role, in English and in
Arabic (right to left). The screens are found by walking: from each role's home, every link of the bar
and every link of the app inside a screen is followed, once per kind of screen (addresses that differ only
by an id are one kind), so a screen added later is checked without being named here. The offline screens
(queue, conflict, logout with changes waiting) are checked in test_offline.py, where they are reached."""
import os
import re

import pytest
from conftest import eventually
from playwright.sync_api import expect

CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "Clinic visit.", "responsible": "Caseworker",
                   "due_date": "2030-06-01"}]}
MOST_SCREENS = 40  # per role and language: the walk stops there, whatever the app grows to


def kind_of(link: str) -> str:
    """#/cases/3f6c…/consent and #/cases/81a2…/consent are one kind of screen; each case file is its own
    (cases at different stages offer different steps)."""
    if re.fullmatch(r"#/cases/[0-9a-f-]{36}", link):
        return link
    link = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", ":id", link.split("?")[0])
    return re.sub(r"^#/admin/users/(?!new$)[^/]+$", "#/admin/users/:name", link)


def app_links(page) -> list[str]:
    return page.eval_on_selector_all("a[href^='#/']", "links => links.map(a => a.getAttribute('href'))")


def walk(page, axe_check, role: str, start: list[str]) -> tuple[dict[str, list[str]], set[str]]:
    """Every kind of screen reachable from `start`: its axe violations, and the kinds seen."""
    origin = page.url.split("#")[0]
    found, seen, todo = {}, set(), list(start)
    while todo and len(seen) < MOST_SCREENS:
        link = todo.pop(0)
        if kind_of(link) in seen or link in ("#/login", "#/logout", "#main"):
            continue
        seen.add(kind_of(link))
        page.goto(origin + link)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        expect(page.locator("[aria-busy=true]")).to_have_count(0)
        if violations := axe_check(page):
            found[f"{role} {link}"] = violations
        todo += [found_link for found_link in app_links(page) if kind_of(found_link) not in seen]
    return found, seen




@pytest.fixture(scope="module")
def team(admin, new_user):
    """People whose screens have something on them: a supervisor with a plan to decide, their caseworker with
    a case at each stage of interest, a provider with a referral, an auditor (who starts at a case), the admin."""
    supervisor = new_user("supervisor")
    caseworker = new_user("caseworker", supervisor=supervisor)
    worker, boss = admin.login(caseworker), admin.login(supervisor)
    provider = admin.ok("POST", "/v1/providers", {"name": "Axe Clinic", "service_types": ["medical"],
                                                  "area": "Kakuma", "contact": "axe@example.org"})
    cases = []
    for name in ("Axe Referred", "Axe Submitted"):
        case = worker.ok("POST", "/v1/cases", {"survivor": {"name": name}, "risk_level": "high"})
        worker.ok("POST", f"/v1/cases/{case['id']}/consent", CONSENT)
        worker.ok("POST", f"/v1/cases/{case['id']}/assessment", {"needs": ["medical"], "safety_concerns": "x"})
        worker.ok("PUT", f"/v1/cases/{case['id']}/plan", PLAN)
        worker.ok("POST", f"/v1/cases/{case['id']}/plan/submit")
        cases.append(case)
    referred = cases[0]
    request = eventually(lambda: [r for r in boss.ok("GET", "/v1/approvals", params={"status": "pending"})["items"]
                                  if r["case_id"] == referred["id"]])[0]
    boss.ok("POST", f"/v1/approvals/{request['id']}/decision", {"decision": "approve", "comment": "Fine."})
    eventually(lambda: worker.post(f"/v1/cases/{referred['id']}/referrals", {
        "provider_id": provider["id"], "service_type": "medical"}).status_code == 201)
    worker.ok("POST", "/v1/cases", {"survivor": {"name": "Axe Engaged"}, "risk_level": "low"})
    return {"caseworker": (caseworker, []), "supervisor": (supervisor, []),
            "provider": (new_user("provider", provider_id=provider["id"]), []),
            "auditor": (new_user("auditor"), [f"#/audit/{referred['id']}"]), "admin": ("admin", [])}


# What each role's walk must at least reach (so a walk that stops early fails instead of checking less).
REACHED = {"caseworker": {"#/cases", "#/cases/new", "#/cases/:id/consent", "#/cases/:id/follow-up",
                          "#/cases/:id/referral", "#/notifications", "#/queue"},
           "supervisor": {"#/approvals", "#/approvals/:id", "#/cases/:id/closure"},
           "provider": {"#/referrals", "#/referrals/:id"},
           "auditor": {"#/audit", "#/audit/:id"},
           "admin": {"#/admin/users", "#/admin/users/new", "#/admin/users/:name", "#/admin/policy"}}


@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_screen_of_every_role_passes_axe(team, open_page, sign_in, axe_check, language):
    found: dict[str, list[str]] = {}
    page = open_page()
    for role, (username, also) in team.items():
        sign_in(page, username, *([os.environ["CASETRAIL_ADMIN_PASSWORD"]] if role == "admin" else []))
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).not_to_have_text("Sign in")
        if language != "en":
            page.locator("#language").select_option(language)
            expect(page.locator("html")).to_have_attribute("dir", "rtl")
        home = "#" + page.url.split("#", 1)[1]
        violations, seen = walk(page, axe_check, role, [home, *also, *app_links(page)])
        found.update(violations)
        assert REACHED[role] <= seen, (role, sorted(REACHED[role] - seen), sorted(seen))
        page.locator("#language").select_option("en")
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        page.wait_for_load_state("networkidle")  # the screen drawn again in English has its answers
        expect(page.locator("[aria-busy=true]")).to_have_count(0)
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert not found, "\n".join(f"{where}: {v}" for where, violations in found.items() for v in violations)
    assert not page.problems, (page.problems, page.refused)


def test_axe_finds_a_control_without_a_label(page, base, axe_check):
    """The check can fail: a field without a label, added to the sign-in screen, is reported."""
    page.goto(base + "/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.evaluate("() => document.querySelector('main form').append(document.createElement('input'))")
    assert any(v.startswith("label") for v in axe_check(page)), axe_check(page)
