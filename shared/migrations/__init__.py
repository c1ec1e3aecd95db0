"""Versioned schema migrations (alembic) for every table the project owns, one history per service.

Each service's schema holds the shared plumbing (`positions`, `inbox`, `idempotency`, `audit_chain`,
`audit_heads`, `quarantine`), for referrals and approvals the `case_state` table, and the service's
own tables. Each of those is a history of its own, written once:

- `shared/migrations/versions/plumbing/`: the plumbing, taken by every service;
- `shared/migrations/versions/case_state/`: `case_state` (shared/case_state.py), taken by the services
  that decide access on a case's behalf (SHARED_HISTORIES);
- `services/<service>/migrations/`: the service's own tables.

A schema's `alembic_version` table (in the schema itself) holds the head it reached in each of its
histories. `upgrade(target)` brings a schema to every head, in one transaction under an advisory lock
of the schema's own, so that two instances starting together do not race: the second waits, then
finds nothing to do. A service's store calls it at every start (shared/store.py; holding that lock
while eventsourcing makes its own tables too), so `make up`,
docker compose, Kubernetes and the tests all run it; operators have `python -m shared.migrations`
(`make migrations ARGS=status`).

The tables of eventsourcing itself (`<service>_events`, snapshots, tracking) are made by the library,
whose DDL is versioned by its pinned release; they are not under these migrations.

The first revision of each history (its baseline) is the schema as the release before migrations
made it, statement by statement and in the same order (so columns keep their order: some INSERTs
name no columns), written with IF NOT EXISTS so that a database made by an earlier release is
adopted as it is, with everything in it. Later revisions are ordinary: they change what is there."""
import argparse
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.settings import MigrationCliSettings, Settings

HERE = Path(__file__).resolve().parent
SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")
# The shared histories each service's schema takes, beside its own.
SHARED_HISTORIES: dict[str, tuple[str, ...]] = {
    "cases": ("plumbing",), "referrals": ("plumbing", "case_state"), "approvals": ("plumbing", "case_state"),
    "notifications": ("plumbing",), "gateway": ("plumbing",)}
VERSION_TABLE = "alembic_version"
# One advisory lock per schema: held until the migrations commit (upgrade), or for as long as a store
# starts (serialised: its migrations, then the tables eventsourcing makes itself).
LOCK_KEY = "hashtext('casetrail.migrations'), hashtext(%(schema)s)"


@dataclass(frozen=True)
class Target:
    """A service's schema, and the login its migrations run as: the service's own, which owns the
    schema and everything in it (shared/access.py), so what a migration makes is the service's."""
    service: str
    host: str
    port: int
    dbname: str
    user: str
    password: str
    schema: str
    connect_timeout: int = 5

    @classmethod
    def of(cls, settings: "Settings | MigrationCliSettings") -> "Target":
        """From a service's Settings, or the CLI's MigrationCliSettings (the same postgres_* fields)."""
        return cls(service=settings.service, host=settings.postgres_host, port=settings.postgres_port,
                   dbname=settings.postgres_dbname, user=settings.postgres_user,
                   password=settings.postgres_password, schema=settings.postgres_schema,
                   connect_timeout=settings.postgres_connect_timeout)


def history_folder(history: str) -> Path:
    """Where a history's revisions are: a shared one's under shared/migrations/versions, a service's
    under services/<service>/migrations."""
    if history in SERVICES:
        import services
        return Path(services.__file__).resolve().parent / history / "migrations"
    return HERE / "versions" / history


def histories(service: str) -> tuple[str, ...]:
    if service not in SHARED_HISTORIES:
        raise ValueError(f"no migrations for {service!r}: one of {', '.join(SERVICES)}")
    return (*SHARED_HISTORIES[service], service)


def config(service: str):
    """The alembic configuration of one service's schema: this folder's env.py, and the folders of
    the histories the service takes."""
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(
        str(history_folder(h)).replace("%", "%%") for h in histories(service)))
    return cfg


def scripts(service: str):
    from alembic.script import ScriptDirectory
    return ScriptDirectory.from_config(config(service))


def heads(service: str) -> list[str]:
    """The newest revision of each history the service takes."""
    return sorted(scripts(service).get_heads())


def _engine(target: Target):
    import psycopg
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    def connect():
        return psycopg.connect(host=target.host, port=target.port, dbname=target.dbname, user=target.user,
                               password=target.password, connect_timeout=target.connect_timeout)
    return create_engine("postgresql+psycopg://", creator=connect, poolclass=NullPool)


@contextmanager
def serialised(target: Target) -> Iterator[None]:
    """Holds the schema's advisory lock (on a connection of its own) for the time of the block: what a
    store does at start (its migrations, and eventsourcing's CREATE TABLE IF NOT EXISTS, which races
    with itself on a new schema) is done by one instance at a time. Released when the block ends, or
    when the process dies (its connection closes)."""
    import psycopg
    with psycopg.connect(host=target.host, port=target.port, dbname=target.dbname, user=target.user,
                         password=target.password, connect_timeout=target.connect_timeout,
                         autocommit=True) as connection:
        connection.execute(f"SELECT pg_advisory_lock({LOCK_KEY})", {"schema": target.schema})
        try:
            yield
        finally:
            connection.execute(f"SELECT pg_advisory_unlock({LOCK_KEY})", {"schema": target.schema})


