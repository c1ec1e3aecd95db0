"""TLS as a setting, against a PostgreSQL and a RabbitMQ of the test's own whose certificates a
throwaway CA made here signed (shared/tls.py, as docker compose makes them): a service's store
(libpq's PGSSLMODE=verify-full, PGSSLROOTCERT, and a client certificate), the event publisher and a
nameko service's own connections (an amqps:// AMQP_URI with AMQP_CA_FILE) connect with verification
on, and refuse a server whose certificate another CA signed; the servers refuse a client certificate
another CA signed, or one naming another login. RabbitMQ runs deploy/compose/rabbitmq.conf."""
import datetime
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import kombu.exceptions
import psycopg
import pytest
from nameko.containers import ServiceContainer

from services.notifications.application import Notifications
from services.notifications.service import NotificationsService
from services.notifications.settings import NotificationsSettings
from shared.access import BROKER_IDENTITIES, broker_definitions, broker_grants, identity, password_key
from shared.bus import connection, event_publisher, publish_event
from shared.envelope import make_envelope
from shared.rpc import BROKER_DOWN
from shared.tls import Authority, write_issued
from tests.support import Infrastructure, free_port, signed_by, wait_until

ROOT = Path(__file__).resolve().parents[2]
NOTIFICATIONS = identity("casetrail", "notifications")


def broker_config(certs: Path, amqps_port: int, definitions: Path) -> str:
    """deploy/compose/rabbitmq.conf as docker compose runs it, with this machine's port and folders."""
    config = (ROOT / "deploy/compose/rabbitmq.conf").read_text()
    assert "listeners.ssl.default = 5671\n" in config and "/run/casetrail/definitions.json" in config
    return (config.replace("listeners.ssl.default = 5671", f"listeners.ssl.default = 127.0.0.1:{amqps_port}")
            .replace("/run/casetrail/definitions.json", str(definitions)).replace("/run/casetrail/", f"{certs}/"))


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """PostgreSQL with ssl=on and RabbitMQ configured as docker compose configures it (TLS only,
    client certificates optional, its users loaded at boot), both with certificates the module's CA
    (shared/tls.py, as `docker compose` makes them) signed."""
    infra = Infrastructure(tmp_path_factory.mktemp("tls") / "run")
    certs = infra.run_dir / "tls"  # inside the run folder: the postgres user can reach it
    certs.mkdir(parents=True)
    ca, stranger = Authority.create("Casetrail test CA"), Authority.create("Someone else's CA")
    ca.write(certs)
    server_cert, server_key = write_issued(certs, "server", ca.server(["127.0.0.1", "localhost"]))
    clients = {"own": write_issued(certs, "own", ca.client(NOTIFICATIONS)),
               "another login": write_issued(certs, "cases", ca.client(identity("casetrail", "cases"))),
               "stranger": write_issued(certs, "stranger-client", stranger.client(NOTIFICATIONS))}
    amqps_port = free_port()
    (infra.run_dir / "rmq").mkdir()
    # The installation's secrets before its first start, so the broker loads its users at boot.
    infra.run_dir.joinpath("secrets.env").write_text(
        subprocess.run([sys.executable, "-m", "shared.secrets"], check=True, capture_output=True, text=True,
                       cwd=ROOT).stdout)
    definitions = certs / "definitions.json"
    definitions.write_text(json.dumps(broker_definitions("/", broker_grants("casetrail"), {
        identity("casetrail", name): infra.secrets()[password_key(name, "AMQP")] for name in BROKER_IDENTITIES})))
    (infra.run_dir / "rmq" / "rabbitmq.conf").write_text(broker_config(certs, amqps_port, definitions))
    infra("infra-start")
    try:
        pg_key = certs / "postgres.key"
        shutil.copy(server_key, pg_key)
        shutil.chown(pg_key, "postgres")
        pg_key.chmod(0o600)
        with infra.admin("postgres") as admin:
            for setting, value in (("ssl", "on"), ("ssl_cert_file", str(server_cert)), ("ssl_key_file", str(pg_key)),
                                   ("ssl_ca_file", str(certs / "ca.crt"))):
                admin.execute(f"ALTER SYSTEM SET {setting} = '{value}'")
        # A restart, not a reload: another pytest session may have closed /tmp/pytest-of-root to the
        # postgres user since, and stack.sh opens the way again at every start.
        infra("postgres-stop")
        infra("postgres-start")
        # The notifications role must also present a client certificate naming it (as pg_hba.conf's
        # clientcert=verify-full asks); the first matching line wins.
        hba = infra.run_dir / "pg" / "pg_hba.conf"
        hba.write_text(f"hostssl all {NOTIFICATIONS} 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n"
                       + hba.read_text())
        with infra.admin("postgres") as admin:
            assert admin.execute("SHOW ssl").fetchone()[0] == "on"
            admin.execute("SELECT pg_reload_conf()")
        secrets = infra.secrets()
        (certs / "stranger").mkdir()
        stranger.write(certs / "stranger")
        yield {"infra": infra, "ca": certs / "ca.crt", "stranger": certs / "stranger" / "ca.crt", "clients": clients,
               "amqp_port": infra.env["RABBITMQ_PORT"],
               "amqps": f"amqps://{identity('casetrail', 'gateway')}:{secrets[password_key('gateway', 'AMQP')]}"
                        f"@127.0.0.1:{amqps_port}/",
               "notifications_amqps": f"amqps://{identity('casetrail', 'notifications')}:"
                                      f"{secrets[password_key('notifications', 'AMQP')]}@127.0.0.1:{amqps_port}/",
               "notifications_db": secrets[password_key("notifications", "DB")]}
    finally:
        infra("infra-stop")


