"""The bare eventsourcing ceiling of issue 23: register + consent with eventsourcing alone on the same
PostgreSQL (a plain aggregate registered, then loaded, changed and saved; one thread, no HTTP, no RPC, no
encryption, no hash chain), and what it costs: this process's CPU and PostgreSQL's per command, and the
statements, measured as the system's runs are (bench/system.py Meter)."""
import os
import time

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench import system

SECONDS = float(os.environ.get("BENCH_BARE_SECONDS", "10"))


class BareCase(Aggregate):
    @event("Registered")
    def __init__(self, survivor: dict, risk_level: str):
        self.survivor, self.risk_level, self.consent = survivor, risk_level, None

    @event("ConsentRecorded")
    def record_consent(self, consent: dict) -> None:
        self.consent = consent


class BareCases(Application):
    name = "bare"


def register_and_consent(dbname: str, consent: dict) -> dict:
    """As many register + consent pairs as SECONDS allows, in a schema of their own in `dbname`."""
    with system.postgres(dbname, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bare_eventsourcing")
    app = BareCases(env={
        "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": str(system.RUN_DIR / "pgsock"), "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "54329"),
        "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "", "POSTGRES_SCHEMA": "bare_eventsourcing",
        "CREATE_TABLE": "y"})
    try:
        for _ in range(50):  # warm up
            app.save(BareCase({"name": "Bench Survivor"}, "medium"))
        roots = {"bench": os.getpid(), **{k: v for k, v in system.infrastructure_pids().items() if k == "postgres"}}
        commands = 0
        with system.Meter(roots, dbname) as meter:
            deadline = time.monotonic() + SECONDS
            while time.monotonic() < deadline:
                case = BareCase({"name": "Bench Survivor"}, "medium")
                app.save(case)
                case = app.repository.get(case.id)
                case.record_consent(consent)
                app.save(case)
                commands += 2
        return {"commands": commands, "commands_per_second": round(commands / meter.seconds, 1),
                **system.with_total(meter.per_command(commands), ("bench", "postgres"))}
    finally:
        app.close()
