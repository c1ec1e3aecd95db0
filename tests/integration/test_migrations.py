"""Versioned schema migrations (shared/migrations) on the real PostgreSQL: the running services'
schemas are at every head and a second start applies nothing; two instances starting together on a
new schema apply each revision once; and a database made by the previous release (commit 8ddedab,
tests/integration/previous_release: a pg_dump made by make_dump.py, with the test-only keys it was
made with) is upgraded by this code and then reads back through the services exactly as that
release answered, with every row of every table kept."""
import gzip
import json
import subprocess
import uuid
from datetime import datetime
from pathlib import Path

import eventlet
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from shared import migrations, secrets
from shared.access import grant_quarantine, provision_database
from shared.organisations import FIRST
from shared.settings import MigrationCliSettings, Settings
from shared.times import shown
from tests.support import (
    RUN_DIR,
    Api,
    ServiceProcess,
    admin_connection,
    database,
    rabbitmqctl,
    service_env,
    wait_until,
)

SERVICES = migrations.SERVICES
PREVIOUS = Path(__file__).parent / "previous_release"
DUMP = PREVIOUS / "casetrail-8ddedab.sql.gz"


def every_revision(service: str) -> list[str]:
    return sorted(r.revision for r in migrations.scripts(service).walk_revisions())


def cli(env: dict, *argv: str) -> tuple[int, str]:
    lines: list[str] = []

    class Out:
        def write(self, text):
            lines.append(text)
    code = migrations.main(list(argv), settings_of=lambda s: MigrationCliSettings.for_service(s, env), out=Out())
    return code, "".join(lines)


def test_the_running_services_schemas_are_at_every_head_and_a_second_start_applies_nothing(system, test_env):
    for service in SERVICES:
        target = migrations.Target.of(MigrationCliSettings.for_service(service, test_env))
        assert target.user == test_env[f"{service.upper()}_DB_USER"]  # the service's own login
        assert migrations.current(target) == migrations.heads(service)
        assert migrations.status(target).pending == []
    with database(test_env) as conn:  # the version table is the service's, in its schema
        owners = conn.execute("SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'alembic_version'"
                              " AND schemaname = ANY(%s)", (list(SERVICES),)).fetchall()
    assert sorted(owners) == sorted((s, test_env[f"{s.upper()}_DB_USER"]) for s in SERVICES)

    code, out = cli(test_env, "status")
    assert code == 0 and out.count("up to date") == 5, out
    code, out = cli(test_env, "upgrade", "--service", "referrals")
    assert code == 0 and out.strip() == "referrals (schema referrals): nothing to do, at head", out

    from services.cases.application import Cases
    from services.cases.settings import CasesSettings
    again = Cases(CasesSettings.from_env())  # another instance of the cases service starting
    try:
        assert again.migrations_applied == []
    finally:
        again.close()


def test_two_instances_starting_together_on_a_new_schema_apply_each_revision_once(test_env, monkeypatch):
    from services.referrals.application import Referrals
    schema = f"referrals_{uuid.uuid4().hex[:8]}"  # a schema of its own, which the first to start makes
    monkeypatch.setenv("REFERRALS_POSTGRES_SCHEMA", schema)
    settings = Settings.for_service("referrals")
    target = migrations.Target.of(settings)
    starting = [eventlet.spawn(Referrals, settings) for _ in range(2)]
    stores = [thread.wait() for thread in starting]
    try:
        applied = [store.migrations_applied for store in stores]
        assert sorted(applied, key=len) == [[], applied[0] or applied[1]]  # one applied, the other waited
        assert sorted(applied[0] + applied[1]) == every_revision("referrals")  # every revision, once
        assert migrations.current(target) == migrations.heads("referrals")
        with database(test_env) as conn:
            tables = {t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))}
        assert {"positions", "inbox", "idempotency", "audit_chain", "audit_heads", "quarantine", "case_state",
                "providers", "referral_index", "consent", "referral_cases", "alembic_version",
                "referrals_events"} <= tables
    finally:
        for store in stores:
            store.close()


