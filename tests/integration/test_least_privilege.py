"""Least privilege inside, on the real PostgreSQL and RabbitMQ: each service's login reaches its
own schema, queues and events and nothing else (shared/access.py); the superuser and guest are
out of reach over the network. The session's logins have exactly the rights `make up` gives."""
import uuid

import amqp.exceptions
import psycopg
import pytest
from kombu import Connection, Exchange, Queue

from shared import quarantine_cli
from shared.bus import EXCHANGE, REQUEUE
from tests.support import rabbitmqctl

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")


def login(test_env: dict, name: str, **options) -> psycopg.Connection:
    return psycopg.connect(host=test_env["POSTGRES_HOST"], port=test_env["POSTGRES_PORT"],
                           dbname=test_env["POSTGRES_DBNAME"], user=test_env[f"{name.upper()}_DB_USER"],
                           password=test_env[f"{name.upper()}_DB_PASSWORD"], autocommit=True, **options)


def publish(amqp_uri: str, exchange: str, routing_key: str) -> None:
    """With publisher confirms, so that a refusal (the broker closes the channel) surfaces here."""
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish({"forged": True}, exchange=exchange, routing_key=routing_key, retry=False)


def refused(action) -> str:
    with pytest.raises(amqp.exceptions.AccessRefused) as error:
        action()
    assert "ACCESS_REFUSED" in str(error.value)
    return str(error.value)


@pytest.fixture(scope="module")
def probe(test_env, identities):
    """A vhost where every session login has its usual rights and nothing runs: what a login may
    publish goes nowhere, so no running service is handed a forged event."""
    bus = identities.add_vhost(f"{test_env['VHOST']}-probe-{uuid.uuid4().hex[:6]}")
    with Connection(bus["AMQP_URI"]) as conn:  # the harness makes a service's queue to aim at
        Queue("casetrail.referrals.consent_changed", exchange=Exchange(EXCHANGE.name, type="topic", passive=True),
              routing_key="ConsentRecorded", durable=True)(conn.channel()).declare()
    yield {name: identities.amqp_uri(name, bus["VHOST"]) for name in (*SERVICES, "quarantine")}
    rabbitmqctl("delete_vhost", bus["VHOST"])


def test_a_service_role_cannot_read_another_services_schema(system, test_env):
    with login(test_env, "referrals") as referrals:
        assert referrals.execute("SELECT count(*) FROM referrals.referrals_events").fetchone()[0] >= 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema cases"):
            referrals.execute("SELECT count(*) FROM cases.cases_events")
    with login(test_env, "notifications") as notifications:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema gateway"):
            notifications.execute("SELECT count(*) FROM gateway.gateway_events")


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_role_owns_its_schema_and_cannot_create_one_or_use_public(system, test_env, service):
    with login(test_env, service) as conn:
        owner = conn.execute("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s", (service,))
        assert owner.fetchone()[0] == test_env[f"{service.upper()}_DB_USER"]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"CREATE SCHEMA {service}_elsewhere")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.smuggled (x int)")
        rights = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        assert rights.fetchone() == (False, False, False)


def test_the_audit_login_acts_as_the_cases_role_and_reads_no_other_schema(system, test_env):
    with login(test_env, "audit") as audit:
        assert audit.execute("SELECT session_user::text, current_user::text").fetchone() == (
            test_env["AUDIT_DB_USER"], test_env["CASES_DB_USER"])
        audit.execute("SELECT count(*) FROM cases.cases_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema referrals"):
            audit.execute("SELECT count(*) FROM referrals.referrals_events")


def test_the_quarantine_login_reads_quarantine_tables_and_nothing_else(system, test_env, identities, monkeypatch):
    identities.grant_quarantine(test_env["POSTGRES_DBNAME"])
    with login(test_env, "quarantine") as quarantine:
        for service in SERVICES:
            quarantine.execute(f"SELECT count(*) FROM {service}.quarantine")
            allowed = quarantine.execute("SELECT has_table_privilege(%s, 'UPDATE')", (f"{service}.quarantine",))
            assert allowed.fetchone()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            quarantine.execute("SELECT count(*) FROM cases.cases_events")
    monkeypatch.setenv("POSTGRES_USER", test_env["QUARANTINE_DB_USER"])
    monkeypatch.setenv("POSTGRES_PASSWORD", test_env["QUARANTINE_DB_PASSWORD"])
    assert quarantine_cli.main(["list"]) == 0


