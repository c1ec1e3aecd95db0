"""Least privilege inside: each service's RabbitMQ user and PostgreSQL role, no wider than its
own code needs, read from that code: the events it owns (shared/envelope.py OWNERS), the services
it calls (its RpcProxy dependencies), the events it listens to (its @on_event handlers) and whether
it serves RPC. The two operator CLIs have identities of their own: `audit` (the cases service's
database rights, under a login of its own) and `quarantine` (each service's quarantine table, and
handing an event back to its consumer's queue); so does the metrics exporter, `monitoring`
(PostgreSQL's built-in pg_monitor: statistics and settings, no table of any service).

scripts/stack.sh applies this at every start (`python -m shared.access broker|database`); the
integration tests apply it under names of their own (tests/integration/conftest.py)."""
import argparse
import importlib
import inspect
import json
import sys
from dataclasses import dataclass, field

from psycopg import sql

from shared.envelope import events_of
from shared.settings import ProvisionSettings

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")
DATABASE_IDENTITIES = (*SERVICES, "audit", "quarantine", "monitoring")
BROKER_IDENTITIES = (*SERVICES, "quarantine")

EVENTS, RPC, REQUEUE = "casetrail.events", "nameko-rpc", "casetrail.requeue"
EXCHANGES = (EVENTS, RPC, REQUEUE)  # all topic exchanges, declared by the administrator
NOTHING = "^$"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # a caller's reply queue key (nameko)
METHOD = "[A-Za-z_][A-Za-z0-9_]*"
WORD = "[A-Za-z0-9_]+"  # a queue name's parts: never a wildcard


def identity(prefix: str, name: str) -> str:
    """The login of an identity (`casetrail_cases`): the same name on the broker and in the database."""
    return f"{prefix}_{name}"


def password_key(name: str, server: str) -> str:
    """Where an identity's password is kept in the secrets file: CASES_DB_PASSWORD, CASES_AMQP_PASSWORD.
    Never CASES_POSTGRES_PASSWORD: eventsourcing reads <APPLICATION>_POSTGRES_* before POSTGRES_*, so
    such a key would override whatever login a process was given."""
    return f"{name.upper()}_{server}_PASSWORD"


@dataclass(frozen=True)
class Surface:
    """What a service's code does on the bus."""
    service: str
    serves_rpc: bool
    calls: tuple[str, ...]
    listens: tuple[str, ...]
    publishes: tuple[str, ...]


def surface(service: str) -> Surface:
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
    from nameko.rpc import Rpc, RpcProxy

    from shared.consumer import EventConsumer
    module = importlib.import_module(f"services.{service}.service")
    cls = getattr(module, f"{service.capitalize()}Service")
    entrypoints = [e for _, method in inspect.getmembers(cls, inspect.isfunction)
                   for e in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ())]
    return Surface(
        service=service,
        serves_rpc=any(isinstance(e, Rpc) for e in entrypoints),
        calls=tuple(sorted({d.target_service for _, d in inspect.getmembers(cls) if isinstance(d, RpcProxy)})),
        listens=tuple(sorted({t for e in entrypoints if isinstance(e, EventConsumer) for t in e.event_types})),
        publishes=events_of(service))


def any_of(*patterns: str) -> str:
    return f"^({'|'.join(patterns)})$" if patterns else NOTHING


@dataclass(frozen=True)
class BrokerGrant:
    """RabbitMQ permissions of one user in one vhost: regexes over queue and exchange names, and per
    topic exchange over routing keys (write: what it may publish; read: what it may bind a queue to).
    A topic exchange without an entry would be open to every key: each one the user reaches has one."""
    user: str
    configure: str
    write: str
    read: str
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)


