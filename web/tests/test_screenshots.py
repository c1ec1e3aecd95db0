"""The main screens, photographed for README (docs/screenshots) when CASETRAIL_SCREENSHOTS names a folder;
into the test's own folder otherwise. Each screen must show its heading and no error in the page.

    CASETRAIL_SCREENSHOTS=docs/screenshots make test   # or BROWSER_PYTEST_ARGS="-k screenshots"
"""
import os
from pathlib import Path

import pytest
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
    photograph(page, folder, "case-file", "Case")
    page.get_by_label("Language").select_option("ar")
    page.get_by_role("navigation").get_by_role("link").nth(1).click()
    photograph(page, folder, "register-arabic", "تسجيل حالة")
    assert not page.problems, page.problems
