"""casetrail-quarantine: events set aside by a follower or consumer, for operators.

    list [--service S] [--resolved]          open entries of every service (or one)
    show SERVICE ID                          one entry whole: its error, what waits behind it
    retry SERVICE ID [ID ...] | --all        hand entries back to their follower, after a fix,
          [--follower F] [--wait SECONDS]    and wait for the outcome (exit 1 if any fails again)

Run where the services run, with their environment (`make quarantine ARGS="list"` on a `make up`
machine). An event from the store is shown by type, aggregate and size, never decrypted: it may
hold survivor data. A bus event's envelope is shown as it came (it never holds survivor data)."""
import argparse
import hashlib
import json
import sys
import time
from typing import Any

import shared  # noqa: F401  (psycopg's eventlet-friendly wait, before psycopg loads)

# isort: split
import psycopg
from psycopg.rows import dict_row

from shared.bus import REQUEUE, SIGNATURE_HEADER, connection
from shared.quarantine import QUARANTINE_HEADER, Entry, Quarantine, Status
from shared.settings import QuarantineCliSettings

SERVICES = ("cases", "referrals", "approvals", "notifications", "gateway")


def connect(settings: QuarantineCliSettings) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(host=settings.postgres_host, port=settings.postgres_port, dbname=settings.postgres_dbname,
                           user=settings.postgres_user,  # its own login (make quarantine)
                           password=settings.postgres_password, autocommit=True, row_factory=dict_row)


def quarantine_of(settings: QuarantineCliSettings, service: str) -> Quarantine:
    return Quarantine(settings.schemas[service], service)


def has_table(conn, quarantine: Quarantine) -> bool:
    row = conn.execute("SELECT to_regclass(%s) AS t", (f"{quarantine.schema.as_string(conn)}.quarantine",)).fetchone()
    return row["t"] is not None


def list_entries(conn, settings: QuarantineCliSettings, args) -> int:
    rows = []
    for service in [args.service] if args.service else SERVICES:
        quarantine = quarantine_of(settings, service)
        if has_table(conn, quarantine):
            rows += [(service, e) for e in quarantine.entries(conn.cursor(), include_resolved=args.resolved)]
    if not rows:
        print("No events set aside.")
        return 0
    print(f"{'service':<14}{'id':>6}  {'status':<12}{'follower':<44}{'event':<22}{'aggregate':<38}error")
    for service, e in rows:
        print(f"{service:<14}{e.id:>6}  {e.status:<12}{e.follower:<44}{e.event_type:<22}{str(e.aggregate_id):<38}"
              f"{e.error}")
    return 0


def show(conn, settings: QuarantineCliSettings, args) -> int:
    quarantine = quarantine_of(settings, args.service)
    entry = quarantine.entry(conn.cursor(), args.ids[0])
    if entry is None:
        print(f"casetrail-quarantine: no entry {args.ids[0]} in {args.service}", file=sys.stderr)
        return 2
    print(json.dumps(describe(entry), indent=2))
    return 0


def describe(entry: Entry) -> dict:
    shown = {name: getattr(entry, name) for name in Entry.__dataclass_fields__ if name not in ("body", "content_type")}
    shown = {k: str(v) if v is not None and not isinstance(v, int) else v for k, v in shown.items()}
    if is_bus_event(entry):
        shown["envelope"] = json.loads(entry.body)  # the bus never carries survivor data
    else:
        shown["stored_event"] = {"topic": entry.content_type, "bytes": len(entry.body),
                                 "sha256": hashlib.sha256(entry.body).hexdigest()}
    return shown


def is_bus_event(entry: Entry) -> bool:
    return entry.follower.startswith("casetrail.")


def retry(conn, settings: QuarantineCliSettings, args) -> int:
    quarantine = quarantine_of(settings, args.service)
    curs = conn.cursor()
    chosen = [e for e in quarantine.entries(curs) if e.status in (Status.QUARANTINED, Status.RETRYING)
              and (args.all or e.id in args.ids) and (not args.follower or e.follower == args.follower)]
    missing = set(args.ids) - {e.id for e in chosen}
    if missing:
        print(f"casetrail-quarantine: not in quarantine in {args.service}: {sorted(missing)}"
              " (held entries follow the one they wait behind)", file=sys.stderr)
        return 2
    for entry in chosen:
        quarantine.retry(curs, entry.id)
        if is_bus_event(entry):
            resend(settings, entry)
    return wait_for(conn, quarantine, chosen, args.wait)


def resend(settings: QuarantineCliSettings, entry: Entry) -> None:
    """Back to its consumer's queue, marked with the entry it retries."""
    with connection(settings.require_amqp_uri(), settings.amqp_tls) as conn:
        conn.Producer().publish(entry.body, exchange=REQUEUE.name, routing_key=entry.follower, delivery_mode=2,
                                headers={QUARANTINE_HEADER: entry.id, SIGNATURE_HEADER: entry.signature},
                                retry=True,
                                content_type=entry.content_type or "application/json", content_encoding="utf-8")


def wait_for(conn, quarantine: Quarantine, entries: list[Entry], seconds: float) -> int:
    deadline, pending = time.monotonic() + seconds, {e.id: e for e in entries}
    failed = []
    while pending and time.monotonic() < deadline:
        for entry_id, before in list(pending.items()):
            now = quarantine.entry(conn.cursor(), entry_id)
            if now is None:
                print(f"{entry_id}: no longer in the quarantine table")
                failed.append(entry_id)
            elif now.status == Status.RESOLVED:
                print(f"{entry_id}: resolved")
            elif now.status == Status.QUARANTINED and now.attempts > before.attempts:
                print(f"{entry_id}: failed again: {now.error}")
                failed.append(entry_id)
            else:
                continue
            del pending[entry_id]
        time.sleep(0.2)
    for entry_id in pending:
        print(f"{entry_id}: handed back; not applied yet (is the service running?)")
    return 1 if failed or pending else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="casetrail-quarantine", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="open entries")
    listing.add_argument("--service", choices=SERVICES)
    listing.add_argument("--resolved", action="store_true", help="resolved entries too")
    shown = commands.add_parser("show", help="one entry whole")
    shown.add_argument("service", choices=SERVICES)
    shown.add_argument("ids", type=int, nargs=1, metavar="ID")
    retried = commands.add_parser("retry", help="hand entries back to their follower")
    retried.add_argument("service", choices=SERVICES)
    retried.add_argument("ids", type=int, nargs="*", metavar="ID")
    retried.add_argument("--all", action="store_true", help="every quarantined entry (of --follower)")
    retried.add_argument("--follower")
    retried.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the outcome")
    return top


COMMANDS = {"list": list_entries, "show": show, "retry": retry}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "retry" and not (args.ids or args.all):
        parser().error("retry takes entry ids or --all")
    settings = QuarantineCliSettings.from_env(SERVICES)
    with connect(settings) as conn:
        return COMMANDS[args.command](conn, settings, args)


if __name__ == "__main__":
    sys.exit(main())
