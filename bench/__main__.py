"""Casetrail benchmarks: `make bench`. Prints figures; asserts nothing.

1. A typical case command (record a follow-up) through the cases service's RPC, next to bare
   eventsourcing saves of the same aggregate in the same run: the ratio is the figure that matters.
2. The overdue scan over 100,000 open cases.
3. The audit trail: replaying a case of 1,000 events with and without snapshots, reading its
   whole history, and verifying hash chains over a store of 100,000 events.
4. End to end (bench/system.py): concurrent clients through the gateway, event propagation,
   memory, and what each command costs: CPU ms of each process (bench/cpu.py) and the database's
   round trips, statements and transactions, for case journeys, for register + consent with 16
   clients and with one (BENCH_E2E_COST_CLIENTS), and for bare eventsourcing saves beside them, and
   the issue's bare eventsourcing ceiling (bench/bare.py: register + consent on a plain aggregate);
   and store growth from 10,000 to 1,000,000 events, with a projection rebuild.
Figures are printed and written as JSON (BENCH_JSON, default .run/bench-<time>.json).
"""
import eventlet

eventlet.monkey_patch()

import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

from eventsourcing.cryptography import AESCipher  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bare, system  # noqa: E402
from services.cases.application import CaseIndex, CasesStore  # noqa: E402
from services.cases.settings import CasesSettings  # noqa: E402
from shared import identity  # noqa: E402
from shared.caller import read_caller  # noqa: E402
from shared.identity import CallerKeys  # noqa: E402
from shared.outbox import Projector  # noqa: E402
from shared.store import AuditChains  # noqa: E402
from tests.support import STACK, Identities, ServiceProcess, case_in_implementation, service_env  # noqa: E402

CW = {"username": "bench-cw", "role": "caseworker", "team": [], "correlation_id": None}
CASES = int(os.environ.get("BENCH_CASES", "200"))
CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "20"))
OPEN_CASES = int(os.environ.get("BENCH_OPEN_CASES", "100000"))
OVERDUE = int(os.environ.get("BENCH_OVERDUE", "500"))
LONG_CASE = int(os.environ.get("BENCH_LONG_CASE", "1000"))
CHAIN_EVENTS = int(os.environ.get("BENCH_CHAIN_EVENTS", "100000"))
CONFERENCE = {"held_on": "2026-11-20", "participants": ["Survivor Name", "cw1"], "decisions": "stays with her sister",
              "next_steps": None}


def setup_environment() -> dict:
    subprocess.run([str(STACK), "infra-start"], check=True)
    suffix = uuid.uuid4().hex[:6]
    dbname, vhost = f"casetrail_bench_{suffix}", f"casetrail-bench-{suffix}"
    # Logins of the run's own, as the tests make them (tests/support.py Identities), dropped at the end.
    system.IDENTITIES = Identities(f"casetrail_bench_{suffix}", vhost, os.environ.get("RABBITMQ_PORT", "5673"),
                                   os.environ.get("POSTGRES_PORT", "54329"))
    system.IDENTITIES.add_database(dbname)
    system.IDENTITIES.add_vhost()
    logins = system.IDENTITIES.env()
    # The benchmarked store is the cases service's own: it makes the tables the service then uses.
    env = {"POSTGRES_DBNAME": dbname, **logins, "POSTGRES_PORT": system.IDENTITIES.postgres_port,
           "POSTGRES_USER": logins["CASES_DB_USER"], "POSTGRES_PASSWORD": logins["CASES_DB_PASSWORD"],
           "CASES_CIPHER_KEY": AESCipher.create_key(32),
           "CASES_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
           "AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(), "OVERDUE_SCAN_SECONDS": "3600",
           "POSTGRES_POOL_SIZE": "10",
           **identity.generate(("cases", "referrals", "approvals", "notifications", "gateway"))}
    os.environ.update(env)
    return env


def teardown(env: dict) -> None:
    system.IDENTITIES.drop()


def follow_up(when: datetime) -> dict:
    return {"contacted": True, "contact_date": when.isoformat(), "safety_reassessed": True,
            "risk_level": None, "notes": "routine call"}


def bare_saves(store: CasesStore, case_ids: list, calls: int) -> float:
    started = time.perf_counter()
    for i in range(calls):
        case = store.repository.get(case_ids[i % len(case_ids)])
        case.record_follow_up(True, datetime.now(UTC), True, None, "routine call", by=CW, now=datetime.now(UTC))
        store.save(case)
    return calls / (time.perf_counter() - started)


