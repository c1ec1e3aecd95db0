"""axe-core (WCAG 2.1 A and AA, and best practices) on every screen of every role, in English and in
Arabic (right to left): the screens are found by following the bar's links, and the case file and a
case's screens by opening a case from the list."""
import pytest
from playwright.sync_api import expect


def screens_reached(page) -> list[str]:
    """The hashes of the bar's links, in order."""
    return page.eval_on_selector_all("nav a[href^='#/']", "links => links.map(a => a.getAttribute('href'))")


def check_screen(page, axe_check, where: str, found: dict) -> None:
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    violations = axe_check(page)
    if violations:
        found[where] = violations


@pytest.fixture(scope="module")
def team(admin, new_user):
    """A supervisor, their caseworker with a case (so lists and the case file have content), a provider's
    focal point, an auditor and the admin."""
    supervisor = new_user("supervisor")
    caseworker = new_user("caseworker", supervisor=supervisor)
    admin.login(caseworker).ok("POST", "/v1/cases", {"survivor": {"name": "Axe Check", "location": "Block 3"},
                                                       "risk_level": "high", "is_child": False})
    provider = admin.ok("POST", "/v1/providers", {"name": "Axe Clinic", "service_types": ["medical"],
                                                  "area": "Kakuma", "contact": "axe@example.org"})
    focal_point = new_user("provider", provider_id=provider["id"])
    return {"caseworker": caseworker, "supervisor": supervisor, "provider": focal_point,
            "auditor": new_user("auditor")}


@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_screen_of_every_role_passes_axe(team, new_user, open_page, sign_in, axe_check, language):
    found: dict[str, list[str]] = {}
    page = open_page()
    for role, username in team.items():
        sign_in(page, username)
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        if language != "en":
            page.get_by_label("Language").select_option(language)
            expect(page.locator("html")).to_have_attribute("dir", "rtl")
        check_screen(page, axe_check, f"{role} home", found)
        for link in screens_reached(page):
            page.goto(page.url.split("#")[0] + link)
            check_screen(page, axe_check, f"{role} {link}", found)
            case_links = page.eval_on_selector_all("main a[href^='#/cases/']",
                                                   "links => links.map(a => a.getAttribute('href'))")
            for case_link in [c for c in case_links if c.count("/") == 2 and c != "#/cases/new"][:1]:
                page.goto(page.url.split("#")[0] + case_link)
                check_screen(page, axe_check, f"{role} case file", found)
        page.locator("#language").select_option("en")
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert not found, "\n".join(f"{where}: {v}" for where, violations in found.items() for v in violations)
    assert not page.problems, page.problems


def test_axe_finds_a_control_without_a_label(page, base, axe_check):
    """The check can fail: a field without a label, added to the sign-in screen, is reported."""
    page.goto(base + "/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.evaluate("() => document.querySelector('main form').append(document.createElement('input'))")
    assert any(v.startswith("label") for v in axe_check(page)), axe_check(page)
