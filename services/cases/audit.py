"""casetrail-audit: the audit trail from the command line, for auditors and operators.

    casetrail-audit replay CASE            each event in order, and the case's stage after it
    casetrail-audit verify CASE | --all    recompute hash chains (exit 1 if any does not hold)
    casetrail-audit export CASE [-o FILE]  the case's audit bundle, as JSON

CASE is a case id or a case number. Run where the cases service runs, with its environment
(`make audit ARGS="verify --all"` does that on a `make up` machine). Output is always redacted:
identifying fields read "[redacted]". Replays and exports are recorded in the case's history."""
import argparse
import getpass
import hashlib
import json
import sys
import time
from datetime import UTC, datetime
from uuid import UUID

import shared  # noqa: F401  (psycopg's eventlet-friendly wait, before psycopg loads)
from services.cases.application import CasesStore, case_view
from services.cases.domain import Case
from shared.settings import Settings

LONG_RUN = 5000  # events: past this, verification shows a progress bar


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total: int, shown: bool, width: int = 40):
        self.total, self.shown, self.width, self.started = max(total, 1), shown, width, time.monotonic()

    def __call__(self, done: int) -> None:
        if not self.shown:
            return
        filled = int(self.width * min(done / self.total, 1))
        rate = done / max(time.monotonic() - self.started, 1e-9)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done:,}/{self.total:,} events"
                         f"  {rate:,.0f}/s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    store = CasesStore(Settings.for_service("cases"))
    auditor = {"username": args.as_user, "role": "auditor", "team": [], "correlation_id": f"cli-{args.command}"}
    try:
        return COMMANDS[args.command](store, auditor, args)
    except LookupError as missing:
        print(f"casetrail-audit: {missing.args[0]}", file=sys.stderr)
        return 2
    finally:
        store.close()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="casetrail-audit", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--as", dest="as_user", default=getpass.getuser(),
                     help="who is reading, as recorded in the case's history (default: your login)")
    commands = top.add_subparsers(dest="command", required=True)
    replay = commands.add_parser("replay", help="a case's history, event by event")
    replay.add_argument("case")
    replay.add_argument("--json", action="store_true", help="the history items as JSON lines")
    verify = commands.add_parser("verify", help="recompute hash chains")
    target = verify.add_mutually_exclusive_group(required=True)
    target.add_argument("case", nargs="?")
    target.add_argument("--all", action="store_true", help="every case in the store")
    verify.add_argument("--progress", action="store_true", help="show progress even on short runs")
    export = commands.add_parser("export", help="a case's audit bundle as JSON")
    export.add_argument("case")
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    return top


def find_case(store: CasesStore, reference: str) -> UUID:
    try:
        return UUID(reference)
    except ValueError:
        pass
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT case_id FROM {schema}.case_index WHERE case_number = %s"), (reference,))
        row = curs.fetchone()
    if row is None:
        raise LookupError(f"no case {reference}")
    return row["case_id"]


def full_history(store: CasesStore, auditor: dict, case_id: UUID) -> list[dict]:
    items, cursor = [], 0
    while True:
        page = store.history(auditor, case_id, cursor, 200, record=False)
        items += page["items"]
        if not page["next_cursor"]:
            return items
        cursor = int(page["next_cursor"])


def replay(store: CasesStore, auditor: dict, args) -> int:
    case_id = find_case(store, args.case)
    items = full_history(store, auditor, case_id)
    states = replayed_states(store, case_id)
    for item in items:
        if args.json:
            print(json.dumps(item))
            continue
        after = states.get(item["stream_version"]) if item.get("stream") == "case" else None
        summary = f"  -> {after}" if after else ""
        actor = item.get("actor") or {}
        print(f"{item['sequence']:>6}  {item.get('occurred_at', '?'):<27}  {actor.get('username', '?'):<16} "
              f"{item['type'] or '[missing or damaged]'}{summary}")
    store.record_view(auditor, case_id, "replay")
    return 0


def replayed_states(store: CasesStore, case_id: UUID) -> dict[int, str]:
    """The case's stage, risk and plan after each of its own events, folded one by one."""
    case, states = None, {}
    for event in store.events.get(case_id):
        case = event.mutate(case)
        states[case.version] = f"{case.stage}, {case.risk_level} risk, plan {case.plan['status']}"
    return states


def verify(store: CasesStore, auditor: dict, args) -> int:
    if not args.all:
        verdict = store.verify(auditor, find_case(store, args.case))
        print(json.dumps(verdict))
        return 0 if verdict["valid"] else 1
    with store.datastore.transaction() as curs:
        curs.execute(store.sql("SELECT count(*) AS n FROM {schema}.audit_chain"))
        total = curs.fetchone()["n"]
    progress = Progress(total, args.progress or total >= LONG_RUN)
    started = time.monotonic()
    result = store.verify_all(progress)
    progress.close()
    seconds = time.monotonic() - started
    result["seconds"] = round(seconds, 3)
    result["events_per_second"] = round(result["events"] / seconds) if seconds else None
    print(json.dumps(result))
    return 0 if not result["invalid"] and not result["unchained_events"] else 1


def export(store: CasesStore, auditor: dict, args) -> int:
    bundle = audit_bundle(store, auditor, find_case(store, args.case))
    text = json.dumps(bundle, indent=2)
    if args.output:
        with open(args.output, "w") as out:
            out.write(text + "\n")
    else:
        print(text)
    return 0


def audit_bundle(store: CasesStore, auditor: dict, case_id: UUID) -> dict:
    """Everything an auditor needs about one case, redacted, with a hash over the bundle."""
    history = full_history(store, auditor, case_id)
    verification = store.verify(auditor, case_id)
    try:
        state = case_view(store.get_one(case_id, Case, "No such case."), redact=True)
    except Exception as damaged:  # a damaged event: the bundle still carries the history and verdict
        state = {"unreadable": str(damaged)[:200]}
    bundle = {"case_id": str(case_id), "case_number": state.get("case_number"),
              "exported_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "exported_by": auditor["username"],
              "verification": verification, "state": state, "history": history}
    bundle["bundle_sha256"] = hashlib.sha256(json.dumps(bundle, sort_keys=True).encode()).hexdigest()
    store.record_view(auditor, case_id, "audit_export")
    return bundle


COMMANDS = {"replay": replay, "verify": verify, "export": export}

if __name__ == "__main__":
    sys.exit(main())