def rpc_commands(amqp_uri: str, case_ids: list, calls: int, clients: int) -> float:
    per_client = calls // clients
    gateway = CallerKeys.from_env("gateway")  # the bench calls as the gateway does, signing each call

    def client(n: int) -> None:
        # One proxy per greenthread: a shared ClusterRpcProxy fails under concurrency.
        with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}) as rpc:
            for i in range(per_client):
                case_id = str(case_ids[(n + i * clients) % len(case_ids)])
                caller = gateway.sign(read_caller(CW), "cases", "record_follow_up")
                rpc.cases.record_follow_up(caller, case_id, follow_up(datetime.now(UTC)), {})

    pool = eventlet.GreenPool(clients)
    started = time.perf_counter()
    for n in range(clients):
        pool.spawn(client, n)
    pool.waitall()
    return per_client * clients / (time.perf_counter() - started)


def overdue_scan(store: CasesStore) -> dict:
    real = [case_in_implementation(store, CW) for _ in range(OVERDUE)]
    for case_id in real:  # followed up today: due again in a week
        store.record_follow_up(CW, case_id, follow_up(store.clock()), {})
    while Projector(store, CaseIndex()).step():
        pass
    # The scan runs a minute after the last of them fell due (a follow-up cannot be dated before its case
    # was registered, so the clock travels instead), among the rest of 100,000 open cases, due later.
    due = max(datetime.fromisoformat(store.case(case_id).next_due) for case_id in real)
    with store.transaction() as curs:
        curs.execute(store.sql(
            "INSERT INTO {schema}.case_index (case_id, case_number, stage, risk_level, assigned_to, is_child,"
            " next_due, version, created_at, updated_at)"
            " SELECT gen_random_uuid(), 'BENCH-' || g, 'follow_up', 'medium', 'bench-cw', false,"
            " %s + (g %% 20000) * interval '1 minute' + interval '1 day', 5, now(), now()"
            " FROM generate_series(1, %s) AS g"), (due, OPEN_CASES - OVERDUE))
        curs.execute("ANALYZE")
    clock = store.clock
    store.clock = lambda: due + timedelta(minutes=1)
    try:
        return timed_scan(store, store.clock())
    finally:
        store.clock = clock


def timed_scan(store: CasesStore, now: datetime) -> dict:
    with store.transaction() as curs:
        started = time.perf_counter()
        curs.execute(store.sql(
            "SELECT case_id FROM {schema}.case_index WHERE stage <> 'closed'"
            " AND next_due IS DISTINCT FROM overdue_flagged AND next_due < %s ORDER BY next_due LIMIT 500"), (now,))
        found = len(curs.fetchall())
        query_ms = (time.perf_counter() - started) * 1000
    # What the service's timer does: scans while a scan flags something; each save brings the case list up
    # to date before the next scan looks (read-your-writes: the service's store runs the projection in its
    # catch-up, this store has none, so the bench steps it, within the time measured).
    started = time.perf_counter()
    flagged = 0
    while (n := store.flag_overdue_follow_ups()) > 0:
        flagged += n
        while Projector(store, CaseIndex()).step():
            pass
    flag_s = time.perf_counter() - started
    started = time.perf_counter()
    again = store.flag_overdue_follow_ups()
    idle_ms = (time.perf_counter() - started) * 1000
    print(f"overdue scan over {OPEN_CASES:,} open cases:")
    print(f"  finding the due ones (index query):        {query_ms:8.1f} ms  ({found} found)")
    print(f"  the scan, flagging {flagged} missed due times:  {flag_s:8.2f} s   ({flagged / flag_s:,.0f}/s)")
    print(f"  a scan with nothing new to flag:           {idle_ms:8.1f} ms  ({again} flagged)")
    return {"open_cases": OPEN_CASES, "due_found": found, "find_ms": round(query_ms, 1), "flagged": flagged,
            "scan_with_flagging_s": round(flag_s, 3), "flags_per_second": round(flagged / flag_s),
            "scan_with_nothing_to_flag_ms": round(idle_ms, 1)}


def case_with_events(store: CasesStore, events: int, per_save: int = 100):
    """A case of `events` events (sealed fields in each), saved `per_save` at a time."""
    case = store.register_case(CW, {"survivor": {"name": "Survivor Name", "phone": "+254700000000"},
                                    "risk_level": "medium", "is_child": False, "caregiver": None,
                                    "intake_notes": "intake"})
    case.assess(["medical"], "concerns", None, None, consent=_Consent(), by=CW)
    while case.version < events:
        for _ in range(min(per_save, events - case.version)):
            case._conference_held(by=CW, **CONFERENCE)
        store.save(case)
    return case.id


class _Consent:
    services = True