# --- a database made by the previous release ------------------------------------------------------

def catalog_and_rows(env: dict, dbname: str) -> tuple[dict, dict, dict]:
    """Every column (with type, nullability, default, position), index and sequence of the five schemas,
    and every row of every table but the version table, as the harness reads them."""
    with psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], dbname=dbname,
                         user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"]) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, ordinal_position, column_name, data_type, is_nullable, column_default"
            " FROM information_schema.columns WHERE table_schema = ANY(%s) AND table_name <> 'alembic_version'"
            " ORDER BY 1, 2, 3", (list(SERVICES),)).fetchall()
        indexes = conn.execute("SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname = ANY(%s)"
                               " AND tablename <> 'alembic_version' ORDER BY 1, 2", (list(SERVICES),)).fetchall()
        sequences = conn.execute("SELECT schemaname, sequencename, last_value FROM pg_sequences"
                                 " WHERE schemaname = ANY(%s) ORDER BY 1, 2", (list(SERVICES),)).fetchall()
        tables = conn.execute("SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s)"
                              " AND tablename <> 'alembic_version' ORDER BY 1, 2", (list(SERVICES),)).fetchall()
        rows = {f"{s}.{t}": conn.cursor(row_factory=dict_row).execute(sql.SQL("SELECT * FROM {}.{}").format(
            sql.Identifier(s), sql.Identifier(t))).fetchall() for s, t in tables}
    return {"columns": columns, "indexes": indexes}, {"sequences": sequences}, rows


def kept(before: tuple, after: tuple) -> None:
    """Everything of `before` is in `after` as it was: each column (at its place, of its type), index and
    sequence, and each table's rows, read by the columns they had. Later revisions may add to them."""
    assert set(before[0]["columns"]) <= set(after[0]["columns"])
    assert set(before[0]["indexes"]) <= set(after[0]["indexes"])
    assert set(before[1]["sequences"]) <= set(after[1]["sequences"])  # case numbers where they were
    for table, rows in before[2].items():
        names = list(rows[0]) if rows else []
        def seen(found: list[dict]) -> list[str]:
            return sorted(repr(tuple(row[name] for name in names)) for row in found)
        assert seen(after[2][table]) == seen(rows), table


@pytest.fixture
def previous_release(test_env, identities):
    """A database restored from the previous release's dump by the superuser, then provisioned as
    `make up` provisions an installation (each service's role owns its schema and everything in it)."""
    dbname = f"{identities.databases[0]}_prev_{uuid.uuid4().hex[:6]}"
    with admin_connection("postgres", identities.postgres_port) as admin:
        admin.execute(f'CREATE DATABASE "{dbname}" OWNER "{identities.login("harness")}"')
    identities.databases.append(dbname)  # dropped with the session's
    subprocess.run(["psql", "-h", str(RUN_DIR / "pgsock"), "-p", str(identities.postgres_port), "-U", "postgres",
                    "-d", dbname, "-v", "ON_ERROR_STOP=1", "-q", "-o", "/dev/null"],
                   input=gzip.decompress(DUMP.read_bytes()), check=True, capture_output=True)
    with admin_connection(dbname, identities.postgres_port) as admin:
        provision_database(admin, dbname, identities.roles(), {s: s for s in SERVICES})
        for service in SERVICES:
            admin.execute(f'GRANT "{identities.login(service)}" TO "{identities.login("harness")}"')
        grant_quarantine(admin, identities.login("quarantine"), SERVICES)
    return dbname


