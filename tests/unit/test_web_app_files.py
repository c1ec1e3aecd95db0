"""The web app's files as the gateway serves them (issue 21, web/README.md), and its catalogues: every
string the app shows is translated into each language."""
import json
import re

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.gateway.routes.webapp import APP_DIR, CONTENT_SECURITY_POLICY, app_file
from shared.errors import NotFound
from shared.vocabulary import USER_ROLES, RiskLevel, Stage

LANGUAGES = ("en", "fr", "ar")
SCRIPTS = sorted(APP_DIR.rglob("*.js"))


def request(path="/", headers=None):
    return Request(EnvironBuilder(path=path, headers=headers or {}).get_environ())


def catalogue(lang: str) -> dict[str, str]:
    return json.loads((APP_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name, content_type", [("index.html", "text/html; charset=utf-8"),
                                                ("main.js", "text/javascript; charset=utf-8"),
                                                ("views/cases.js", "text/javascript; charset=utf-8"),
                                                ("app.css", "text/css; charset=utf-8"),
                                                ("i18n/ar.json", "application/json"),
                                                ("manifest.webmanifest", "application/manifest+json"),
                                                ("icon.svg", "image/svg+xml")])
def test_each_file_is_served_with_its_type_a_strict_policy_and_revalidated(name, content_type):
    served = app_file(request(), name)
    assert served.status_code == 200 and served.headers["Content-Type"] == content_type
    assert served.headers["Cache-Control"] == "no-cache" and served.headers["ETag"]
    assert served.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    again = app_file(request(headers={"If-None-Match": served.headers["ETag"]}), name)
    assert again.status_code == 304 and not again.get_data()


def test_the_policy_runs_no_inline_script_and_talks_only_to_its_own_origin():
    policy = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    html = (APP_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script"
    assert not re.search(r"\son\w+=", html) and "style=" not in html


def test_the_service_worker_may_control_the_whole_origin():
    assert app_file(request(), "sw.js").headers["Service-Worker-Allowed"] == "/"


@pytest.mark.parametrize("name", ["nope.js", "../services/gateway/settings.py", "../../pyproject.toml", "i18n",
                                  "i18n/../../README.md", "/etc/passwd", "..", "README.md", ".hidden.js", ""])
def test_anything_but_a_file_of_the_app_is_not_found(name):
    with pytest.raises(NotFound):
        app_file(request(), name)


def test_every_catalogue_has_every_message_and_no_other():
    english = catalogue("en")
    for lang in LANGUAGES:
        messages = catalogue(lang)
        assert set(messages) == set(english), lang
        assert all(isinstance(text, str) and text.strip() for text in messages.values()), lang
        for key, text in messages.items():  # the same placeholders in every language
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", english[key])), (lang, key)
    assert catalogue("ar")["login.title"] != english["login.title"]


def test_every_message_the_app_shows_is_in_the_catalogues():
    english = catalogue("en")
    used, prefixes = set(), set()
    for script in SCRIPTS:
        source = script.read_text()
        used |= set(re.findall(r"\bt\(\s*'([a-z_]+\.[a-z_]+)'", source))
        used |= set(re.findall(r"'((?:cases|case|register|login|nav|common|error|home)\.[a-z_]+)'", source))
        prefixes |= set(re.findall(r"\bt\(`([a-z_]+)\.\$\{", source))
    assert not used - set(english), sorted(used - set(english))
    for prefix, values in {"stage": Stage, "risk": RiskLevel, "role": USER_ROLES}.items():
        assert prefix in prefixes
        assert {f"{prefix}.{value}" for value in values} <= set(english), prefix


def test_the_service_worker_keeps_every_file_of_the_shell():
    kept = set(re.findall(r"'(/[^']*)'", (APP_DIR / "sw.js").read_text().split("];")[0]))
    files = {f"/app/{path.relative_to(APP_DIR)}" for path in APP_DIR.rglob("*") if path.is_file()}
    assert kept - {"/"} <= files
    assert files - kept == {"/app/sw.js", "/app/index.html"}  # the shell is kept as /


def test_the_gateway_documents_the_app_outside_the_api():
    from services.gateway.openapi import document
    from services.gateway.service import GatewayService
    paths = document(GatewayService)["paths"]
    shell, files = paths["/"]["get"], paths["/app/{path}"]["get"]
    assert shell["tags"] == files["tags"] == ["web app"] and shell["security"] == []
    assert "text/html" in shell["responses"]["200"]["content"]
    assert shell["responses"]["200"]["headers"]["Cache-Control"]["$ref"].endswith("/FileCacheControl")


def test_no_script_fills_an_element_but_through_dom_show():
    """`element.replaceChildren(a, null)` shows the text "null" (it did, under the case list's filters):
    every script fills elements with dom.js's `show`, which skips null, undefined and false as `h` does."""
    offending = [str(path.relative_to(APP_DIR)) for path in SCRIPTS
                 if path.name != "dom.js" and ".replaceChildren(" in path.read_text(encoding="utf-8")]
    assert not offending, offending