def timed(action, repeat: int = 5) -> float:
    """Best of `repeat`, in milliseconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def audit_trail(store: CasesStore) -> None:
    auditor = {"username": "bench-auditor", "role": "auditor", "team": [], "correlation_id": None}
    case_id = case_with_events(store, LONG_CASE)
    while Projector(store, CaseIndex()).step():
        pass
    with_snapshots = timed(lambda: store.repository.get(case_id))
    without = timed(lambda: _fold(store.events.get(case_id)))
    cold = timed(lambda: (store.keys.forget(case_id), _fold(store.events.get(case_id))))
    history = timed(lambda: _read_history(store, auditor, case_id), repeat=3)
    one_chain = timed(lambda: AuditChains(store).verify_chain(case_id, store.streams_of(case_id)))
    print(f"audit trail, a case of {LONG_CASE:,} events:")
    print(f"  replay to current state, with snapshots (every 100): {with_snapshots:8.1f} ms")
    print(f"  replay to current state, without snapshots:          {without:8.1f} ms")
    print(f"  ... the same, with the case key not cached:          {cold:8.1f} ms")
    print(f"  read its whole history (redacted, 5 pages of 200):   {history:8.1f} ms")
    print(f"  verify its chain:                                    {one_chain:8.1f} ms")
    per_case = 100
    started = time.perf_counter()
    for _ in range((CHAIN_EVENTS - LONG_CASE) // per_case):
        case_with_events(store, per_case)
    write_s = time.perf_counter() - started
    with store.transaction() as curs:
        curs.execute(store.sql("SELECT count(*) AS n FROM {schema}.audit_chain"))
        links = curs.fetchone()["n"]
    started = time.perf_counter()
    result = AuditChains(store).verify_all()
    verify_s = time.perf_counter() - started
    assert not result["invalid"] and result["events"] == links, result
    print(f"  writing {links - LONG_CASE:,} more events in cases of {per_case} (chain and sealing included): "
          f"{(links - LONG_CASE) / write_s:8,.0f} events/s")
    print(f"verify every chain ({result['chains']:,} cases, {result['events']:,} events): {verify_s:6.2f} s "
          f"({result['events'] / verify_s:,.0f} events/s)")


def _fold(events):
    case = None
    for event in events:
        case = event.mutate(case)
    return case


def _read_history(store, auditor, case_id):
    cursor = 0
    while cursor is not None:
        page = store.history(auditor, case_id, cursor, 200, record=False)
        cursor = page["items"][-1]["sequence"] if page["next_cursor"] else None  # the cursor itself is sealed


def commands(env: dict, store: CasesStore) -> None:
    case_ids = [case_in_implementation(store, CW) for _ in range(CASES)]
    cases = ServiceProcess("cases", service_env(env), Path("/tmp")).start()
    try:
        bare_saves(store, case_ids, 50)  # warm up both paths
        rpc_commands(env["AMQP_URI"], case_ids, 100, 10)
        bare = bare_saves(store, case_ids, CALLS // 2)
        through_rpc = rpc_commands(env["AMQP_URI"], case_ids, CALLS, CLIENTS)
    finally:
        cases.stop()
    print(f"record a follow-up ({CASES} cases in rotation, {CALLS} calls, {CLIENTS} concurrent RPC clients):")
    print(f"  bare eventsourcing get/call/save:          {bare:8.0f} commands/s (one thread)")
    print(f"  through the cases service's RPC:            {through_rpc:8.0f} commands/s")
    print(f"  ratio RPC / bare:                           {through_rpc / bare:8.2f}")


def measured_bare_saves(store: CasesStore, calls: int = 500) -> tuple[float, dict]:
    """The bare eventsourcing ceiling with its cost: this process's CPU (one thread: no HTTP, no RPC)
    and PostgreSQL's, per command, and its statements, while nothing else uses the database."""
    case_ids = [case_in_implementation(store, CW) for _ in range(50)]
    roots = {"bench": os.getpid(), **{k: v for k, v in system.infrastructure_pids().items() if k == "postgres"}}
    with system.Meter(roots, store.settings.postgres_dbname) as meter:
        rate = bare_saves(store, case_ids, calls)
    return rate, system.with_total(meter.per_command(calls), ("bench", "postgres"))


def end_to_end(env: dict, store: CasesStore) -> dict:
    result = system.end_to_end(env, store, measured_bare_saves)
    # After the services stopped: the ceiling, eventsourcing alone doing the same two commands.
    result["bare_register_and_consent"] = bare.register_and_consent(env["POSTGRES_DBNAME"], system.CONSENT)
    print_end_to_end(result, "every commit flushed to disk, as deployed")
    print_end_to_end(result["without_waiting_for_the_disk"], "synchronous_commit off: the software's own cost")
    return result