def test_a_database_made_by_the_previous_release_is_upgraded_and_nothing_is_lost(test_env, identities,
                                                                                 previous_release, tmp_path):
    env = dict(test_env, POSTGRES_DBNAME=previous_release)
    before = catalog_and_rows(env, previous_release)
    filled = {table for table, rows in before[2].items() if rows}  # real data, in every kind of table
    assert {"cases.cases_events", "cases.audit_chain", "cases.audit_heads", "cases.case_index", "cases.case_keys",
            "cases.case_referrals", "referrals.referral_index", "referrals.consent",
            "referrals.case_state", "referrals.quarantine", "approvals.approval_queue", "approvals.quarantine",
            "notifications.inbox_items", "notifications.people", "notifications.webhooks",
            "notifications.delivery_attempts", "notifications.quarantine", "gateway.gateway_events"} <= filled

    code, out = cli(env, "status")
    assert code == 1 and out.count("never migrated") == 5, out
    code, out = cli(env, "upgrade")
    assert code == 0, out
    for service in SERVICES:
        assert f"{service} (schema {service}): applied " in out
        target = migrations.Target.of(MigrationCliSettings.for_service(service, env))
        assert migrations.current(target) == migrations.heads(service)
    after = catalog_and_rows(env, previous_release)
    kept(before, after)
    # What later revisions added is only what they say; what was there before organisations (issue 19)
    # is the first organisation's.
    added = {(c[0], c[1], c[3]) for c in set(after[0]["columns"]) - set(before[0]["columns"])}
    assert {(s, t, c) for s, t, c in added if t not in ("organisations", "sessions", "login_failures", "user_list",
                                                             "idempotent_answers", "case_changes",
                                                             "case_departures", "master_key_rotations")} == {
        ("cases", "case_index", "organisation"), ("cases", "case_keys", "master_key_id"), ("approvals", "approval_queue", "organisation"),
        ("approvals", "case_state", "organisation"), ("referrals", "case_state", "organisation"),
        ("notifications", "people", "active"), ("notifications", "people", "details_version"),
        ("notifications", "people", "active_version")}
    for table in ("cases.case_index", "approvals.approval_queue", "approvals.case_state", "referrals.case_state"):
        assert after[2][table] and {str(row["organisation"]) for row in after[2][table]} == {str(FIRST)}, table

    # The services of this release on the upgraded database, with the keys the previous one ran with.
    keys = secrets.read(PREVIOUS / "keys.env")
    vhost = f"{test_env['VHOST']}-prev-{uuid.uuid4().hex[:6]}"
    identities.add_vhost(vhost)
    env.update(keys, VHOST=vhost, AMQP_URI=identities.amqp_uri("harness", vhost), LOG_DIR=str(tmp_path),
               **{f"{name.upper()}_AMQP_URI": identities.amqp_uri(name, vhost) for name in (*SERVICES, "quarantine")})
    processes: list[ServiceProcess] = []
    try:
        for name in SERVICES:
            processes.append(ServiceProcess(name, service_env(env), tmp_path).start())
        reads_back_as_the_previous_release(Api(processes[-1].url), keys,
                                           json.loads((PREVIOUS / "expected.json").read_text()))
    finally:
        for process in reversed(processes):
            process.stop()
        rabbitmqctl("delete_vhost", vhost)
    for service in SERVICES:  # their start found nothing to do
        assert migrations.status(migrations.Target.of(MigrationCliSettings.for_service(service, env))).pending == []


def as_this_release_answers(expected: dict) -> dict:
    """What the previous release answered, as this one writes it (issue 20): every time in UTC with Z,
    and the approval queue oldest first (a stable order to page in), no longer pending first."""
    expected = in_utc(expected)
    expected["approvals"] = {who: {**queue, "items": sorted(queue["items"], key=lambda item: (
        datetime.fromisoformat(item["requested_at"]), item["id"]))} for who, queue in expected["approvals"].items()}
    return expected


def in_utc(value):
    if isinstance(value, dict):
        return {key: in_utc(item) for key, item in value.items()}
    if isinstance(value, list):
        return [in_utc(item) for item in value]
    return shown(value) if isinstance(value, str) else value


