"""README "Configuration" lists every variable, under what reads it, and nothing that nobody reads.

Each settings object is read from a recording mapping (the variables it asks for, whether set or
not, are noted), so a variable read through a constant or an f-string (`<SERVICE>_CIPHER_KEY`) counts
too. Variables read outside Python (config/nameko.yaml, scripts/stack.sh, libpq) are found in those
files."""
import base64
import inspect
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import services.approvals.settings
import services.cases.settings
import services.gateway.settings
import services.notifications.settings
import services.referrals.settings
import shared.settings
from services.approvals.settings import ApprovalsSettings
from services.cases.settings import AuditCliSettings, CasesSettings
from services.gateway.settings import GatewaySettings
from services.notifications.settings import NotificationsSettings
from services.referrals.settings import ReferralsSettings
from shared.access import BROKER_IDENTITIES, DATABASE_IDENTITIES, SERVICES, password_key
from shared.settings import (
    MetricsSettings,
    MigrationCliSettings,
    ProvisionSettings,
    QuarantineCliSettings,
    SecretsSettings,
    Settings,
)

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULES = (shared.settings, services.gateway.settings, services.cases.settings,
                    services.referrals.settings, services.approvals.settings, services.notifications.settings)
# What a settings object needs to be read at all (required, or checked for its form).
GIVEN = {**{f"{s.upper()}_CIPHER_KEY": "k" for s in SERVICES}, "JWT_SECRET": "j" * 32,
         "CASES_MASTER_KEY": base64.b64encode(bytes(32)).decode(),
         "AUDIT_SIGNING_KEY": base64.b64encode(bytes(range(32))).decode()}


class Recording(Mapping):
    """The environment as a settings object reads it: every variable asked for is noted."""

    def __init__(self, given: Mapping[str, str]):
        self.given, self.asked = dict(given), set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.given[name]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a settings object reads variables by name, never all of them")

    def __len__(self) -> int:
        return len(self.given)


def asked(read) -> set[str]:
    environ = Recording(GIVEN)
    read(environ)
    return environ.asked


def plumbing(service: str) -> set[str]:
    return asked(lambda e: Settings.for_service(service, e)) | asked(MetricsSettings.from_env)


def own(settings_class, service: str) -> set[str]:
    return asked(settings_class.from_env) - plumbing(service)


PASSWORDS = [*(password_key(n, "DB") for n in DATABASE_IDENTITIES), *(password_key(n, "AMQP") for n in BROKER_IDENTITIES)]
# Each README section, and what its variables are read by.
SECTIONS = {
    "Every service": lambda: set().union(*(plumbing(s) for s in SERVICES)),
    "gateway": lambda: own(GatewaySettings, "gateway"),
    "cases": lambda: own(CasesSettings, "cases"),
    "referrals and approvals": lambda: own(ReferralsSettings, "referrals") | own(ApprovalsSettings, "approvals"),
    "notifications": lambda: own(NotificationsSettings, "notifications"),
    "casetrail-audit": lambda: asked(AuditCliSettings.from_env),
    "casetrail-quarantine": lambda: asked(lambda e: QuarantineCliSettings.from_env(SERVICES, e)),
    "casetrail-migrations": lambda: set().union(*(asked(lambda e, s=s: MigrationCliSettings.for_service(s, e))
                                                  for s in SERVICES)),
    "Provisioning and secrets": lambda: (asked(lambda e: ProvisionSettings.from_env(SERVICES, PASSWORDS, e))
                                         | asked(SecretsSettings.from_env)),
}
# Read by every service (the plumbing, and so in SECTIONS through it), or part of a settings object above.
PARTS = {"Settings", "AmqpTls", "CallerKeySettings", "MetricsSettings", "MailSettings", "WebhookSettings"}
READERS = {"GatewaySettings", "CasesSettings", "ReferralsSettings", "ApprovalsSettings", "NotificationsSettings",
           "AuditCliSettings", "QuarantineCliSettings", "MigrationCliSettings", "ProvisionSettings", "SecretsSettings"}