def print_end_to_end(result: dict, how: str) -> None:
    rpc = result["rpc_round_trip"]
    print(f"end to end, {how}: {result['clients']} clients through the gateway for {result['seconds']} s:")
    print(f"  commands:                 {result['commands_per_second']:8.1f} /s  ({result['commands']} commands,"
          f" {result['failures']} refused)")
    print(f"  latency p50 / p95 / p99:  {result['p50_ms']} / {result['p95_ms']} / {result['p99_ms']} ms")
    print(f"  bare eventsourcing saves: {result['bare_saves_per_second']:8.1f} /s"
          f"  (end-to-end throughput ratio {result['throughput_ratio_to_bare_saves']})")
    print(f"  bare nameko RPC round trip: {rpc['calls_per_second']} /s, p50 {rpc['p50_ms']} ms, p99 {rpc['p99_ms']} ms")
    spread = result["propagation"]
    if spread["events"]:
        print(f"  propagation, commit in cases -> handled by notifications ({spread['events']} events):"
              f" p50 {spread['p50_ms']} ms, p99 {spread['p99_ms']} ms")
    print("  resident memory after the run: " + ", ".join(f"{k} {v} MiB" for k, v in result["memory_mib"].items()))
    runs = {f"journeys, {result['clients']} clients": result,
            **{f"register + consent, {n} client{'s' if n != '1' else ''}": run
               for n, run in result.get("register_and_consent", {}).items()},
            "bare eventsourcing saves, one thread": result["bare_saves_cost"],
            **({"bare eventsourcing register + consent": result["bare_register_and_consent"]}
               if "bare_register_and_consent" in result else {})}
    print_costs(runs)


COST_COLUMNS = ("cases", "referrals", "approvals", "notifications", "gateway", "postgres", "rabbitmq", "total",
                "load_generator", "bench")


def print_costs(runs: dict[str, dict]) -> None:
    """Per run: rate, latency, CPU ms per command of each process tree, database work per command."""
    print("  cost per command (CPU ms per process; total = services + postgres + rabbitmq, not the load generator):")
    header = f"    {'run':38} {'cmd/s':>6} {'p50':>6} {'p95':>6} {'p99':>6} " + " ".join(
        f"{name[:8]:>8}" for name in COST_COLUMNS) + f" {'trips':>6} {'stmts':>6} {'xacts':>6}"
    print(header)
    for name, run in runs.items():
        ms = run["cpu_ms_per_command"]
        cell = lambda v: "-" if v is None else v  # noqa: E731
        print(f"    {name:38} {cell(run.get('commands_per_second')):>6} {cell(run.get('p50_ms')):>6}"
              f" {cell(run.get('p95_ms')):>6} {cell(run.get('p99_ms')):>6} "
              + " ".join(f"{cell(ms.get(col)):>8}" for col in COST_COLUMNS)
              + f" {cell(run['round_trips_per_command']):>6} {cell(run['statements_per_command']):>6}"
              f" {cell(run['transactions_per_command']):>6}")
    for name, run in runs.items():
        if run.get("statement_texts_holding_case_data"):
            print(f"  WARNING: {run['statement_texts_holding_case_data']} statement texts held case data ({name});"
                  " left out of the figures")
    for run in runs.values():
        if run.get("statements_unavailable"):
            print(f"  statements not counted: {run['statements_unavailable']}")
            break
    for name, run in runs.items():
        if run["top_statements"]:
            print(f"  statements per command, most called first ({name}):")
            for top in run["top_statements"]:
                print(f"    {top['calls_per_command']:6.2f}  {top['query']}")


def growth(env: dict, store: CasesStore) -> dict:
    result = system.growth(store)
    print("store growth, a command (load, decide, save) on cases among other cases' history:")
    for key in (k for k in result if k.startswith("at_")):
        figures = result[key]
        print(f"  with {figures['events']:>9,} events stored:  p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms,"
              f" p99 {figures['p99_ms']} ms")
    print(f"  p50 change: {result['p50_growth']:+.1%}")
    rebuilt = result["projection_rebuild"]
    print(f"  the case list rebuilt from the whole log: {rebuilt['events']:,} events in {rebuilt['seconds']} s"
          f" ({rebuilt['events_per_second']:,}/s)")
    return result


BENCHMARKS = {"commands": commands, "overdue": lambda env, store: overdue_scan(store),
              "audit": lambda env, store: audit_trail(store), "e2e": end_to_end, "growth": growth}


def main() -> None:
    """`python -m bench [commands|overdue|audit|e2e|growth ...]`: the named benchmarks, or all of them."""
    chosen = sys.argv[1:] or list(BENCHMARKS)
    env = setup_environment()
    store, results = None, {"date": datetime.now(UTC).isoformat(), "machine": machine()}
    try:
        store = CasesStore(CasesSettings.from_env())
        for name in chosen:
            results[name] = BENCHMARKS[name](env, store)
    finally:
        if store is not None:
            store.close()
        teardown(env)
    path = Path(os.environ.get("BENCH_JSON", ROOT / ".run" / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures as JSON: {path}")


def machine() -> str:
    cpus = os.cpu_count()
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return f"{cpus} cores, {int(memory) // 1024 // 1024} GiB"


if __name__ == "__main__":
    main()
