"""Benchmarks of the whole system and of store growth (imported by bench/__main__.py).

- end_to_end: concurrent clients drive case journeys through the gateway over HTTP for a fixed
  time, next to the bare eventsourcing save rate and a bare nameko RPC round trip; event
  propagation from a command's commit to another service's consumer; each service's memory.
- growth: the same command's latency with 10,000 and with 1,000,000 stored events, and a
  projection rebuilt from the whole log."""
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from nameko.standalone.rpc import ClusterRpcProxy

from services.cases.application import CaseIndex, CasesStore
from services.cases.domain import CaseAccess
from shared.envelope import event_id
from shared.caller import read_caller
from shared.identity import CallerKeys
from shared.outbox import Projector
from shared.secrets import generate
from tests.support import (PASSWORD, RUN_DIR, Api, Identities, ServiceProcess, case_in_implementation, create_people,
                           service_env)

CLIENTS = int(os.environ.get("BENCH_E2E_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_E2E_SECONDS", "30"))
GROWTH_SMALL = int(os.environ.get("BENCH_GROWTH_SMALL", "10000"))
GROWTH_LARGE = int(os.environ.get("BENCH_GROWTH_LARGE", "1000000"))
CW = {"username": "bench-cw", "role": "caseworker", "team": [], "correlation_id": None}
CONSENT = {"services": True, "share_with_providers": True, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic visit", "responsible": "cw1", "due_date": "2026-12-20"}]}
CONFERENCE = {"held_on": "2026-11-20", "participants": ["cw1", "sup1"], "decisions": "continue the plan"}


IDENTITIES: Identities | None = None  # the run's logins (bench/__main__.py)


def postgres(dbname: str = "postgres", **options) -> psycopg.Connection:
    """The benchmarks' PostgreSQL (the one `make up` and `make test` run), as the superuser: over its
    Unix socket, the only way it may log in."""
    return psycopg.connect(host=str(RUN_DIR / "pgsock"), port=os.environ.get("POSTGRES_PORT", "54329"),
                           user="postgres", dbname=dbname, **options)


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": round(pick(0.50), 1), "p95_ms": round(pick(0.95), 1), "p99_ms": round(pick(0.99), 1)}


class Journeys:
    """One client: case after case, through every stage a caseworker drives before approval."""

    def __init__(self, api: Api, deadline: float):
        self.api, self.deadline = api, deadline
        self.latencies, self.failures, self.cases = [], 0, []

    def command(self, method: str, path: str, body=None) -> dict | None:
        started = time.perf_counter()
        response = self.api.request(method, path, body)
        if response.status_code >= 400:
            self.failures += 1
            return None
        self.latencies.append(time.perf_counter() - started)
        return response.json()

    def run(self) -> None:
        while time.monotonic() < self.deadline:
            case = self.command("POST", "/v1/cases", {"survivor": {"name": "Bench Survivor"}, "risk_level": "medium"})
            if case is None:
                continue
            self.cases.append(case["id"])
            path = f"/v1/cases/{case['id']}"
            for method, suffix, body in (("POST", "/consent", CONSENT),
                                         ("POST", "/assessment", {"needs": ["medical"], "safety_concerns": "x"}),
                                         ("PUT", "/plan", PLAN), ("POST", "/plan/submit", None),
                                         ("POST", "/conferences", CONFERENCE)):
                if time.monotonic() >= self.deadline or self.command(method, path + suffix, body) is None:
                    break


def system_env(env: dict) -> dict:
    """A database of its own: the services start with an empty log, not the other benchmarks' events."""
    dbname = f"{env['POSTGRES_DBNAME']}_system"
    IDENTITIES.add_database(dbname)
    keys = generate()
    return service_env({**env, **{k: v for k, v in keys.items() if k not in env}, "POSTGRES_DBNAME": dbname,
                        "ADMIN_USERNAME": "admin", "RPC_TIMEOUT_SECONDS": "10", "LOG_LEVEL": "WARNING"})


def end_to_end(env: dict, store: CasesStore, bare_saves) -> dict:
    """Twice: as deployed (every commit waits for the disk), and with PostgreSQL's synchronous_commit
    off, which shows what the software costs apart from the disk's flush time."""
    full = system_env(env)
    durable = run_system(env, full, lambda: bare_saves(store), first=True)
    databases = [env["POSTGRES_DBNAME"], full["POSTGRES_DBNAME"]]
    with postgres(autocommit=True) as conn:
        for database in databases:
            conn.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = off')
    fresh = CasesStore(store.settings)  # new connections take the database's new setting
    try:
        return {**durable, "without_waiting_for_the_disk": run_system(env, full, lambda: bare_saves(fresh), first=False)}
    finally:
        fresh.close()
        with postgres(autocommit=True) as conn:
            for database in databases:
                conn.execute(f'ALTER DATABASE "{database}" RESET synchronous_commit')
            conn.execute(f'DROP DATABASE IF EXISTS "{full["POSTGRES_DBNAME"]}" WITH (FORCE)')


def run_system(env: dict, full: dict, bare_saves, first: bool) -> dict:
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/casetrail-bench-logs"))
    logs.mkdir(exist_ok=True)
    processes = {name: ServiceProcess(name, full, logs) for name in
                 ("cases", "referrals", "approvals", "notifications", "gateway")}
    try:
        for process in processes.values():
            process.start()
        api = Api(processes["gateway"].url)
        if first:
            people = create_people(api, full["ADMIN_PASSWORD"])
            people["admin"].request("PUT", "/v1/approval-policy", {"case_plan": "never", "closure": "never"})
        else:
            people = {name: api.login(name, PASSWORD) for name in ("cw1", "cw2")}
        warm = Journeys(people["cw1"], time.monotonic() + 3)
        warm.run()
        clients = [Journeys(people["cw1" if n % 2 else "cw2"], time.monotonic() + SECONDS) for n in range(CLIENTS)]
        threads = [threading.Thread(target=client.run) for client in clients]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        latencies = [s for c in clients for s in c.latencies]
        registered = [case for c in clients for case in c.cases]
        result = {"clients": CLIENTS, "seconds": round(elapsed, 1), "commands": len(latencies),
                  "commands_per_second": round(len(latencies) / elapsed, 1),
                  "failures": sum(c.failures for c in clients), **percentiles(latencies)}
        result["bare_saves_per_second"] = round(bare_saves(), 1)
        result["rpc_round_trip"] = rpc_round_trip(full)
        result["throughput_ratio_to_bare_saves"] = round(result["commands_per_second"] / result["bare_saves_per_second"], 2)
        result["propagation"] = propagation(full["POSTGRES_DBNAME"], registered)
        result["memory_mib"] = {name: rss_mib(process) for name, process in processes.items()}
        return result
    finally:
        for process in processes.values():
            process.stop()


def rpc_round_trip(env: dict, calls: int = 500) -> dict:
    gateway = CallerKeys.from_env("gateway", env)  # calls as the gateway does, each signed
    with ClusterRpcProxy({"AMQP_URI": env["AMQP_URI"]}) as cluster:
        cluster.cases.ping(gateway.sign(read_caller(CW), "cases", "ping"))
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            cluster.cases.ping(gateway.sign(read_caller(CW), "cases", "ping"))
            samples.append(time.perf_counter() - started)
    return {"calls_per_second": round(calls / sum(samples), 1), **percentiles(samples)}


def propagation(dbname: str, case_ids: list[str]) -> dict:
    """From CaseRegistered's commit in cases to the notifications service having handled it."""
    ids = {event_id(uuid.UUID(case_id), 1): case_id for case_id in case_ids}
    with postgres(dbname) as conn:
        handled = dict(conn.execute("SELECT event_id, processed_at FROM notifications.inbox"
                                    " WHERE consumer = 'case_directory' AND event_id = ANY(%s)", (list(ids),)).fetchall())
        registered = dict(conn.execute("SELECT case_id::text, registered_at FROM notifications.case_directory"
                                       " WHERE case_id = ANY(%s)", (case_ids,)).fetchall())
    delays = [(handled[eid] - registered[case]).total_seconds() for eid, case in ids.items()
              if eid in handled and case in registered]
    return {"events": len(delays), **percentiles(delays)} if delays else {"events": 0}


def rss_mib(process: ServiceProcess) -> float:
    for line in Path(f"/proc/{process.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def growth(store: CasesStore) -> dict:
    cases = [case_in_implementation(store, CW) for _ in range(20)]
    fill_to(store, GROWTH_SMALL)
    small = command_latency(store, cases)
    fill_to(store, GROWTH_LARGE)
    large = command_latency(store, cases)
    rebuilt = rebuild(store)
    return {f"at_{GROWTH_SMALL}_events": small, f"at_{GROWTH_LARGE}_events": large,
            "p50_growth": round(large["p50_ms"] / small["p50_ms"] - 1, 3), "projection_rebuild": rebuilt}


def command_latency(store: CasesStore, cases: list, calls: int = 300) -> dict:
    samples = []
    for n in range(calls):
        started = time.perf_counter()
        case = store.repository.get(cases[n % len(cases)])
        case.hold_conference("2026-11-20", ["cw1"], "continue", None, by=CW)
        store.save(case)
        samples.append(time.perf_counter() - started)
    return {"events": store.max_notification_id(), **percentiles(samples)}


def fill_to(store: CasesStore, events: int) -> None:
    """Other cases' history, as stored rows: CaseViewed events of random cases, copied in bulk."""
    missing = events - store.max_notification_id()
    if missing <= 0:
        return
    template = store.mapper.to_stored_event(CaseAccess.CaseViewed(
        originator_id=uuid.uuid4(), originator_version=1, timestamp=datetime.now(UTC), by=CW,
        case_id=uuid.uuid4(), view="case"))
    table = f'"{store.datastore.schema}"."{store.recorder.events_table_name}"'
    with postgres(store.settings.postgres_dbname) as conn:
        with conn.cursor().copy(f"COPY {table} (originator_id, originator_version, topic, state) FROM STDIN") as copy:
            for _ in range(missing):
                copy.write_row((uuid.uuid4(), 1, template.topic, template.state))
        conn.execute(f"ANALYZE {table}")


def rebuild(store: CasesStore) -> dict:
    """The case list rebuilt from the whole log, as after a schema change."""
    with store.transaction() as curs:
        curs.execute(store.sql("TRUNCATE {schema}.case_index"))
        curs.execute(store.sql("UPDATE {schema}.positions SET position = 0 WHERE follower = 'case_index'"))
    projector = Projector(store, CaseIndex(), batch_size=store.log_section_size)
    started, events = time.perf_counter(), 0
    while moved := projector.step():
        events += moved
    elapsed = time.perf_counter() - started
    return {"events": events, "seconds": round(elapsed, 1), "events_per_second": round(events / elapsed)}
