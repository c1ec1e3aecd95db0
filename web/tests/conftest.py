"""The web app in a real browser: headless Chromium from Debian's packages (`scripts/stack.sh install`)
driven by Playwright's sync API, against a running Casetrail.

These tests run in a pytest process of their own, outside eventlet: the main suite's process is
monkey-patched by eventlet for nameko, and Playwright's own event loop deadlocks with it at teardown.
`tests/integration/test_web_app.py` starts this process against the suite's system; against `make up`:

    CASETRAIL_APP_URL=http://127.0.0.1:8000 CASETRAIL_ADMIN_PASSWORD=... \
      .venv/bin/python -m pytest web/tests -p no:pytest_nameko -o addopts=
"""
import os
import time
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "tools" / "browser-tests" / "node_modules" / "axe-core" / "axe.min.js"
# The accessibility rules checked on every screen: WCAG 2.1 A and AA, and axe's best practices.
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
PASSWORD = "a-long-enough-password"


class Api:
    """The public API as a test's other actors use it (a supervisor deciding, an admin creating users)."""

    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token

    def request(self, method: str, path: str, body=None, params=None, headers=None) -> requests.Response:
        headers = {**(headers or {}), **({"Authorization": f"Bearer {self.token}"} if self.token else {})}
        return requests.request(method, self.base + path, json=body, params=params, headers=headers, timeout=15)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> requests.Response:
        return self.request("POST", path, body, **kw)

    def ok(self, method: str, path: str, body=None, **kw) -> dict:
        response = self.request(method, path, body, **kw)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def login(self, username: str, password: str = PASSWORD) -> "Api":
        return Api(self.base, self.ok("POST", "/v1/auth/token", {"username": username, "password": password})
                   ["access_token"])


def eventually(check, what: str = "the condition", seconds: float = 20.0):
    """What `check()` returns once it is truthy: the services talk over the bus, so what one does shows in
    another a moment later."""
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.25)
    return found


@pytest.fixture(scope="session")
def base() -> str:
    url = os.environ.get("CASETRAIL_APP_URL")
    assert url, "CASETRAIL_APP_URL names the running gateway (tests/integration/test_web_app.py sets it)"
    return url.rstrip("/")


@pytest.fixture(scope="session")
def admin(base) -> Api:
    return Api(base).login(os.environ.get("CASETRAIL_ADMIN_USERNAME", "admin"), os.environ["CASETRAIL_ADMIN_PASSWORD"])


@pytest.fixture(scope="session")
def new_user(admin):
    """A user of that role with a fresh name (and PASSWORD): returns the username."""
    def create(role: str, supervisor: str | None = None, **fields) -> str:
        username = f"{role[:3]}-{uuid.uuid4().hex[:8]}"
        admin.ok("POST", "/v1/users", {"username": username, "password": PASSWORD, "role": role,
                                       "display_name": f"{role.title()} {username[-4:]}", "supervisor": supervisor,
                                       **fields})
        return username
    return create


@pytest.fixture(scope="session")
def browser():
    assert CHROMIUM.exists(), "run `make install` (scripts/stack.sh installs Debian's chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """Pages in contexts of their own (one per person): each records the page's errors, which fail the test."""
    contexts = []

    def open_(locale: str = "en-GB") -> Page:
        context = browser.new_context(locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.problems = []
        page.on("console", lambda message: page.problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.refused = []  # which requests the console's "Failed to load resource" lines were
        page.on("response", lambda response: page.refused.append(
            f"{response.status} {response.request.method} {response.url}") if response.status >= 400 else None)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page) -> Page:
    return open_page()


@pytest.fixture(scope="session")
def sign_in(base):
    """Signs a user in on the page, in English (the page's language until they choose another)."""
    def sign_in_(page: Page, username: str, password: str = PASSWORD) -> None:
        page.goto(base + "/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        page.get_by_label("Username", exact=True).fill(username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
    return sign_in_


@pytest.fixture(scope="session")
def axe_check():
    """Runs axe-core on the page as it is now; returns its violations, each as 'rule: target, ...' (none
    is the goal). axe is evaluated through the browser's debugging protocol: the app's CSP (script-src
    'self') is left as it is, as users get it."""
    assert AXE.exists(), "run `make install` (scripts/stack.sh installs tools/browser-tests)"
    source = AXE.read_text(encoding="utf-8")

    def check(page: Page) -> list[str]:
        page.wait_for_load_state("networkidle")
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(source)
        result = page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_RULES)
        return [f"{v['id']} ({v['impact']}): " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
                for v in result["violations"]]
    return check