@pytest.fixture
def as_notifications(tls, test_env, monkeypatch):
    """The notifications service's settings, its store over TLS to the module's PostgreSQL. Its keys
    for believing events are the session's (a process reads them once)."""
    infra = tls["infra"]
    monkeypatch.setenv("POSTGRES_PORT", infra.env["POSTGRES_PORT"])
    monkeypatch.setenv("POSTGRES_DBNAME", "casetrail")
    monkeypatch.setenv("POSTGRES_USER", identity("casetrail", "notifications"))
    monkeypatch.setenv("POSTGRES_PASSWORD", tls["notifications_db"])
    monkeypatch.setenv("NOTIFICATIONS_POSTGRES_SCHEMA", "notifications")
    monkeypatch.setenv("NOTIFICATIONS_CIPHER_KEY", infra.secrets()["NOTIFICATIONS_CIPHER_KEY"])
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(tls["ca"]))
    monkeypatch.setenv("PGSSLCERT", str(tls["clients"]["own"][0]))
    monkeypatch.setenv("PGSSLKEY", str(tls["clients"]["own"][1]))
    monkeypatch.setenv("AMQP_CA_FILE", str(tls["ca"]))


def test_a_store_connects_to_postgresql_over_verified_tls(as_notifications, tls, monkeypatch):
    store = Notifications(NotificationsSettings.from_env())
    try:
        with store.transaction() as curs:
            curs.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert curs.fetchone()["ssl"] is True
    finally:
        store.close()
    monkeypatch.setenv("PGSSLROOTCERT", str(tls["stranger"]))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        Notifications(NotificationsSettings.from_env())


def test_the_publisher_connects_to_rabbitmq_over_verified_tls(as_notifications, tls, monkeypatch):
    publish_as_gateway(tls["amqps"], "tls-publisher")
    monkeypatch.setenv("AMQP_CA_FILE", str(tls["stranger"]))
    # By the other name the certificate gives: kombu pools connections by URI, whatever their TLS options.
    elsewhere = tls["amqps"].replace("@127.0.0.1:", "@localhost:")
    with pytest.raises(kombu.exceptions.OperationalError, match="certificate verify failed"):
        publish_as_gateway(elsewhere, "tls-refused")


def test_a_nameko_service_runs_over_tls_end_to_end(as_notifications, tls):
    """The notifications service's consumers, RPC and store all over TLS: it learns a user the
    gateway's login publishes, over TLS too."""
    container = ServiceContainer(NotificationsService, {
        "AMQP_URI": tls["notifications_amqps"], "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "serializer": "json"})
    container.start()
    try:
        publish_as_gateway(tls["amqps"], "tls-user")
        store = Notifications(NotificationsSettings.from_env())
        try:
            wait_until(lambda: known(store, "tls-user"), timeout=20, what="notifications to learn the user")
        finally:
            store.close()
    finally:
        container.stop()


@pytest.mark.parametrize("client", ["none", "another login", "stranger"])
def test_postgresql_refuses_the_role_without_a_client_certificate_of_its_own(as_notifications, tls, monkeypatch, client):
    """The control is every other test here: the role's own certificate from the installation's CA."""
    if client == "none":
        monkeypatch.delenv("PGSSLCERT")
        monkeypatch.delenv("PGSSLKEY")
    else:
        cert, key = tls["clients"][client]
        monkeypatch.setenv("PGSSLCERT", str(cert))
        monkeypatch.setenv("PGSSLKEY", str(key))
    # The same password as the control: only the certificate differs. (For one naming another login
    # the server says only that authentication failed.)
    with pytest.raises(psycopg.OperationalError, match="certificate|authentication failed|unknown ca"):
        Notifications(NotificationsSettings.from_env())


@pytest.mark.parametrize("client, accepted", [("own", True), ("stranger", False)])
def test_rabbitmq_takes_a_client_certificate_only_from_the_installations_ca(as_notifications, tls, monkeypatch,
                                                                             client, accepted):
    cert, key = tls["clients"][client]
    monkeypatch.setenv("AMQP_CERT_FILE", str(cert))
    monkeypatch.setenv("AMQP_KEY_FILE", str(key))
    with connection(tls["notifications_amqps"], connect_timeout=5) as conn:
        if accepted:
            conn.connect()
            assert conn.connected
        else:
            with pytest.raises(BROKER_DOWN):
                conn.connect()


def test_the_broker_as_compose_runs_it_takes_no_plain_connection(tls):
    plain = tls["notifications_amqps"].replace("amqps://", "pyamqp://").rsplit("@", 1)[0]
    with connection(f"{plain}@127.0.0.1:{tls['amqp_port']}/", connect_timeout=5) as conn:
        with pytest.raises(BROKER_DOWN):
            conn.connect()


def publish_as_gateway(amqp_uri: str, username: str) -> None:
    """A UserRegistered, signed as its owner the gateway (consumers believe no one else)."""
    publish_event(event_publisher(amqp_uri), registered(username), signed_by("gateway"))


def registered(username: str) -> dict:
    return make_envelope(source="gateway", event_type="UserRegistered", aggregate_id=uuid.uuid4(), aggregate_version=1,
                         occurred_at=datetime.datetime.now(datetime.UTC),
                         by={"username": "admin", "role": "admin", "correlation_id": "tls"},
                         payload={"username": username, "role": "caseworker", "supervisor": None, "provider_id": None,
                                  "email": None})


def known(store: Notifications, username: str) -> bool:
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT 1 FROM {schema}.people WHERE username = %s"), (username,))
        return curs.fetchone() is not None
