"""TLS as a setting, against a PostgreSQL and a RabbitMQ of the test's own whose certificates a
throwaway CA made here signed: a service's store (libpq's PGSSLMODE=verify-full, PGSSLROOTCERT), the
event publisher and a nameko service's own connections (an amqps:// AMQP_URI with AMQP_CA_FILE)
connect with verification on, and refuse a server whose certificate another CA signed."""
import datetime
import ipaddress
import shutil
import uuid
from pathlib import Path

import kombu.exceptions
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nameko.containers import ServiceContainer

from services.notifications.application import NotificationsStore
from services.notifications.service import NotificationsService
from shared.access import identity, password_key
from shared.bus import event_publisher, publish_event
from shared.envelope import make_envelope
from shared.settings import Settings
from tests.support import Infrastructure, free_port, signed_by, wait_until


class Authority:
    """A certificate authority of the test's own."""

    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (self._signed(self.name, self.key.public_key())
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def _signed(self, subject: x509.Name, public_key) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self.name).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1)))

    def issue(self, folder: Path, name: str) -> tuple[Path, Path]:
        """A server certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        cert = (self._signed(subject, key.public_key())
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                            x509.DNSName("localhost")]), critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file

    def write(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """PostgreSQL with ssl=on and RabbitMQ with a TLS listener (scripts/stack.sh on a run folder, ports
    and node of their own), both with a certificate the module's CA signed."""
    infra = Infrastructure(tmp_path_factory.mktemp("tls") / "run")
    certs = infra.run_dir / "tls"  # inside the run folder: the postgres user can reach it
    certs.mkdir(parents=True)
    ca, stranger = Authority("Casetrail test CA"), Authority("Someone else's CA")
    server_cert, server_key = ca.issue(certs, "server")
    amqps_port = free_port()
    (infra.run_dir / "rmq").mkdir()
    (infra.run_dir / "rmq" / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{infra.env['RABBITMQ_PORT']}\n"
        f"listeners.ssl.default = 127.0.0.1:{amqps_port}\n"
        f"ssl_options.cacertfile = {ca.write(certs / 'ca.crt')}\n"
        f"ssl_options.certfile = {server_cert}\nssl_options.keyfile = {server_key}\n"
        "ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n")
    infra("infra-start")
    try:
        pg_key = certs / "postgres.key"
        shutil.copy(server_key, pg_key)
        shutil.chown(pg_key, "postgres")
        pg_key.chmod(0o600)
        with infra.admin("postgres") as admin:
            for setting, value in (("ssl", "on"), ("ssl_cert_file", str(server_cert)), ("ssl_key_file", str(pg_key))):
                admin.execute(f"ALTER SYSTEM SET {setting} = '{value}'")
        # A restart, not a reload: another pytest session may have closed /tmp/pytest-of-root to the
        # postgres user since, and stack.sh opens the way again at every start.
        infra("postgres-stop")
        infra("postgres-start")
        with infra.admin("postgres") as admin:
            assert admin.execute("SHOW ssl").fetchone()[0] == "on"
        secrets = infra.secrets()
        yield {"infra": infra, "ca": certs / "ca.crt", "stranger": stranger.write(certs / "stranger.crt"),
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
    monkeypatch.setenv("AMQP_CA_FILE", str(tls["ca"]))


def test_a_store_connects_to_postgresql_over_verified_tls(as_notifications, tls, monkeypatch):
    store = NotificationsStore(Settings.for_service("notifications"))
    try:
        with store.transaction() as curs:
            curs.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert curs.fetchone()["ssl"] is True
    finally:
        store.close()
    monkeypatch.setenv("PGSSLROOTCERT", str(tls["stranger"]))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        NotificationsStore(Settings.for_service("notifications"))


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
        store = NotificationsStore(Settings.for_service("notifications"))
        try:
            wait_until(lambda: known(store, "tls-user"), timeout=20, what="notifications to learn the user")
        finally:
            store.close()
    finally:
        container.stop()


def publish_as_gateway(amqp_uri: str, username: str) -> None:
    """A UserRegistered, signed as its owner the gateway (consumers believe no one else)."""
    publish_event(event_publisher(amqp_uri), registered(username), signed_by("gateway"))


def registered(username: str) -> dict:
    return make_envelope(source="gateway", event_type="UserRegistered", aggregate_id=uuid.uuid4(), aggregate_version=1,
                         occurred_at=datetime.datetime.now(datetime.UTC),
                         by={"username": "admin", "role": "admin", "correlation_id": "tls"},
                         payload={"username": username, "role": "caseworker", "supervisor": None, "provider_id": None,
                                  "email": None})


def known(store: NotificationsStore, username: str) -> bool:
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT 1 FROM {schema}.people WHERE username = %s"), (username,))
        return curs.fetchone() is not None