SERVICE_PREFIX = "(?:" + "|".join(s.upper() for s in SERVICES) + ")"


def configuration() -> dict[str, set[str]]:
    """README's Configuration: each `###` section's title (without its parenthesis) and the variables
    its table lists in the first column."""
    text = (ROOT / "README.md").read_text()
    text = text[text.index("\n## Configuration\n"):]
    text = text[:text.index("\n## ", 1)]
    sections = {}
    for part in text.split("\n### ")[1:]:
        title = part.split("\n", 1)[0].split(" (", 1)[0].strip()
        rows = [line.split("|")[1] for line in part.splitlines() if line.startswith("| `")]
        sections[title] = {name for row in rows for name in re.findall(r"`([A-Z<][A-Z0-9_<>]*)`", row)}
    return sections


def pattern(listed: str) -> re.Pattern:
    """`<SERVICE>_CIPHER_KEY` stands for each service's; `<NAME>_DB_PASSWORD` for any login's."""
    return re.compile(re.escape(listed).replace("<SERVICE>", SERVICE_PREFIX).replace("<NAME>", "[A-Z]+") + "$")


def unlisted(read: set[str], listed: set[str]) -> set[str]:
    return {name for name in read if not any(pattern(entry).match(name) for entry in listed)}


def test_the_readme_has_a_section_for_each_reader():
    assert set(SECTIONS) | {"make up"} == set(configuration())


@pytest.mark.parametrize("section", SECTIONS)
def test_every_variable_a_settings_object_reads_is_listed_under_it(section):
    read = SECTIONS[section]()
    assert read, f"{section}: nothing read (is the recording broken?)"
    missing = unlisted(read, configuration()[section])
    assert not missing, f"README Configuration, section {section!r}, does not list {sorted(missing)}"


def test_every_settings_class_is_read_for_some_section():
    """A new settings class (a reader the sections above do not use) fails here until it has one."""
    classes = {name for module in SETTINGS_MODULES for name, value in vars(module).items()
               if inspect.isclass(value) and value.__module__ == module.__name__
               and any(hasattr(value, m) for m in ("from_env", "for_service"))}
    assert classes == PARTS | READERS


def outside_python() -> str:
    """What reads variables without a settings object: nameko's config, make up, docker compose."""
    return "\n".join(path.read_text() for path in (ROOT / "config" / "nameko.yaml", ROOT / "scripts" / "stack.sh",
                                                   ROOT / "Makefile", ROOT / "docker-compose.yml"))


def test_every_variable_listed_is_read_by_something():
    read = set().union(*(reader() for reader in SECTIONS.values()))
    text = outside_python()
    nobody = set()
    for section, listed in configuration().items():
        for entry in listed:
            by_python = any(pattern(entry).match(name) for name in read)
            elsewhere = re.search(r"\$\{?" + pattern(entry).pattern.rstrip("$") + r"\b", text)
            by_libpq = entry.startswith("PGSSL")  # libpq's own (psycopg honours them)
            if not (by_python or elsewhere or by_libpq):
                nobody.add((section, entry))
    assert not nobody, f"listed in README Configuration but read by nobody: {sorted(nobody)}"


def test_the_checks_can_fail():
    """The recording sees what a reader asks for; a name it does not know is unlisted, a pattern
    stands for each service's variable and nothing else."""
    assert "RPC_TIMEOUT_SECONDS" in own(GatewaySettings, "gateway")
    assert "POSTGRES_HOST" not in own(GatewaySettings, "gateway")
    assert "CASES_CIPHER_KEY" in plumbing("cases")
    assert unlisted({"SOMETHING_NEW", "CASES_CIPHER_KEY"}, {"<SERVICE>_CIPHER_KEY"}) == {"SOMETHING_NEW"}
    assert unlisted({"PAYROLL_CIPHER_KEY"}, {"<SERVICE>_CIPHER_KEY"}) == {"PAYROLL_CIPHER_KEY"}
    assert not unlisted({"AUDIT_DB_PASSWORD"}, {"<NAME>_DB_PASSWORD"})
