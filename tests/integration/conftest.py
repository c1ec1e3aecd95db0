"""Real PostgreSQL and RabbitMQ for integration tests: reuses the ones `make up` started, or
starts them and stops them afterwards. Each session gets its own database and vhost."""
import os
import subprocess
import uuid

import psycopg
import pytest
from eventsourcing.cryptography import AESCipher

from tests.support import STACK, rabbitmqctl

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")


def _running() -> set[str]:
    out = subprocess.run([str(STACK), "status"], capture_output=True, text=True).stdout
    return {line.split(":")[0] for line in out.splitlines() if line.endswith(": running")}


@pytest.fixture(scope="session")
def infrastructure():
    before = _running()
    subprocess.run([str(STACK), "infra-start"], check=True)
    yield
    if not {"postgres", "rabbitmq"} <= before:
        subprocess.run([str(STACK), "infra-stop"], check=True)


@pytest.fixture(scope="session")
def test_env(infrastructure, tmp_path_factory):
    suffix = uuid.uuid4().hex[:8]
    dbname, vhost = f"casetrail_test_{suffix}", f"casetrail-test-{suffix}"
    port = os.environ.get("POSTGRES_PORT", "54329")
    admin = dict(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    env = {
        "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": port, "POSTGRES_DBNAME": dbname,
        "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "",
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{os.environ.get('RABBITMQ_PORT', '5673')}/{vhost}",
        "JWT_SECRET": uuid.uuid4().hex * 2, "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": "admin-test-password",
        "RELAY_POLL_SECONDS": "0.5", "CONSUMER_MAX_ATTEMPTS": "3", "CONSUMER_RETRY_DELAY": "0.1",
        "RPC_TIMEOUT_SECONDS": "2",
        "VHOST": vhost, "LOG_DIR": str(tmp_path_factory.mktemp("logs")),
        **{f"{s.upper()}_CIPHER_KEY": AESCipher.create_key(32) for s in SERVICES},
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    rabbitmqctl("delete_vhost", vhost)
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
