"""Least privilege in docker-compose.yml, as in `make up` (issue 17; Kubernetes: test_k8s.py): each service
holds only its own secrets and logins, and talks to PostgreSQL and RabbitMQ over verified TLS.
The compose `secrets` job (scripts/container-entrypoint.sh) is run here for real, and each service's
start is run as that service's uid, with a stand-in for nameko that shows what the service was given."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography import x509

from shared.access import BROKER_IDENTITIES, SERVICES, identity
from shared.secrets import own, read
from tests.unit.test_deploy import compose_config

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "scripts/container-entrypoint.sh"
CONNECTIONS = {"POSTGRES_USER", "POSTGRES_PASSWORD", "AMQP_URI"}


def uids() -> dict[str, int]:
    """Each service's uid, as the entrypoint gives its file to it."""
    return {name: int(uid) for name, uid in re.findall(r"(\w+)\) echo (\d+) ;;", ENTRYPOINT.read_text())}


def test_compose_runs_each_service_under_a_uid_of_its_own_with_tls_to_both_servers():
    services = compose_config()["services"]
    assert {name: int(services[name]["user"]) for name in SERVICES} == uids()
    assert len(set(uids().values())) == len(SERVICES)
    for name in SERVICES:
        service = services[name]
        environment = service["environment"]
        assert environment["PGSSLMODE"] == "verify-full", name
        assert environment["PGSSLROOTCERT"] == environment["AMQP_CA_FILE"] == "/secrets/tls/ca.crt", name
        assert not CONNECTIONS & set(environment), name  # its logins come from its own file only
        assert service["read_only"] and service["cap_drop"] == ["ALL"], name
        assert [v["source"] for v in service["volumes"]] == ["secrets"] and all(v["read_only"] for v in service["volumes"])
    postgres, rabbitmq = services["postgres"], services["rabbitmq"]
    assert {"ssl=on", "hba_file=/etc/casetrail/pg_hba.conf", "password_encryption=scram-sha-256"} <= set(postgres["command"])
    for server in (postgres, rabbitmq):  # its own certificate and key, none of the services' secrets
        assert "secrets" not in {v["source"] for v in server["volumes"]}
        assert "ports" not in server
    assert rabbitmq["environment"]["RABBITMQ_CONFIG_FILE"] == "/etc/casetrail/rabbitmq.conf"


