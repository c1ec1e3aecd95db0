"""The migration histories (shared/migrations), read without a database: one linear history each, the
shared ones written once, baselines that adopt what an earlier release made, and the CLI's logins."""
import re
from pathlib import Path

import pytest

from shared import migrations
from shared.settings import MigrationCliSettings, Settings


@pytest.mark.parametrize("service", migrations.SERVICES)
def test_each_service_takes_the_plumbing_its_own_history_and_one_head_in_each(service):
    script = migrations.scripts(service)
    revisions = list(script.walk_revisions())
    histories = migrations.histories(service)
    assert histories[0] == "plumbing" and histories[-1] == service
    heads = script.get_heads()
    assert len(heads) == len(histories)  # one head per history: none forked
    for history in histories:
        own = sorted(r.revision for r in revisions if r.revision.startswith(f"{history}_"))
        # <history>_0001, _0002, ...: numbered without gaps, each revising the one before it
        assert own == [f"{history}_{n:04d}" for n in range(1, len(own) + 1)], own
        for number, revision in enumerate(own, start=1):
            script_ = script.get_revision(revision)
            assert script_ is not None
            assert script_.down_revision == (None if number == 1 else f"{history}_{number - 1:04d}")
            # The history's label is declared by its first revision only (alembic then gives it to the rest).
            declared = script_.module.branch_labels
            assert (set(declared or ()) == {history}) == (number == 1), (revision, declared)
            assert migrations.history_folder(history) in Path(script_.path).parents


def test_the_shared_histories_are_written_once():
    for history in ("plumbing", "case_state"):
        files = sorted(p.name for p in migrations.history_folder(history).glob("*.py") if p.name != "__init__.py")
        assert files and all(name.startswith(f"{history}_") for name in files)
    for service in migrations.SERVICES:
        assert not list(migrations.history_folder(service).glob("plumbing_*.py"))
        assert not list(migrations.history_folder(service).glob("case_state_*.py"))


def baseline_statements(history: str, monkeypatch) -> list[str]:
    import importlib
    made: list[str] = []
    [path] = migrations.history_folder(history).glob(f"{history}_0001_*.py")
    module = importlib.import_module(".".join(path.relative_to(migrations.HERE.parents[1]).with_suffix("").parts))
    monkeypatch.setattr(module, "execute", lambda *statements: made.extend(statements), raising=False)
    module.upgrade()
    return made


@pytest.mark.parametrize("history", ("plumbing", "case_state", *migrations.SERVICES))
def test_a_baseline_adopts_what_an_earlier_release_made(history, monkeypatch):
    """Every statement of a baseline is one that finds its object already there and leaves it as it is."""
    adopting = re.compile(r"^(CREATE (TABLE|INDEX|SEQUENCE) IF NOT EXISTS |ALTER TABLE \{schema\}\.\w+ ADD COLUMN IF NOT EXISTS )")
    statements = baseline_statements(history, monkeypatch)
    assert history == "gateway" or statements
    for statement in statements:
        assert adopting.match(statement), statement
        assert "{schema}." in statement  # always in the service's schema


def test_a_statement_is_run_in_the_schema_being_migrated_quoted(monkeypatch):
    ran: list[str] = []

    class Context:
        version_table_schema = 'odd"schema'

    from alembic import op
    monkeypatch.setattr(op, "get_context", lambda: Context(), raising=False)
    monkeypatch.setattr(op, "execute", ran.append, raising=False)
    migrations.execute("CREATE TABLE IF NOT EXISTS {schema}.t (x int)")
    assert ran == ['CREATE TABLE IF NOT EXISTS "odd""schema".t (x int)']


def test_the_cli_connects_to_each_schema_as_that_services_own_login():
    environ = {"POSTGRES_USER": "someone", "POSTGRES_PASSWORD": "theirs", "CASES_DB_USER": "casetrail_cases",
               "CASES_DB_PASSWORD": "cases-password", "CASES_POSTGRES_SCHEMA": "cases_here", "POSTGRES_DBNAME": "db"}
    cases = migrations.Target.of(MigrationCliSettings.for_service("cases", environ))
    assert (cases.user, cases.password, cases.schema, cases.dbname) == ("casetrail_cases", "cases-password",
                                                                        "cases_here", "db")
    # A service's own process (its per-service secrets: POSTGRES_USER and POSTGRES_PASSWORD are its own).
    referrals = migrations.Target.of(MigrationCliSettings.for_service("referrals", environ))
    assert (referrals.user, referrals.password, referrals.schema) == ("someone", "theirs", "referrals")
    assert MigrationCliSettings.for_service("gateway", {}).postgres_user == "casetrail_gateway"


def test_a_store_migrates_its_schema_with_its_own_settings():
    settings = Settings.for_service("approvals", {"APPROVALS_CIPHER_KEY": "k", "POSTGRES_USER": "casetrail_approvals",
                                                  "POSTGRES_PASSWORD": "p", "APPROVALS_POSTGRES_SCHEMA": "appr"})
    target = migrations.Target.of(settings)
    assert (target.service, target.user, target.password, target.schema) == ("approvals", "casetrail_approvals",
                                                                             "p", "appr")
    with pytest.raises(ValueError):
        migrations.histories("billing")