def service_grant(service: str, user: str) -> BrokerGrant:
    s = surface(service)
    own = [f"casetrail\\.{service}\\..+"] if s.listens else []  # its handlers' queues (shared/consumer.py)
    rpc_queue = [f"rpc-{service}"] if s.serves_rpc else []
    reply_queue = [f"rpc\\.reply-{service}-{UUID}"] if s.calls else []
    uses_rpc = bool(s.serves_rpc or s.calls)
    # nameko declares its RPC exchange (not passively) at every start, so it needs configure on it;
    # the events and requeue exchanges are only looked up: no service can delete them.
    rpc = ["nameko-rpc"] if uses_rpc else []
    requeue = ["casetrail\\.requeue"] if s.listens else []
    queues = own + rpc_queue + reply_queue
    topics = {}
    if uses_rpc:
        topics[RPC] = (any_of(*(f"{target}\\.{METHOD}" for target in s.calls), *([UUID] if s.serves_rpc else [])),
                       any_of(*([f"{service}\\.\\*"] if s.serves_rpc else []), *([UUID] if s.calls else [])))
    if s.publishes or s.listens:
        topics[EVENTS] = (any_of(*s.publishes), any_of(*s.listens))
    if s.listens:
        own_keys = f"^casetrail\\.{service}(\\.{WORD})+$"
        topics[REQUEUE] = (own_keys, own_keys)
    return BrokerGrant(
        user=user, configure=any_of(*queues, *rpc),
        write=any_of(*queues, *rpc, *(["casetrail\\.events"] if s.publishes else []), *requeue),
        read=any_of(*queues, *rpc, *(["casetrail\\.events"] if s.listens else []), *requeue),
        topics=topics)


def quarantine_grant(user: str) -> BrokerGrant:
    """The quarantine CLI hands a bus event back to the consumer's queue it came from, and nothing else."""
    handlers = f"^casetrail\\.({'|'.join(SERVICES)})(\\.{WORD})+$"
    return BrokerGrant(user=user, configure=NOTHING, write=any_of("casetrail\\.requeue"), read=NOTHING,
                       topics={REQUEUE: (handlers, NOTHING)})


def full_grant(user: str) -> BrokerGrant:
    """Every right in a vhost: for the tests' own identity, which forges events on purpose."""
    return BrokerGrant(user=user, configure=".*", write=".*", read=".*")


def broker_grants(prefix: str) -> list[BrokerGrant]:
    return [*(service_grant(s, identity(prefix, s)) for s in SERVICES),
            quarantine_grant(identity(prefix, "quarantine"))]


def broker_definitions(vhost: str, grants: list[BrokerGrant], passwords: dict[str, str]) -> dict:
    """For `rabbitmqctl import_definitions`: users, their permissions and topic permissions in the
    vhost, and the exchanges. Importing again updates them (passwords included)."""
    return {
        "users": [{"name": g.user, "password": passwords[g.user], "tags": ""} for g in grants],
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": g.user, "vhost": vhost, "configure": g.configure, "write": g.write,
                         "read": g.read} for g in grants],
        "topic_permissions": [{"user": g.user, "vhost": vhost, "exchange": exchange, "write": write, "read": read}
                              for g in grants for exchange, (write, read) in g.topics.items()],
        "exchanges": [{"name": name, "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}} for name in EXCHANGES],
    }


@dataclass(frozen=True)
class Role:
    name: str
    password: str


def provision_database(admin, dbname: str, roles: dict[str, Role], schemas: dict[str, str]) -> None:
    """As the superuser, connected to `dbname` (autocommit): a login role per identity with a SCRAM
    password, each service role owning its schema (and everything in it, for an installation whose
    schemas the superuser made), no rights on `public`, on other schemas or to create a schema."""
    admin.execute("SET password_encryption = 'scram-sha-256'")
    database = sql.Identifier(dbname)
    for role in roles.values():
        ensure_role(admin, role)
    admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
    admin.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    for role in roles.values():
        admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, sql.Identifier(role.name)))
    for service, schema in schemas.items():
        own_schema(admin, schema, roles[service].name)
    # The audit CLI reads and records views in the cases store exactly as the cases service does:
    # a login of its own that acts as the cases role.
    audit, cases = sql.Identifier(roles["audit"].name), sql.Identifier(roles["cases"].name)
    admin.execute(sql.SQL("GRANT {} TO {}").format(cases, audit))
    admin.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET role = {}").format(
        audit, database, sql.Literal(roles["cases"].name)))
    grant_quarantine(admin, roles["quarantine"].name, schemas.values())
    # postgres_exporter reads the server's statistics and settings: pg_monitor, and no schema of any service.
    admin.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(roles["monitoring"].name)))


