"""Helpers for tests that run the real system: processes, ports, waiting on conditions."""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import requests

from shared import secrets as secrets_file
from shared.access import (
    DATABASE_IDENTITIES,
    SERVICES,
    Role,
    broker_definitions,
    broker_grants,
    ensure_role,
    full_grant,
    grant_quarantine,
    identity,
    password_key,
    provision_database,
)
from shared.bus import SIGNATURE_HEADER, publish_event
from shared.caller import Caller
from shared.envelope import OWNERS
from shared.identity import CallerKeys, sign_event
from shared.organisations import FIRST

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "scripts" / "stack.sh"
# The run folder of the PostgreSQL and RabbitMQ the tests share (scripts/stack.sh's default).
RUN_DIR = Path(os.environ.get("CASETRAIL_RUN_DIR", ROOT / ".run"))
# What a process connects as, and under which name each identity's value is kept in a test's
# environment (not CASES_POSTGRES_USER: eventsourcing would read that before POSTGRES_USER).
IDENTITY = {"AMQP_URI": "AMQP_URI", "POSTGRES_USER": "DB_USER", "POSTGRES_PASSWORD": "DB_PASSWORD"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def rabbitmqctl(*args: str, input: str | None = None, env: dict | None = None) -> str:
    return subprocess.run([str(STACK), "rabbitmqctl", *args], check=True, capture_output=True, text=True,
                          input=input, env=env).stdout


def rabbitmqctl_each(commands: list[list[str]], env: dict | None = None) -> None:
    """Several rabbitmqctl commands at once (each starts an Erlang VM: about half a second)."""
    running = [subprocess.Popen([str(STACK), "rabbitmqctl", *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for args in commands]
    for process in running:
        process.wait()


def admin_connection(dbname: str, port: str | int | None = None, run_dir: Path = RUN_DIR,
                     **options) -> psycopg.Connection:
    """The superuser, over the server's Unix socket: it is not reachable over TCP (scripts/stack.sh)."""
    return psycopg.connect(host=str(run_dir / "pgsock"), port=port or os.environ.get("POSTGRES_PORT", "54329"),
                           user="postgres", dbname=dbname, autocommit=True, **options)


class Identities:
    """Logins of their own for a test session (or a benchmark run), on the shared PostgreSQL and
    RabbitMQ, named PREFIX_<identity> so that nothing of `make up`'s is touched:

    - one per service and CLI, with exactly the rights scripts/stack.sh gives them (shared/access.py);
    - the harness, the tests' own identity: it owns the databases, acts as every service role, and
      has every right in the vhosts, because tests forge events and look into every store on purpose.

    `env()` gives the harness as AMQP_URI / POSTGRES_USER / POSTGRES_PASSWORD, and each other identity
    as <NAME>_AMQP_URI, <NAME>_DB_USER, <NAME>_DB_PASSWORD (ServiceProcess picks its own)."""

    def __init__(self, prefix: str, vhost: str, amqp_port: str, postgres_port: str):
        self.prefix, self.vhost, self.amqp_port, self.postgres_port = prefix, vhost, amqp_port, postgres_port
        self.passwords = {name: secrets.token_urlsafe(24) for name in (*DATABASE_IDENTITIES, "harness")}
        self.databases: list[str] = []
        self.vhosts: list[str] = []

    def login(self, name: str) -> str:
        return identity(self.prefix, name)

    def amqp_uri(self, name: str, vhost: str | None = None) -> str:
        return (f"pyamqp://{self.login(name)}:{self.passwords[name]}@127.0.0.1:{self.amqp_port}/"
                f"{vhost or self.vhost}")

    def env(self) -> dict[str, str]:
        own = {f"{name.upper()}_{key}": value for name in DATABASE_IDENTITIES for key, value in (
            ("DB_USER", self.login(name)), ("DB_PASSWORD", self.passwords[name]), ("AMQP_URI", self.amqp_uri(name)))}
        return {**own, "AMQP_URI": self.amqp_uri("harness"), "POSTGRES_USER": self.login("harness"),
                "POSTGRES_PASSWORD": self.passwords["harness"]}

    def roles(self) -> dict[str, Role]:
        return {name: Role(self.login(name), self.passwords[name]) for name in DATABASE_IDENTITIES}

    def add_database(self, dbname: str) -> None:
        """A database the harness owns, with every service's schema owned by its role."""
        harness = self.login("harness")
        with admin_connection("postgres", self.postgres_port) as admin:
            ensure_role(admin, Role(harness, self.passwords["harness"]))
            admin.execute(f'CREATE DATABASE "{dbname}" OWNER "{harness}"')
        self.databases.append(dbname)
        with admin_connection(dbname, self.postgres_port) as admin:
            provision_database(admin, dbname, self.roles(), {s: s for s in SERVICES})
            for service in SERVICES:
                admin.execute(f'GRANT "{self.login(service)}" TO "{harness}"')

    def grant_quarantine(self, dbname: str) -> None:
        """The quarantine CLI's rights on the quarantine tables the services made since."""
        with admin_connection(dbname, self.postgres_port) as admin:
            grant_quarantine(admin, self.login("quarantine"), SERVICES)

    def add_vhost(self, vhost: str | None = None, services: bool = True) -> dict[str, str]:
        """The session's vhost (every identity), or one of a test's own (the harness alone)."""
        vhost = vhost or self.vhost
        grants = [*(broker_grants(self.prefix) if services else []), full_grant(self.login("harness"))]
        passwords = {self.login(name): password for name, password in self.passwords.items()}
        rabbitmqctl("import_definitions", input=json.dumps(broker_definitions(vhost, grants, passwords)))
        self.vhosts.append(vhost)
        return {"AMQP_URI": self.amqp_uri("harness", vhost), "VHOST": vhost}

    def drop(self) -> None:
        rabbitmqctl_each([["delete_vhost", vhost] for vhost in self.vhosts])
        rabbitmqctl_each([["delete_user", self.login(name)] for name in self.passwords])
        with admin_connection("postgres", self.postgres_port) as admin:
            for dbname in self.databases:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            for name in self.passwords:
                admin.execute(f'DROP ROLE IF EXISTS "{self.login(name)}"')


def signed_by(service: str, env=None) -> Callable[[bytes], str]:
    """Signs bus events as a test client holding the `service` service's own credentials (its
    <SERVICE>_CALLER_KEY from the test environment, `env` or os.environ), as that service's outbox
    relay signs what it publishes."""
    keys = CallerKeys.from_env(service, env)
    return lambda body: sign_event(keys, body)


def publish_as_owner(publisher, envelope: dict, env=None) -> None:
    """Publishes an envelope as a test client holding the credentials of the service that owns its
    type (shared/envelope.py OWNERS): consumers believe it as they would that service's relay."""
    publish_event(publisher, envelope, signed_by(OWNERS[envelope["event_type"]], env))


def signed_as_owner(envelope: dict, env=None) -> dict:
    """`producer.publish` arguments for a message built by hand (a damaged envelope, forged retry
    headers) that its type's owner signed: what the test is about then reaches the handler."""
    body = json.dumps(envelope).encode()
    return {"body": body, "headers": {SIGNATURE_HEADER: signed_by(OWNERS[envelope["event_type"]], env)(body)},
            "content_type": "application/json", "content_encoding": "utf-8"}



class Infrastructure:
    """scripts/stack.sh on a run folder and ports of its own: a PostgreSQL and a RabbitMQ that a
    test may stop and start without touching the ones `make up` (and the other tests) use."""

    def __init__(self, run_dir: Path):
        self.env = {**os.environ, "CASETRAIL_RUN_DIR": str(run_dir), "POSTGRES_PORT": str(free_port()),
                    "RABBITMQ_PORT": str(free_port()), "RABBITMQ_DIST_PORT": str(free_port()),
                    "RABBITMQ_NODENAME": f"casetrail-faults-{uuid.uuid4().hex[:6]}@localhost",
                    "POSTGRES_DBNAME": "casetrail",
                    # what watches them (monitoring-start), and the broker's own metrics listener
                    **{name: str(free_port()) for name in ("RABBITMQ_PROMETHEUS_PORT", "PROMETHEUS_PORT",
                                                            "ALERTMANAGER_PORT", "POSTGRES_EXPORTER_PORT",
                                                            "NODE_EXPORTER_PORT")},
                    # A test's installation lives minutes: archiving its WAL would only cost disk (the backup
                    # drill turns it on).
                    "WAL_ARCHIVE": "off"}

    def __call__(self, *command: str) -> str:
        done = subprocess.run([str(STACK), *command], env=self.env, capture_output=True, text=True)
        if done.returncode:  # what stack.sh said, not only that it failed (a port taken meanwhile, ...)
            raise AssertionError(f"scripts/stack.sh {' '.join(command)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    @property
    def run_dir(self) -> Path:
        return Path(self.env["CASETRAIL_RUN_DIR"])

    def secrets(self) -> dict[str, str]:
        """What scripts/stack.sh generated for this installation (its secrets file)."""
        return secrets_file.read(self.run_dir / "secrets.env")

    def identities(self) -> dict[str, str]:
        """Each service's own logins here, as ServiceProcess takes them (<NAME>_AMQP_URI, ...)."""
        found, port = self.secrets(), self.env["RABBITMQ_PORT"]
        return {f"{service.upper()}_{key}": value for service in SERVICES for key, value in (
            ("AMQP_URI", f"pyamqp://{identity('casetrail', service)}:{found[password_key(service, 'AMQP')]}"
                         f"@127.0.0.1:{port}/"),
            ("DB_USER", identity("casetrail", service)), ("DB_PASSWORD", found[password_key(service, "DB")]))}

    @property
    def amqp_uri(self) -> str:
        """The tests' own login on this broker, with every right (made at first use)."""
        if not hasattr(self, "_harness"):
            self._harness = secrets.token_urlsafe(24)
            self("rabbitmqctl", "add_user", "casetrail_harness", self._harness)
            self("rabbitmqctl", "set_permissions", "casetrail_harness", ".*", ".*", ".*")
        return f"pyamqp://casetrail_harness:{self._harness}@127.0.0.1:{self.env['RABBITMQ_PORT']}/"

    def admin(self, dbname: str = "casetrail") -> psycopg.Connection:
        return admin_connection(dbname, self.env["POSTGRES_PORT"], self.run_dir)


def timer_runs(process: "ServiceProcess", timer: str) -> int:
    """How many runs of a nameko @timer the process has finished (its /metrics, every outcome)."""
    text = requests.get(f"{process.url}/metrics", timeout=5).text
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("casetrail_timer_duration_seconds_count{") and f'timer="{timer}"' in line)


def counter(process: "ServiceProcess", name: str, **labels) -> float:
    """A counter summed over the series matching `labels`, from one process's /metrics."""
    total = 0.0
    for line in requests.get(f"{process.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for_timer_runs(process: "ServiceProcess", timer: str, runs: int = 2, timeout: float = 30.0) -> None:
    """Waits until `runs` more runs of the timer have finished: the last of them started after this
    call, so it saw everything committed before it. A positive marker, never a bare sleep."""
    start = timer_runs(process, timer)
    wait_until(lambda: timer_runs(process, timer) >= start + runs, timeout=timeout,
               what=f"{runs} more runs of {process.name}'s {timer}")


def queue_depths(vhost: str) -> dict[str, int]:
    out = rabbitmqctl("list_queues", "-p", vhost, "-q", "--no-table-headers", "name", "messages")
    return {name: int(count) for name, count in (line.split() for line in out.splitlines() if line.strip())}


def consumer_count(vhost: str) -> int:
    return len([line for line in rabbitmqctl("list_consumers", "-p", vhost, "-q", "--no-table-headers").splitlines()
                if line.strip()])


class ServiceProcess:
    """One service, run exactly as `make up` runs it: `nameko run` in its own process."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, instance: str = ""):
        self.name, self.port = name, free_port()
        self.env = dict(as_service(name, env), WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}")
        self.log_path = log_dir / f"{name}{instance}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", "config/nameko.yaml", f"services.{self.name}.service:{self.name.capitalize()}Service"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.healthy, timeout=60, what=f"{self.name} to answer /health")
        return self

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")
        try:
            return requests.get(f"{self.url}/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """A crash: no graceful shutdown, unacked messages go back to the broker."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def as_harness(env: dict[str, str]) -> dict[str, str]:
    """A service process in a world of the test's own (its vhost, its schema), where the service's
    login has no rights: it runs as the harness (the env's AMQP_URI and POSTGRES_USER)."""
    logins = {f"{name.upper()}_{kept}" for name in DATABASE_IDENTITIES for kept in IDENTITY.values()}
    return {k: v for k, v in env.items() if k not in logins}


def as_service(name: str, env: dict[str, str]) -> dict[str, str]:
    """A service process connects as itself: its <NAME>_AMQP_URI, <NAME>_DB_USER and <NAME>_DB_PASSWORD
    become its AMQP_URI, POSTGRES_USER and POSTGRES_PASSWORD, as scripts/stack.sh does; no other
    identity's credentials reach it."""
    own = {key: env[f"{name.upper()}_{kept}"] for key, kept in IDENTITY.items() if f"{name.upper()}_{kept}" in env}
    return {**as_harness(env), **own}


def service_env(base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(base)
    env["PYTHONWARNINGS"] = "ignore"
    env["PYTHONPATH"] = str(ROOT)
    return env


def database(env: dict, **options) -> "psycopg.Connection":
    """A connection to the session's test database, as its owner (the harness: it reads every store)."""
    return psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], dbname=env["POSTGRES_DBNAME"],
                           user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"], **options)


class Api:
    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token

    def request(self, method: str, path: str, body=None, headers=None, raw: str | None = None, params=None):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = {"data": raw} if raw is not None else {"json": body}
        return requests.request(method, self.base + path, headers=headers, params=params, timeout=15, **payload)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def every(self, path: str, params: dict | None = None) -> list[dict]:
        """Every item of a list, page after page (lists page, oldest first: a recent item may be past the
        first page)."""
        items, params = [], {**(params or {}), "limit": 200}
        while True:
            response = self.get(path, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            if not page["next_cursor"]:
                return items
            params["cursor"] = page["next_cursor"]

    def login(self, username: str, password: str) -> "Api":
        response = self.post("/v1/auth/token", {"username": username, "password": password})
        assert response.status_code == 200, response.text
        return Api(self.base, response.json()["access_token"])


def case_submitted(store, caller: "Caller | dict", risk: str = "medium"):
    """A case whose plan awaits a decision, built through the store's own use cases. Returns its id and
    the submission."""
    caller = Caller.of(caller)
    case = store.register_case(caller, {"survivor": {"name": "S"}, "risk_level": risk, "is_child": False,
                                        "caregiver": None, "intake_notes": None})
    store.record_consent(caller, case.id, {"services": True, "share_with_providers": False,
                                           "mandatory_reporting_explained": True, "given_by": "survivor"}, {})
    store.assess(caller, case.id, {"needs": ["medical"], "safety_concerns": "x", "notes": None,
                                   "risk_level": None}, {})
    store.draft_plan(caller, case.id, {"goals": [{"need": "medical", "action": "a", "responsible": "r",
                                                  "due_date": "2026-12-01"}]}, {})
    return case.id, store.submit_plan(caller, case.id, {}).version


def case_in_implementation(store, caller: "Caller | dict", risk: str = "medium"):
    """A case whose plan is approved, built through the store's own use cases, the decision applied by
    the store itself (no approvals service: for the store alone, or a history dated in the past).
    Returns its id."""
    caller = Caller.of(caller)
    case_id, submission = case_submitted(store, caller, risk)
    decided = store.repository.get(case_id)
    decided.decide_plan(submission, True, "sup1", by=caller.recorded(), now=store.clock())
    store.save(decided)
    return case_id


TEAMS = (("sup1", "supervisor", None), ("sup2", "supervisor", None), ("cw1", "caseworker", "sup1"),
         ("cw2", "caseworker", "sup1"), ("cw3", "caseworker", "sup2"), ("aud1", "auditor", None))
PASSWORD = "a-long-enough-password"


def create_people(api: "Api", admin_password: str) -> dict[str, "Api"]:
    """An admin, two teams (sup1: cw1, cw2; sup2: cw3), and an auditor, each logged in."""
    admin = api.login("admin", admin_password)
    for username, role, supervisor in TEAMS:
        response = admin.post("/v1/users", {"username": username, "password": PASSWORD, "role": role,
                                            "display_name": username.upper(), "supervisor": supervisor})
        assert response.status_code == 201, response.text
    return {"admin": admin, **{username: api.login(username, PASSWORD) for username, _, _ in TEAMS}}


def relay_caught_up(env: dict, service: str) -> bool:
    """Whether the service's outbox relay has published every event in its store (its position has
    reached the store's last notification id)."""
    with database(env) as conn:
        position, last = conn.execute(
            f"SELECT (SELECT coalesce(max(position), 0) FROM {service}.positions WHERE follower = 'outbox'),"
            f" (SELECT coalesce(max(notification_id), 0) FROM {service}.{service}_events)").fetchone()
    return position >= last


def post(api: "Api", path: str, body=None, status: int | None = None):
    """A POST whose answer, when `status` is given, must have that status."""
    response = api.post(path, body)
    if status is not None:
        assert response.status_code == status, response.text
    return response


def new_organisation(admin: "Api", label: str = "Agency") -> str:
    """A new organisation with a fresh name (`label` and a random suffix), made by the admin; its id."""
    created = admin.post("/v1/organisations", {"name": f"{label}-{uuid.uuid4().hex[:8]}"})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def new_member(admin: "Api", role: str, organisation: str | None, supervisor: str | None = None,
               display_name: str = "") -> str:
    """A user of that role in the organisation (the first one when None), with a fresh name and PASSWORD."""
    username = f"{role[:3]}-{uuid.uuid4().hex[:8]}"
    body = {"username": username, "password": PASSWORD, "role": role, "display_name": display_name or username,
            "supervisor": supervisor, **({"organisation": organisation} if organisation is not None else {})}
    response = admin.post("/v1/users", body)
    assert response.status_code == 201, response.text
    assert response.json()["organisation"] == (organisation or FIRST)
    return username


def new_user(admin: "Api", role: str, supervisor: str | None = None) -> str:
    """A user of that role with a fresh name (and PASSWORD), created by the admin."""
    username = f"{role[:3]}-{uuid.uuid4().hex[:8]}"
    response = admin.post("/v1/users", {"username": username, "password": PASSWORD, "role": role,
                                        "display_name": username, "supervisor": supervisor})
    assert response.status_code == 201, response.text
    return username



class BackgroundLoad:
    """Work a test keeps going in a thread of its own while it breaks something: `with Load(...) as load:`
    starts `run` (which loops while `self.running`); leaving the block, or `stop()`, ends it."""

    def __init__(self):
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=60)