def test_compose_postgresql_takes_only_tls_and_scram_over_the_network():
    rules = [line.split() for line in (ROOT / "deploy/compose/pg_hba.conf").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert not any("trust" in rule or "password" in rule or "md5" in rule for rule in rules)
    network = [rule for rule in rules if rule[0] != "local"]
    assert network == [["hostssl", "all", "all", "all", "scram-sha-256"], ["hostnossl", "all", "all", "all", "reject"]]
    broker = (ROOT / "deploy/compose/rabbitmq.conf").read_text()
    assert "listeners.tcp = none" in broker and "load_definitions" in broker


@pytest.fixture(scope="module")
def secrets_volume():
    """The compose `secrets` job, run twice (a restart), into a folder others may walk into."""
    if os.geteuid() != 0:
        pytest.skip("the secrets job hands files to other uids: run as root (as CI does)")
    folder = Path(tempfile.mkdtemp(prefix="casetrail-secrets-", dir="/tmp"))
    folder.chmod(0o755)
    env = {"SECRETS_DIR": str(folder), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    for _ in range(2):
        subprocess.run(["sh", str(ENTRYPOINT), "secrets"], cwd=ROOT, env=env, check=True, capture_output=True)
    yield folder
    shutil.rmtree(folder)


def start_as(service: str, folder: Path) -> subprocess.CompletedProcess:
    """The entrypoint starting `service` under its uid, with `nameko` replaced by `env`."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(mode=0o755, exist_ok=True)
    (bin_dir / "nameko").write_text("#!/bin/sh\nenv\n")
    (bin_dir / "nameko").chmod(0o755)
    uid = uids()[service]
    return subprocess.run(["sh", str(ENTRYPOINT)], env={"SERVICE": service, "SECRETS_DIR": str(folder),
                                                        "PATH": f"{bin_dir}:/usr/bin:/bin"},
                          cwd="/", user=uid, group=uid, capture_output=True, text=True)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_starts_with_its_own_secrets_and_logins_and_can_read_no_others(secrets_volume, service):
    started = start_as(service, secrets_volume)
    assert started.returncode == 0, started.stderr
    given = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    written = read(secrets_volume / "secrets.env")
    held = {key for key in written if key in given}
    assert held == {key for key in written if own(service, key)}
    assert held and all(given[key] == written[key] for key in held)
    login = identity("casetrail", service)
    assert given["POSTGRES_USER"] == login
    assert given["POSTGRES_PASSWORD"] == written[f"{service.upper()}_DB_PASSWORD"]
    assert given["AMQP_URI"] == f"amqps://{login}:{written[f'{service.upper()}_AMQP_PASSWORD']}@rabbitmq:5671/"
    uid = uids()[service]
    for other in [*(f"services/{s}.env" for s in SERVICES if s != service), "secrets.env", "tls/ca.key",
                  "tls/postgres.key", "tls/rabbitmq.key", "postgres/server.key", "rabbitmq/definitions.json",
                  "monitoring/postgres-password"]:
        refused = subprocess.run(["cat", str(secrets_volume / other)], user=uid, group=uid, capture_output=True)
        assert refused.returncode != 0 and not refused.stdout, other
    readable = subprocess.run(["cat", str(secrets_volume / "tls/ca.crt")], user=uid, group=uid, capture_output=True)
    assert readable.returncode == 0  # the control: what every service needs, it reads


def test_the_secrets_job_keeps_what_it_made_and_gives_the_servers_what_they_need(secrets_volume):
    lines = (secrets_volume / "secrets.env").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in lines]
    assert len(keys) == len(set(keys))  # the second run added nothing
    users = json.loads((secrets_volume / "rabbitmq/definitions.json").read_text())["users"]
    assert sorted(u["name"] for u in users) == sorted(identity("casetrail", n) for n in BROKER_IDENTITIES)
    for server in ("postgres", "rabbitmq"):
        folder = secrets_volume / server
        assert {p.name for p in folder.iterdir()} >= {"server.crt", "server.key", "ca.crt"}
        assert all(p.stat().st_uid == 999 and p.stat().st_mode & 0o077 == 0 for p in folder.iterdir())
        cert = x509.load_pem_x509_certificate((folder / "server.crt").read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        assert names == [server]
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate((secrets_volume / "tls/ca.crt").read_bytes()))
    password = (secrets_volume / "postgres/superuser-password").read_text().strip()
    assert len(password) >= 32 and f"POSTGRES_SUPERUSER_PASSWORD={password}" in lines



def test_postgres_exporter_reads_its_own_login_and_nothing_else(secrets_volume):
    """Its login (`monitoring`: pg_monitor, no service's data; shared/access.py) over verified TLS, its
    password from a file only its uid reads; no service's uid is its."""
    exporter = compose_config()["services"]["postgres-exporter"]
    uid = int(exporter["user"])
    assert uid not in uids().values()
    environment = exporter["environment"]
    assert environment["DATA_SOURCE_USER"] == identity("casetrail", "monitoring")
    assert "sslmode=verify-full" in environment["DATA_SOURCE_URI"] and "sslrootcert=/secrets/tls/ca.crt" in \
        environment["DATA_SOURCE_URI"]
    assert "DATA_SOURCE_PASS" not in environment and "DATA_SOURCE_NAME" not in environment
    assert exporter["read_only"] and exporter["cap_drop"] == ["ALL"]
    written = read(secrets_volume / "secrets.env")
    given = subprocess.run(["cat", environment["DATA_SOURCE_PASS_FILE"].replace("/secrets", str(secrets_volume))],
                           user=uid, group=uid, capture_output=True, text=True)
    assert given.returncode == 0 and given.stdout.strip() == written["MONITORING_DB_PASSWORD"]
    for other in ("secrets.env", "tls/ca.key", "postgres/server.key", *(f"services/{s}.env" for s in SERVICES)):
        refused = subprocess.run(["cat", str(secrets_volume / other)], user=uid, group=uid, capture_output=True)
        assert refused.returncode != 0 and not refused.stdout, other
