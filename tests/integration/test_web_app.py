"""The web app (issue 21): the gateway serves it, and the browser tests in `web/tests/` pass against the
running test system. Those run in a pytest process of their own: this one is monkey-patched by eventlet
for nameko, and Playwright's event loop deadlocks with eventlet at teardown (web/README.md)."""
import os
import shlex
import subprocess
import sys

from tests.support import ROOT

BROWSER_TESTS = ROOT / "web" / "tests"


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


def test_the_app_in_a_real_browser(api, people, test_env, tmp_path):
    """Every test of web/tests, in headless Chromium, against this session's system. Its output is shown
    when it fails (and with -s)."""
    env = {**os.environ, "CASETRAIL_APP_URL": api.base, "CASETRAIL_ADMIN_USERNAME": test_env["ADMIN_USERNAME"],
           "CASETRAIL_ADMIN_PASSWORD": test_env["ADMIN_PASSWORD"]}
    command = [sys.executable, "-m", "pytest", str(BROWSER_TESTS), "-p", "no:pytest_nameko", "-o", "addopts=",
               "-p", "no:cacheprovider", "-q", "-rfE", f"--basetemp={tmp_path / 'browser'}",
               *shlex.split(os.environ.get("BROWSER_PYTEST_ARGS", ""))]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    print(run.stdout, run.stderr)
    assert run.returncode == 0, f"the browser tests failed:\n{run.stdout[-20000:]}\n{run.stderr[-5000:]}"
    assert " passed" in run.stdout.splitlines()[-1], run.stdout[-2000:]