def test_the_monitoring_login_reads_the_servers_statistics_and_no_service_data(system, test_env):
    """postgres_exporter's login: pg_monitor (every session's state, the settings, database sizes), nothing more."""
    with login(test_env, "monitoring") as monitoring:
        others = monitoring.execute("SELECT count(*) FROM pg_stat_activity WHERE usename <> current_user"
                                    " AND state IS NOT NULL").fetchone()[0]
        assert others > 0  # pg_monitor sees the services' sessions, not only its own
        assert int(monitoring.execute("SELECT setting FROM pg_settings WHERE name = 'max_connections'").fetchone()[0])
        for service in SERVICES:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"schema {service}"):
                monitoring.execute(f"SELECT count(*) FROM {service}.{service}_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            monitoring.execute("CREATE TABLE public.kept (x int)")


def test_the_superuser_is_not_reachable_over_tcp(test_env):
    for password in (None, "", "postgres"):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(host="127.0.0.1", port=test_env["POSTGRES_PORT"], dbname="postgres", user="postgres",
                            password=password, connect_timeout=5).close()


def test_guest_cannot_log_in(identities):
    with pytest.raises(amqp.exceptions.AccessRefused):
        Connection(f"pyamqp://guest:guest@127.0.0.1:{identities.amqp_port}/", connect_timeout=5).connect()


def test_only_the_owner_of_an_event_may_publish_it(probe):
    message = refused(lambda: publish(probe["cases"], EXCHANGE.name, "ReferralAccepted"))
    assert "ReferralAccepted" in message
    publish(probe["referrals"], EXCHANGE.name, "ReferralAccepted")
    publish(probe["cases"], EXCHANGE.name, "CaseRegistered")
    for forger, decision in (("cases", "CasePlanApproved"), ("referrals", "ClosureApproved"),
                             ("notifications", "ConsentRecorded"), ("gateway", "ConsentWithdrawn")):
        refused(lambda: publish(probe[forger], EXCHANGE.name, decision))


def test_a_service_calls_only_the_services_it_calls(probe):
    refused(lambda: publish(probe["notifications"], "nameko-rpc", "cases.get_case"))
    refused(lambda: publish(probe["referrals"], "nameko-rpc", "approvals.decide"))
    refused(lambda: publish(probe["cases"], "nameko-rpc", "referrals.list_referrals"))
    publish(probe["referrals"], "nameko-rpc", "cases.open_texts")
    publish(probe["gateway"], "nameko-rpc", "cases.get_case")


def test_no_way_around_the_exchanges(probe):
    """The default exchange reaches any queue by name; a service's login may not publish there, nor
    read, bind or put back messages into another service's queues."""
    refused(lambda: publish(probe["cases"], "", "casetrail.referrals.consent_changed"))
    refused(lambda: publish(probe["cases"], REQUEUE.name, "casetrail.referrals.consent_changed"))
    with Connection(probe["cases"]) as conn:
        refused(lambda: Queue("casetrail.referrals.consent_changed", no_declare=True)(conn.channel()).get())
    with Connection(probe["cases"]) as conn:  # its own queue, bound to another service's RPC requests
        queue = Queue("casetrail.cases.eavesdrop", exchange=Exchange("nameko-rpc", type="topic", passive=True),
                      routing_key="referrals.*", auto_delete=True)
        refused(lambda: queue(conn.channel()).declare())
    with Connection(probe["cases"]) as conn:  # nor delete the events exchange
        refused(lambda: conn.channel().exchange_delete(EXCHANGE.name))


def test_the_quarantine_login_only_hands_events_back_to_a_consumers_queue(probe):
    publish(probe["quarantine"], REQUEUE.name, "casetrail.referrals.consent_changed")
    refused(lambda: publish(probe["quarantine"], EXCHANGE.name, "ConsentRecorded"))
    refused(lambda: publish(probe["quarantine"], "", "casetrail.referrals.consent_changed"))
    refused(lambda: publish(probe["quarantine"], "nameko-rpc", "cases.get_case"))
