"""One place for settings (issue 18.3): no module under shared/ or services/ reads the environment
except the settings modules (shared/settings.py and each services/<service>/settings.py), which read
each variable once, when a process or a service starts, into a typed object; and nothing reads it when
it is imported, not even them. Checked on the source (its syntax tree), so a new read anywhere else
fails here."""
import ast
import weakref
from pathlib import Path

import pytest

from shared.settings import AmqpTls, CallerKeySettings, Settings, of_service

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULES = sorted([ROOT / "shared" / "settings.py", *(ROOT / "services").glob("*/settings.py")])

# What may touch the environment outside the settings modules (or when imported), and why.
ALLOWED = {
    # Not a setting: the package sets psycopg's wait function when it is imported, before psycopg is,
    # so that no query blocks eventlet's hub (psycopg reads it when it loads).
    ("shared/__init__.py", "os.environ"),
}
OS_READERS = ("environ", "environb", "getenv", "getenvb")
# What reads a settings object from the environment: anyone may, in a function, never on import.
SETTINGS_READERS = ("from_env", "for_service", "metrics_settings")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def raw_readers(paths=SETTINGS_MODULES) -> dict[str, set[str]]:
    """Each settings module's functions that read a variable themselves: those that take `environ`
    (env, integer, number, ...). Only settings modules may call them."""
    readers = {}
    for path in paths:
        tree = ast.parse(path.read_text())
        readers[module_name(path)] = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                                      and "environ" in [a.arg for a in node.args.args + node.args.kwonlyargs]}
    return readers


READERS = raw_readers()