def ensure_role(admin, role: Role) -> None:
    exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,)).fetchone()
    verb = "ALTER" if exists else "CREATE"
    admin.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD {}")
                  .format(sql.Identifier(role.name), sql.Literal(role.password)))


def own_schema(admin, schema: str, owner: str) -> None:
    name, role = sql.Identifier(schema), sql.Identifier(owner)
    admin.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(name, role))
    admin.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(name, role))
    admin.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(name))
    for kind, qualified in owned_elsewhere(admin, schema, owner):
        admin.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), sql.SQL(qualified), role))


# Objects in a schema that another role owns (the superuser, before a role per service), each with
# its kind and its name as the server quotes it. Indexes and a table's own sequences follow their table.
OWNED_ELSEWHERE = """
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
       ELSE 'TABLE' END, c.oid::regclass::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relowner <> %(owner)s::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                        AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT 'ROUTINE', p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = %(schema)s AND p.proowner <> %(owner)s::regrole
UNION ALL
SELECT 'TYPE', t.oid::regtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = %(schema)s AND t.typowner <> %(owner)s::regrole AND t.typtype IN ('c', 'e', 'd')
   AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
"""


def owned_elsewhere(admin, schema: str, owner: str) -> list[tuple[str, str]]:
    return admin.execute(OWNED_ELSEWHERE, {"schema": schema, "owner": owner}).fetchall()


def grant_quarantine(admin, role: str, schemas) -> None:
    """The quarantine CLI lists and hands back each service's set-aside events: its quarantine table,
    once the service has made it (stack.sh grants again after the services start)."""
    grantee = sql.Identifier(role)
    for schema in schemas:
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), grantee))
        if admin.execute("SELECT to_regclass(%s)", (f'"{schema}".quarantine',)).fetchone()[0] is not None:
            admin.execute(sql.SQL("GRANT SELECT, UPDATE ON {}.quarantine TO {}").format(
                sql.Identifier(schema), grantee))


def provision_settings() -> ProvisionSettings:
    """Each service's schema and every identity's passwords, from the environment (the secrets file)."""
    return ProvisionSettings.from_env(SERVICES, [*(password_key(name, "DB") for name in DATABASE_IDENTITIES),
                                                 *(password_key(name, "AMQP") for name in BROKER_IDENTITIES)])


def database_roles(settings: ProvisionSettings, prefix: str) -> dict[str, Role]:
    return {name: Role(identity(prefix, name), settings.password(password_key(name, "DB")))
            for name in DATABASE_IDENTITIES}


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m shared.access", description=__doc__.split("\n\n")[0])
    top.add_argument("--prefix", default="casetrail", help="logins are PREFIX_<identity>")
    commands = top.add_subparsers(dest="command", required=True)
    broker = commands.add_parser("broker", help="print the definitions to import into RabbitMQ")
    broker.add_argument("--vhost", default="/")
    database = commands.add_parser("database", help="roles, schemas and grants, as the superuser")
    database.add_argument("--host", required=True, help="the server's Unix socket folder, or its host name")
    database.add_argument("--port", required=True)
    database.add_argument("--dbname", required=True)
    database.add_argument("--admin", default="postgres", help="the superuser to connect as")
    database.add_argument("--quarantine-only", action="store_true",
                          help="only grant the quarantine CLI the tables the services made since")
    args = top.parse_args(argv)
    settings = provision_settings()
    if args.command == "broker":
        grants = broker_grants(args.prefix)
        passwords = {identity(args.prefix, name): settings.password(password_key(name, "AMQP"))
                     for name in BROKER_IDENTITIES}
        json.dump(broker_definitions(args.vhost, grants, passwords), sys.stdout)
        return 0
    import psycopg
    with psycopg.connect(host=args.host, port=args.port, dbname=args.dbname, user=args.admin,
                         autocommit=True) as admin:
        if args.quarantine_only:
            grant_quarantine(admin, identity(args.prefix, "quarantine"), settings.schemas.values())
        else:
            provision_database(admin, args.dbname, database_roles(settings, args.prefix), dict(settings.schemas))
    return 0


if __name__ == "__main__":
    sys.exit(main())
