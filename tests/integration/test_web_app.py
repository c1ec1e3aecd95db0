"""The web app in a real browser (issue 21): headless Chromium from Debian's packages (scripts/stack.sh
installs it), driven by Playwright, against the running test system. A caseworker signs in, switches to
Arabic (right to left), registers a case, finds it in the list and opens its file; nothing is refused by
the Content-Security-Policy or fails in the page."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.support import PASSWORD, new_user

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), "run `make install` (scripts/stack.sh installs Debian's chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.problems = []
    page.on("console", lambda message: page.problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    yield page
    context.close()


def sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_the_gateway_serves_the_shell_and_its_files_without_touching_the_api(api):
    shell = api.get("/")
    assert shell.status_code == 200 and shell.headers["Content-Type"].startswith("text/html")
    assert shell.headers["Cache-Control"] == "no-cache" and "script-src 'self'" in shell.headers["Content-Security-Policy"]
    assert api.get("/", headers={"If-None-Match": shell.headers["ETag"]}).status_code == 304
    script = api.get("/app/main.js")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert api.get("/app/sw.js").headers["Service-Worker-Allowed"] == "/"
    for missing in ("/app/nope.js", "/app/../pyproject.toml", "/app/%2e%2e/pyproject.toml", "/app/"):
        answer = api.get(missing)
        assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/problem+json", missing
        assert answer.json()["code"] == "not_found" and answer.headers["Cache-Control"] == "no-store"
    assert api.get("/v1/openapi.json").headers["Cache-Control"] == "no-store"


def test_a_caseworker_signs_in_switches_to_arabic_registers_a_case_and_finds_it(api, people, page):
    caseworker = new_user(people["admin"], "caseworker", supervisor="sup1")
    sign_in(page, api.base, caseworker)
    expect(page.get_by_role("heading", level=1)).to_have_text("My cases")
    expect(page.get_by_text("No case matches.")).to_be_visible()

    page.get_by_label("Language").select_option("ar")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_have_text("حالاتي")

    page.get_by_role("link", name="تسجيل حالة").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("تسجيل حالة")
    page.get_by_label("الاسم", exact=True).fill("Amina Test")
    page.get_by_label("مستوى الخطر", exact=True).select_option("high")
    page.get_by_label("الموقع", exact=True).press("Enter")  # the keyboard submits the form
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^الحالة GBV-\d{4}-\d{6}$"))
    case_number = heading.inner_text().split(" ")[1]
    case_id = page.url.rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f-]{36}", case_id)
    expect(page.get_by_text("Amina Test")).to_be_visible()
    expect(page.locator("section").first).to_contain_text("مرتفع")

    page.get_by_role("navigation").get_by_role("link", name="حالاتي").click()
    listed = page.get_by_role("link", name=case_number)
    expect(listed).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(case_number))).to_contain_text("مرتفع")
    listed.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"الحالة {case_number}")

    page.get_by_role("button", name="تسجيل الخروج").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("تسجيل الدخول")
    assert not page.problems, page.problems
