"""Real PostgreSQL and RabbitMQ for integration tests: reuses the ones `make up` started, or
starts them and stops them afterwards. Each session gets its own database and vhost, and logins of
its own: one per service and CLI with the rights `make up` gives them, and the harness, the tests'
own identity, which the test process itself connects as (tests.support.Identities)."""
import base64
import mailbox
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from eventsourcing.cryptography import AESCipher

from services.cases.settings import CasesSettings
from shared import identity
from tests.support import (
    STACK,
    Api,
    Identities,
    ServiceProcess,
    create_people,
    free_port,
    rabbitmqctl,
    service_env,
    wait_until,
)

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")


def _running() -> set[str]:
    out = subprocess.run([str(STACK), "status"], capture_output=True, text=True).stdout
    return {line.split(":")[0] for line in out.splitlines() if line.endswith(": running")}


@pytest.fixture(scope="session")
def infrastructure():
    before = _running()
    # Archiving is for installations (make up): a cluster the tests start is thrown away, and its WAL would
    # only fill the disk. One that runs already keeps what it was started with.
    subprocess.run([str(STACK), "infra-start"], check=True, env={**os.environ, "WAL_ARCHIVE": "off"})
    yield
    if not {"postgres", "rabbitmq"} <= before:
        subprocess.run([str(STACK), "infra-stop"], check=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A failed test shows what the running services logged while it ran (the logs hold no survivor
    data: test_zz_no_leaks), so a failure seen once in CI can be understood from CI's output alone."""
    log_dir = Path(os.environ["LOG_DIR"]) if os.environ.get("LOG_DIR") else None
    sizes = {p: p.stat().st_size for p in log_dir.glob("*.log")} if log_dir and log_dir.is_dir() else {}
    outcome = yield
    if outcome.excinfo is None or not sizes:
        return
    for path in sorted(log_dir.glob("*.log")):
        with open(path, "rb") as log:
            log.seek(sizes.get(path, 0))
            lines = log.read().decode(errors="replace").splitlines()[-40:]
        if lines:
            item.add_report_section("call", f"log {path.name}", "\n".join(lines))


class SmtpServer:
    """A real SMTP server (aiosmtpd) delivering into a maildir; it can be stopped and started again."""

    def __init__(self, maildir: Path):
        self.port, self.maildir, self.process = free_port(), maildir, None

    def start(self) -> "SmtpServer":
        self.process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
                                         "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)])
        wait_until(self._listening, what="the SMTP server")
        return self

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()

    def messages(self) -> list:
        return list(mailbox.Maildir(str(self.maildir), create=False)) if self.maildir.exists() else []


@pytest.fixture(scope="session")
def smtp(tmp_path_factory):
    server = SmtpServer(tmp_path_factory.mktemp("mail") / "maildir").start()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="session")
def identities(infrastructure):
    """The session's database, vhost and logins, named with the session's suffix; dropped at the end."""
    suffix = uuid.uuid4().hex[:8]
    session = Identities(f"casetrail_test_{suffix}", f"casetrail-test-{suffix}",
                         os.environ.get("RABBITMQ_PORT", "5673"), os.environ.get("POSTGRES_PORT", "54329"))
    try:
        session.add_database(f"casetrail_test_{suffix}")
        session.add_vhost()
        yield session
    finally:
        session.drop()


WEB_ORIGIN = "https://app.casetrail.test"  # a web client's origin, listed in CORS_ORIGINS