def reads_back_as_the_previous_release(api: Api, keys: dict, expected: dict) -> None:
    expected = as_this_release_answers(expected)
    password = "a-long-enough-password"
    people = {"admin": api.login("admin", keys["ADMIN_PASSWORD"]),
              **{u: api.login(u, password) for u in ("sup1", "sup2", "cw1", "cw2", "cw3", "aud1", "clinic1")}}

    def get(user: str, path: str) -> dict:
        response = people[user].get(path)
        assert response.status_code == 200, (user, path, response.text)
        return response.json()

    # Each user as that release showed them, with what this one adds: the organisation (the first for
    # everyone but the admin), active, and no password change asked of them.
    me = {u: get(u, "/v1/users/me") for u in people}
    assert {u: {k: v for k, v in shown.items() if k in expected["me"][u]} for u, shown in me.items()} == expected["me"]
    assert {u: (shown["organisation"], shown["active"], shown["password_change_required"]) for u, shown in me.items()} == {
        u: (None if u == "admin" else str(FIRST), True, False) for u in people}
    cases, holders = expected["cases"], expected["holders"]
    for key, case_id in cases.items():
        assert get(holders[key], f"/v1/cases/{case_id}") == expected["case"][key], key
    for key, answer in expected["referrals"].items():
        assert get(holders[key], f"/v1/cases/{cases[key]}/referrals") == answer, key
    assert {u: get(u, "/v1/cases") for u in expected["lists"]} == expected["lists"]
    # The changes feed (issue 20) follows the log from its start: each one's cases, as their list shows them.
    for user, listed in expected["lists"].items():
        wait_until(lambda: {(i["case_id"], i["version"], i["change"]) for i in get(user, "/v1/changes")["items"]} == {
            (case["id"], case["version"], "updated") for case in listed["items"]}, what=f"{user}'s changes feed")
    assert {u: get(u, "/v1/approvals") for u in expected["approvals"]} == expected["approvals"]
    assert get("clinic1", "/v1/referrals") == expected["provider_referrals"]
    assert {u: get(u, "/v1/notifications") for u in expected["inbox"]} == expected["inbox"]
    assert get("admin", "/v1/webhooks") == expected["webhooks"]
    # Deliveries queued in one transaction share their created_at: the previous release left their order to
    # chance, this one breaks the tie by id.
    deliveries = get("admin", f"/v1/webhooks/{expected['webhook']}/deliveries")
    assert sorted(deliveries["items"], key=lambda d: d["id"]) == sorted(expected["deliveries"]["items"],
                                                                          key=lambda d: d["id"])
    assert deliveries["next_cursor"] == expected["deliveries"]["next_cursor"]
    assert get("admin", "/v1/providers") == expected["providers"]
    assert get("admin", "/v1/approval-policy") == expected["approval_policy"]
    for key, case_id in cases.items():
        # Every event the previous release recorded, in order; after them only this test's own reads.
        history = get("aud1", f"/v1/cases/{case_id}/history")
        old = expected["history"][key]["items"]
        assert history["items"][:len(old)] == old, key
        assert {item["type"] for item in history["items"][len(old):]} <= {"CaseViewed"}, key
        verdict = get("aud1", f"/v1/cases/{case_id}/verify")
        assert verdict["valid"] is True and verdict["events"] > expected["verify"][key]["events"], (key, verdict)

    # And the upgraded installation goes on working: the plan waiting since the previous release is approved.
    waiting = [item for item in expected["approvals"]["sup1"]["items"] if item["status"] == "pending"]
    assert [item["case_id"] for item in waiting] == [cases["b"]]
    answer = people["sup1"].post(f"/v1/approvals/{waiting[0]['id']}/decision", {"decision": "approve"})
    assert answer.status_code == 200, answer.text
    wait_until(lambda: get("cw2", f"/v1/cases/{cases['b']}")["stage"] == "implementation", what="the plan approved")