def upgrade(target: Target, to: str = "heads", locked: bool = False) -> list[str]:
    """Brings the target's schema to `to` (every head), in one transaction under the schema's advisory
    lock (`locked`: the caller holds it already, in `serialised`). Returns the revisions applied, oldest
    first: none when the schema was already there."""
    from alembic import command
    applied: list[str] = []
    engine = _engine(target)
    try:
        with engine.begin() as connection:
            if not locked:
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})", {"schema": target.schema})
            cfg = config(target.service)
            cfg.attributes.update(connection=connection, schema=target.schema, applied=applied)
            command.upgrade(cfg, to)
    finally:
        engine.dispose()
    return applied


@dataclass(frozen=True)
class Status:
    service: str
    schema: str
    current: list[str]  # what the schema's version table holds (empty: never migrated)
    heads: list[str]    # the newest revision of each history
    pending: list[str]  # revisions an upgrade would apply, oldest first

    def lines(self) -> list[str]:
        state = "up to date" if not self.pending else f"{len(self.pending)} pending"
        return [f"{self.service} (schema {self.schema}): {state}",
                f"  current: {', '.join(self.current) or '(none: never migrated)'}",
                f"  head:    {', '.join(self.heads)}",
                *(f"  pending: {revision}" for revision in self.pending)]


def current(target: Target) -> list[str]:
    """What the target schema's version table holds; empty where there is none yet."""
    from alembic.runtime.migration import MigrationContext
    engine = _engine(target)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table_schema": target.schema})
            return sorted(context.get_current_heads())
    finally:
        engine.dispose()


def status(target: Target) -> Status:
    script = scripts(target.service)
    now = current(target)
    done: set[str] = set()
    for revision in now:
        done.update(r.revision for r in script.iterate_revisions(revision, "base"))
    pending = [r.revision for r in reversed(list(script.walk_revisions())) if r.revision not in done]
    return Status(service=target.service, schema=target.schema, current=now, heads=sorted(script.get_heads()),
                  pending=pending)


def execute(*statements: str) -> None:
    """In a revision: runs each statement with {schema} bound to the schema being migrated (quoted)."""
    from alembic import op
    schema = op.get_context().version_table_schema
    if not schema:
        raise RuntimeError("migrations run in a service's schema: version_table_schema is not set")
    quoted = '"' + schema.replace('"', '""') + '"'
    for statement in statements:
        op.execute(statement.format(schema=quoted))


def new_revision(history: str, message: str) -> Path:
    """A new, empty revision at the end of `history` (a service, or a shared history), named
    <history>_<NNNN>_<message>.py; returns its file."""
    from alembic import command
    service = history if history in SERVICES else next(s for s, shared in SHARED_HISTORIES.items()
                                                        if history in shared)
    cfg = config(service)
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    script = scripts(service)
    number = sum(1 for r in script.walk_revisions() if r.revision.startswith(f"{history}_")) + 1
    made = command.revision(cfg, message=message, head=f"{history}@head", rev_id=f"{history}_{number:04d}",
                            version_path=str(history_folder(history)))
    if made is None or isinstance(made, list):
        raise RuntimeError("alembic made no single revision")
    return Path(made.path)


def main(argv: list[str] | None = None, settings_of: "Callable[[str], MigrationCliSettings] | None" = None,
         out: Any = None) -> int:
    """`python -m shared.migrations status|upgrade [--service S]`, `revision HISTORY -m MESSAGE`."""
    out = out or sys.stdout
    top = argparse.ArgumentParser(prog="python -m shared.migrations", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name, what in (("status", "each service's schema: its revisions, the heads, what is pending (exit 1)"),
                       ("upgrade", "bring each service's schema to every head (as the service does at start)")):
        command = commands.add_parser(name, help=what)
        command.add_argument("--service", choices=SERVICES, action="append",
                             help="this service only (repeatable); default: all five")
    revision = commands.add_parser("revision", help="write a new, empty revision for a developer to fill in")
    revision.add_argument("history", choices=(*SERVICES, "plumbing", "case_state"))
    revision.add_argument("-m", "--message", required=True)
    args = top.parse_args(argv)
    if args.command == "revision":
        print(new_revision(args.history, args.message), file=out)
        return 0
    if settings_of is None:
        from shared.settings import MigrationCliSettings
        settings_of = MigrationCliSettings.for_service
    import psycopg
    from sqlalchemy.exc import OperationalError
    pending = False
    for service in _chosen(args.service):
        target = Target.of(settings_of(service))
        try:
            if args.command == "upgrade":
                applied = upgrade(target)
                print(f"{service} (schema {target.schema}): "
                      + (f"applied {', '.join(applied)}" if applied else "nothing to do, at head"), file=out)
            else:
                found = status(target)
                pending = pending or bool(found.pending)
                print("\n".join(found.lines()), file=out)
        except (psycopg.OperationalError, OperationalError) as exc:
            print(f"{service}: cannot reach the database as {target.user}: {str(exc).splitlines()[0]}",
                  file=sys.stderr)
            return 3
    return 1 if pending else 0


def _chosen(services: Iterable[str] | None) -> list[str]:
    return list(dict.fromkeys(services)) if services else list(SERVICES)