@pytest.fixture(scope="session")
def test_env(identities, tmp_path_factory, smtp):
    env = {
        "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": identities.postgres_port,
        "POSTGRES_DBNAME": identities.databases[0], **identities.env(),
        "JWT_SECRET": uuid.uuid4().hex * 2, "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin-test-password",
        # The session's fixtures log in once; a whole run on a busy machine outlasts the default 15 minutes.
        "ACCESS_TOKEN_SECONDS": "7200",
        # Every test logs in from 127.0.0.1: the per-address limit is tested on an instance of its own.
        "LOGIN_ADDRESS_FAILURE_LIMIT": "100000",
        "RELAY_POLL_SECONDS": "0.5", "CONSUMER_MAX_ATTEMPTS": "5", "CONSUMER_RETRY_DELAY": "0.1",
        "RPC_TIMEOUT_SECONDS": "2", "OVERDUE_SCAN_SECONDS": "0.5", "ESCALATION_SCAN_SECONDS": "0.5",
        "WEBHOOK_SCAN_SECONDS": "0.3", "WEBHOOK_RETRY_DELAY": "0.2", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "CORS_ORIGINS": f"{WEB_ORIGIN}, http://127.0.0.1:8080",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "EMAIL_RETRY_DELAY": "0.2",
        "VHOST": identities.vhost, "LOG_DIR": str(tmp_path_factory.mktemp("logs")),
        **{f"{s.upper()}_CIPHER_KEY": AESCipher.create_key(32) for s in SERVICES},
        "CASES_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
        **identity.generate(SERVICES),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def store(test_env, monkeypatch):
    """The cases service's store, in a schema of its own for the test."""
    from services.cases.application import Cases
    monkeypatch.setenv("CASES_POSTGRES_SCHEMA", f"cases_{uuid.uuid4().hex[:8]}")
    store = Cases(CasesSettings.from_env())
    yield store
    store.close()


@pytest.fixture(scope="module")
def private_bus(test_env, identities):
    """A vhost of the module's own, so the running system's services never take its messages. Only
    the harness has rights there (every right): the tests on it forge events on purpose."""
    bus = identities.add_vhost(f"{test_env['VHOST']}-{uuid.uuid4().hex[:6]}", services=False)
    yield bus
    rabbitmqctl("delete_vhost", bus["VHOST"])


ORDER = ("cases", "referrals", "approvals", "notifications", "gateway")


# Survivor data the tests enter. None of it may appear in any service's log.
PLANTED = ("Amina", "Halima", "Nadia", "Wanjiru Secret", "Zawadi Unique-Name", "+254700000001", "+254700000002",
           "+254711111111", "threats from partner", "needs PEP within 72 hours", "add a safety goal",
           "Rehema Notify-Plant", "+254722333444", "Block 9 Kakuma", "fled on foot")
# Planted by the search test (test_audit_api) and looked for on the bus, in the database, logs, metrics.
PLANTED_EVERYWHERE = ("Wairimu Plantsearch-Odhiambo", "+254799123456", "Hagadera Block Q7", "hid at the water point")
PLANTED = PLANTED + PLANTED_EVERYWHERE


@pytest.fixture(scope="session")
def system(test_env):
    env = service_env(test_env)
    processes = {name: ServiceProcess(name, env, Path(test_env["LOG_DIR"])) for name in ORDER}
    try:
        for process in processes.values():
            process.start()
        yield processes
    finally:  # no assertions here: a check in a teardown shows as an ERROR that "N passed" hides
        for process in processes.values():
            process.stop()


@pytest.fixture(scope="session")
def api(system):
    return Api(system["gateway"].url)


@pytest.fixture(scope="session")
def people(api, test_env):
    """An admin, two teams (sup1: cw1, cw2; sup2: cw3), and an auditor."""
    return create_people(api, test_env["ADMIN_PASSWORD"])


@pytest.fixture(scope="session")
def pathway(people, api):
    """Two providers, each with a focal point who logs in."""
    admin = people["admin"]
    clinic = admin.post("/v1/providers", {"name": "Hope Clinic", "service_types": ["medical", "psychosocial"],
                                          "area": "Kakuma", "contact": "clinic@example.org"}).json()
    legal = admin.post("/v1/providers", {"name": "Legal Aid", "service_types": ["legal"], "area": "Kakuma",
                                         "contact": "legal@example.org"}).json()
    for username, provider in (("clinic1", clinic), ("legal1", legal)):
        response = admin.post("/v1/users", {"username": username, "password": "a-long-enough-password", "role": "provider",
                                            "display_name": provider["name"], "provider_id": provider["id"]})
        assert response.status_code == 201, response.text
    return {"clinic": clinic, "legal": legal, "clinic1": api.login("clinic1", "a-long-enough-password"),
            "legal1": api.login("legal1", "a-long-enough-password")}
