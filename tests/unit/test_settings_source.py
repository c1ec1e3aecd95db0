"""One place for settings (issue 18.3): no module under shared/ reads the environment except
shared/settings.py, which reads each variable once, when a process or a service starts, into a typed
object. Checked on the source (its syntax tree), so a new read anywhere else fails here."""
import ast
import weakref
from pathlib import Path

import pytest

from shared.settings import AmqpTls, CallerKeySettings, Settings, of_service

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"
SETTINGS = SHARED / "settings.py"

# What may touch the environment outside shared/settings.py, and why.
ALLOWED = {
    # Not a setting: the package sets psycopg's wait function when it is imported, before psycopg is,
    # so that no query blocks eventlet's hub (psycopg reads it when it loads).
    ("shared/__init__.py", "os.environ"),
}


def environment_reads(source: str) -> list[tuple[int, str]]:
    """Where the code touches the environment: os.environ, os.environb, os.getenv (however imported),
    and shared.settings.env (the settings module's own reader)."""
    tree = ast.parse(source)
    os_names, direct, env_readers, settings_modules = {"os"}, {}, set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os":
                    os_names.add(alias.asname or "os")
                if alias.name == "shared.settings" and alias.asname:
                    settings_modules.add(alias.asname)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if node.module == "os" and alias.name in ("environ", "environb", "getenv", "getenvb"):
                    direct[alias.asname or alias.name] = f"os.{alias.name}"
                if node.module == "shared.settings" and alias.name == "env":
                    env_readers.add(alias.asname or "env")
                if node.module == "shared" and alias.name == "settings":
                    settings_modules.add(alias.asname or "settings")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in os_names and node.attr in ("environ", "environb", "getenv", "getenvb"):
                found.append((node.lineno, f"os.{node.attr}"))
            elif node.value.id in settings_modules and node.attr == "env":
                found.append((node.lineno, "shared.settings.env"))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in direct:
                found.append((node.lineno, direct[node.id]))
            elif node.id in env_readers:
                found.append((node.lineno, "shared.settings.env"))
    return sorted(found)


def shared_modules() -> list[Path]:
    return sorted(path for path in SHARED.rglob("*.py") if path != SETTINGS)


def test_no_module_under_shared_reads_the_environment_but_the_settings_module():
    reads = {(str(path.relative_to(ROOT)), line, what) for path in shared_modules()
             for line, what in environment_reads(path.read_text())}
    unexpected = sorted(read for read in reads if (read[0], read[2]) not in ALLOWED)
    assert not unexpected, ("read the environment in shared/settings.py (a field of the settings object),"
                            f" not here: {unexpected}")
    still_needed = {(path, what) for path, _, what in reads}
    assert ALLOWED <= still_needed, f"allowed but no longer done (take it off ALLOWED): {ALLOWED - still_needed}"


@pytest.mark.parametrize("source", [
    "import os\nos.environ.get('X')",
    "import os\nos.environ['X']",
    "import os\nos.getenv('X')",
    "import os as system\nsystem.environ.get('X')",
    "from os import environ\nenviron.get('X')",
    "from os import getenv as g\ng('X')",
    "from shared.settings import env\nenv('X', '1')",
    "from shared import settings\nsettings.env('X')",
    "import shared.settings as s\ns.env('X')",
])
def test_the_scan_sees_each_way_of_reading_the_environment(source):
    assert environment_reads(source)


@pytest.mark.parametrize("source", [
    "from shared.settings import Settings\nSettings.for_service('cases')",
    "def f(environ):\n    return environ.get('X')",
    "from shared.settings import AmqpTls\nAmqpTls.from_env()",
])
def test_the_scan_lets_settings_objects_and_plain_mappings_be(source):
    assert environment_reads(source) == []


README = {"postgres_host": "127.0.0.1", "postgres_port": 54329, "postgres_dbname": "casetrail",
          "postgres_user": "casetrail_cases", "postgres_password": "", "postgres_schema": "cases",
          "postgres_pool_size": 5, "postgres_max_overflow": 10, "postgres_connect_timeout": 5, "amqp_uri": "",
          "relay_poll_seconds": 1.0, "relay_batch_size": 100, "follower_max_attempts": 5, "queue_type": "classic",
          "consumer_max_attempts": 8, "consumer_retry_delay": 0.5, "amqp_tls": AmqpTls("", "", ""),
          "caller_keys": CallerKeySettings(own_key="", public_keys="", token_seconds=30.0)}


def fields(settings: Settings) -> dict:
    return {name: getattr(settings, name) for name in README}


def test_settings_have_readmes_names_and_defaults():
    assert fields(Settings.for_service("cases", {"CASES_CIPHER_KEY": "k"})) == README


def test_settings_are_read_from_the_environment_given():
    given = Settings.for_service("cases", {
        "CASES_CIPHER_KEY": "k", "CASES_POSTGRES_SCHEMA": "c2", "QUEUE_TYPE": "quorum", "CONSUMER_MAX_ATTEMPTS": "3",
        "POSTGRES_CONNECT_TIMEOUT": "7", "AMQP_CA_FILE": "/ca.pem", "CASES_CALLER_KEY": " abc ",
        "CALLER_TOKEN_SECONDS": "12"})
    assert fields(given) == {**README, "postgres_schema": "c2", "queue_type": "quorum", "consumer_max_attempts": 3,
                             "postgres_connect_timeout": 7, "amqp_tls": AmqpTls("/ca.pem", "", ""),
                             "caller_keys": CallerKeySettings(own_key="abc", public_keys="", token_seconds=12.0)}
    assert given.cipher_key == "k"


def test_a_service_without_its_cipher_key_is_refused():
    with pytest.raises(RuntimeError, match="environment variable REFERRALS_CIPHER_KEY is required"):
        Settings.for_service("referrals", {})


class Container:
    service_name = "cases"


def test_a_running_service_reads_its_settings_once_for_all_its_extensions(monkeypatch):
    """nameko hands each extension a weak proxy to its container: the settings are kept on the container."""
    container = Container()
    monkeypatch.setenv("CASES_CIPHER_KEY", "k")
    monkeypatch.setenv("QUEUE_TYPE", "quorum")
    first = of_service(weakref.proxy(container))
    monkeypatch.setenv("QUEUE_TYPE", "classic")
    assert of_service(weakref.proxy(container)) is first and first.queue_type == "quorum"
    assert of_service(Container()).queue_type == "classic"  # another container, started later, reads anew