def _reads(tree: ast.AST, readers: dict[str, set[str]]):
    """(node, what) for every place in `tree` that touches the environment: os.environ, os.environb,
    os.getenv (however imported), and a settings module's own readers (however imported)."""
    os_names, direct, modules = {"os"}, {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os":
                    os_names.add(alias.asname or "os")
                if alias.name in readers and alias.asname:
                    modules[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if node.module == "os" and alias.name in OS_READERS:
                    direct[alias.asname or alias.name] = f"os.{alias.name}"
                if alias.name in readers.get(node.module, ()):
                    direct[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in readers:
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in os_names and node.attr in OS_READERS:
                yield node, f"os.{node.attr}"
            elif node.value.id in modules and node.attr in readers[modules[node.value.id]]:
                yield node, f"{modules[node.value.id]}.{node.attr}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            dotted = ast.unparse(node.value)
            if dotted in readers and node.attr in readers[dotted]:  # import shared.settings; shared.settings.env(...)
                yield node, f"{dotted}.{node.attr}"
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in direct:
            yield node, direct[node.id]


def environment_reads(source: str, readers: dict[str, set[str]] = READERS) -> list[tuple[int, str]]:
    """Where the code touches the environment (see _reads)."""
    return sorted({(node.lineno, what) for node, what in _reads(ast.parse(source), readers)})


def _run_on_import(tree: ast.Module):
    """The nodes Python evaluates when it imports the module: everything but function bodies (their
    decorators and default values are evaluated, and so are class bodies)."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            pending += [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d)]
            continue
        if isinstance(node, ast.Lambda):
            pending += [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
            continue
        yield node
        pending += list(ast.iter_child_nodes(node))


def reads_on_import(source: str, readers: dict[str, set[str]] = READERS) -> list[tuple[int, str]]:
    """Where the module reads the environment, or a settings object, as it is imported."""
    tree = ast.parse(source)
    evaluated = set(map(id, _run_on_import(tree)))
    found = {(node.lineno, what) for node, what in _reads(tree, readers) if id(node) in evaluated}
    for node in _run_on_import(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in SETTINGS_READERS:
                found.add((node.lineno, f"{name}()"))
    return sorted(found)


def modules() -> list[Path]:
    return sorted(path for top in ("shared", "services") for path in (ROOT / top).rglob("*.py"))


def findings(check) -> set[tuple[str, int, str]]:
    return {(str(path.relative_to(ROOT)), line, what) for path in modules() for line, what in check(path.read_text())}


def test_only_the_settings_modules_read_the_environment():
    reads = {read for read in findings(environment_reads) if ROOT / read[0] not in SETTINGS_MODULES}
    unexpected = sorted(read for read in reads if (read[0], read[2]) not in ALLOWED)
    assert not unexpected, ("read the environment in the service's settings module (a field of its settings"
                            f" object, passed down), not here: {unexpected}")
    still_needed = {(path, what) for path, _, what in reads}
    assert ALLOWED <= still_needed, f"allowed but no longer done (take it off ALLOWED): {ALLOWED - still_needed}"


def test_nothing_reads_the_environment_when_it_is_imported():
    unexpected = sorted(read for read in findings(reads_on_import) if (read[0], read[2]) not in ALLOWED)
    assert not unexpected, f"read when the service starts (its container), or in main(), not on import: {unexpected}"


def test_the_scan_knows_every_settings_module_and_its_readers():
    assert [module_name(p) for p in SETTINGS_MODULES] == [
        "services.approvals.settings", "services.cases.settings", "services.gateway.settings",
        "services.notifications.settings", "services.referrals.settings", "shared.settings"]
    assert {"env", "integer", "number"} <= READERS["shared.settings"]
    assert "master_key" in READERS["services.cases.settings"]


@pytest.mark.parametrize("source", [
    "import os\nos.environ.get('X')",
    "import os\nos.environ['X']",
    "import os\nos.getenv('X')",
    "import os as system\nsystem.environ.get('X')",
    "from os import environ\nenviron.get('X')",
    "from os import getenv as g\ng('X')",
    "from shared.settings import env\nenv('X', '1')",
    "from shared.settings import number\nnumber('X', 1)",
    "from shared.settings import integer as i\ni('X', 1)",
    "from shared import settings\nsettings.env('X')",
    "import shared.settings as s\ns.env('X')",
    "import shared.settings\nshared.settings.number('X', 1)",
    "from services.cases.settings import master_key\nmaster_key()",
    "from services.cases import settings\nsettings.master_key()",
])
def test_the_scan_sees_each_way_of_reading_the_environment(source):
    assert environment_reads(source)


@pytest.mark.parametrize("source", [
    "from shared.settings import Settings\nSettings.for_service('cases')",
    "def f(environ):\n    return environ.get('X')",
    "from shared.settings import AmqpTls\nAmqpTls.from_env()",
    "from shared.settings import of_service\ndef f(c):\n    return of_service(c)",
    "from services.cases.settings import CasesSettings\ndef f():\n    return CasesSettings.from_env()",
])
def test_the_scan_lets_settings_objects_and_plain_mappings_be(source):
    assert environment_reads(source) == []


@pytest.mark.parametrize("source", [
    "from shared.settings import env\nX = env('X')",
    "from shared.settings import number\nclass S:\n    timeout = number('X', 1)",
    "from shared.settings import number\nfrom nameko.timer import timer\nclass S:\n"
    "    @timer(interval=number('X', 1))\n    def tick(self): pass",
    "from shared.settings import env\ndef f(x=env('X')):\n    return x",
    "from services.cases.settings import CasesSettings\nSETTINGS = CasesSettings.from_env()",
    "from shared.settings import Settings\nclass S:\n    settings = Settings.for_service('cases')",
    "from shared.settings import metrics_settings\nMULTIPROCESS = metrics_settings().prometheus_multiproc_dir",
    "import os\nDIR = os.environ.get('X', '')",
])
def test_the_scan_sees_a_read_on_import(source):
    assert reads_on_import(source)


@pytest.mark.parametrize("source", [
    "from shared.settings import env\ndef f():\n    return env('X')",
    "from services.cases.settings import CasesSettings\nclass S:\n    def setup(self):\n"
    "        self.settings = CasesSettings.from_env()",
    "from shared.configured import Configured, every\nfrom services.cases.settings import CasesSettings\n"
    "class S:\n    settings = Configured(CasesSettings)\n    @every('overdue_scan_seconds')\n    def tick(self): pass",
    "from shared.settings import env\nf = lambda: env('X')",
])
def test_the_scan_lets_reads_when_called_be(source):
    assert reads_on_import(source) == []


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
