"""casetrail-audit: the audit trail from the command line, for auditors and operators.

Every read is recorded in the case's history under an identity the command proved, never a name
given on the command line:

  As an auditor, from any machine, through the gateway with your own login
  (password from CASETRAIL_PASSWORD, or asked):
    casetrail-audit --gateway URL --user NAME replay CASE_ID [--json]
    casetrail-audit --gateway URL --user NAME verify CASE_ID
    casetrail-audit --gateway URL --user NAME export CASE_ID [-o FILE]
    casetrail-audit --gateway URL --user NAME public-key [-o FILE]

  Offline, anywhere, with nothing but the two files:
    casetrail-audit verify-bundle FILE --keys KEYS_FILE

  As the installation's operator, where the cases service runs, with its environment
  (`make audit ARGS="verify --all"`); recorded as AUDIT_OPERATOR, role "operator":
    replay CASE | verify CASE | export CASE | public-key     (CASE: an id or a case number)
    verify --all [--manifest FILE] [--progress]   every chain, and every chain against the latest
                                                  checkpoint in AUDIT_CHECKPOINT_DIR
    checkpoint                                    sign and write a checkpoint now
    master-keys                                   which master keys wrap the case keys, and how many
    rotate-master-key [--batch N] [--progress]    re-wrap every case key under CASES_MASTER_KEY (the
                                                  service runs on; a stopped run resumes where it was)

Output is redacted: identifying fields read "[redacted]".

Exit codes: 0 done, and whatever was verified holds; 1 something verified does not hold (a chain,
a bundle, a checkpoint), or a rotation left case keys under other master keys; 2 bad usage, or no
such case, or a file that cannot be read; 3 the database or the gateway cannot be reached; 4 the
login or the read was refused."""
import argparse
import getpass
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import shared  # noqa: F401  (psycopg's eventlet-friendly wait, before psycopg loads)
from services.cases.attestation import CheckpointInvalid, verify_bundle_command
from services.cases.settings import AuditCliSettings

LONG_RUN = 5000  # events: past this, verification shows a progress bar
DONE, DOES_NOT_HOLD, USAGE, UNREACHABLE, REFUSED = 0, 1, 2, 3, 4


class Refused(Exception):
    """The gateway refused the login or the read (exit 4)."""


class Unreachable(Exception):
    """The database or the gateway cannot be reached (exit 3)."""


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


# --- where the audit trail is read from --------------------------------------------------------

class Gateway:
    """The audit trail through the HTTP API, as a logged-in auditor: the gateway records each read."""

    def __init__(self, base: str, username: str, password: str):
        self.base = base.rstrip("/")
        self.token = self._request("POST", "/v1/auth/token", {"username": username, "password": password},
                                   )["access_token"]

    def history(self, case: str) -> list[dict]:
        items, cursor = [], None
        while True:
            page = self._get(f"/v1/cases/{_case_id(case)}/history", {"cursor": cursor} if cursor else {})
            items += page["items"]
            if not (cursor := page["next_cursor"]):
                return items

    def states(self, case: str) -> dict[int, str]:
        return {}  # the case's own folding needs the store: shown only where it runs

    def verify(self, case: str) -> dict:
        return self._get(f"/v1/cases/{_case_id(case)}/verify")

    def export(self, case: str) -> dict:
        return self._get(f"/v1/cases/{_case_id(case)}/export")

    def public_keys(self) -> dict:
        return self._get("/v1/audit/public-key")

    def replayed(self, case: str) -> None:
        pass  # the history pages read were each recorded by the gateway

    def close(self) -> None:
        pass

    def _get(self, path: str, query: dict | None = None) -> dict:
        return self._request("GET", path + (f"?{urllib.parse.urlencode(query)}" if query else ""))

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json", "Accept": "application/json",
                                                  **({"Authorization": f"Bearer {self.token}"}
                                                     if getattr(self, "token", None) else {})})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)
        except urllib.error.HTTPError as refused:
            detail = _problem_detail(refused)
            if refused.code == 404:
                raise LookupError(detail) from None
            if refused.code in (401, 403, 429):
                raise Refused(detail) from None
            raise Unreachable(f"the gateway answered {refused.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as down:
            raise Unreachable(f"cannot reach the gateway at {self.base}: {getattr(down, 'reason', down)}") from None


class Installation:
    """The audit trail in the cases service's own store, read as the installation's operator."""

    def __init__(self, settings: AuditCliSettings):
        from services.cases.queries import AuditTrail  # needs the service's environment
        from services.cases.settings import CasesSettings
        from services.cases.store import CaseStore
        from shared.caller import Caller
        from shared.vocabulary import Role
        operator = settings.operator
        if not operator:
            raise Refused("set AUDIT_OPERATOR to the installation's operator identity (make audit sets it),"
                          " or read as an auditor with --gateway URL --user NAME")
        self.checkpoint_dir = settings.checkpoint_dir
        try:
            # The cases service's own settings (its store, keys and master key), read once, here.
            self.store = CaseStore(CasesSettings.from_env())
        except Exception as failed:  # noqa: BLE001 - a database that cannot be reached, named below
            raise Unreachable(f"cannot open the cases store: {type(failed).__name__}: {str(failed)[:200]}") from None
        self.trail = AuditTrail(self.store)
        self.operator = Caller(username=operator, role=Role.OPERATOR, correlation_id="casetrail-audit")

    def history(self, case: str) -> list[dict]:
        return self.trail.full_history(self.operator, self.find(case))

    def states(self, case: str) -> dict[int, str]:
        """The case's stage, risk and plan after each of its own events, folded one by one."""
        aggregate, states = None, {}
        for event in self.store.events.get(self.find(case)):
            aggregate = event.mutate(aggregate)
            states[aggregate.version] = (f"{aggregate.stage}, {aggregate.risk_level} risk,"
                                         f" plan {aggregate.plan['status']}")
        return states

    def verify(self, case: str) -> dict:
        return self.trail.verify(self.operator, self.find(case))

    def export(self, case: str) -> dict:
        return self.trail.export(self.operator, self.find(case))

    def public_keys(self) -> dict:
        return self.trail.public_keys()

    def replayed(self, case: str) -> None:
        self.store.record_view(self.operator, self.find(case), "replay")

    def close(self) -> None:
        self.store.close()

    def find(self, reference: str) -> UUID:
        """A case by id or case number."""
        from services.cases.queries import CaseQueries
        try:
            return UUID(reference)
        except ValueError:
            pass
        case_id = CaseQueries(self.store).case_id_of(reference)
        if case_id is None:
            raise LookupError(f"no case {reference}")
        return case_id


# --- commands -------------------------------------------------------------------------------

def replay(source, args) -> int:
    items, states = source.history(args.case), source.states(args.case)
    verdict = source.verify(args.case)
    source.replayed(args.case)
    if args.json:
        for item in items:
            print(json.dumps(item))
        print(json.dumps({"verdict": verdict}))
        return DONE if verdict["valid"] else DOES_NOT_HOLD
    for item in items:
        print(_replay_line(item, states))
    print(_verdict_line(verdict))
    return DONE if verdict["valid"] else DOES_NOT_HOLD


def _replay_line(item: dict, states: dict[int, str]) -> str:
    actor = item.get("actor") or {}
    head = (f"{item['sequence']:>6}  {item.get('occurred_at', '?'):<27}  "
            f"{actor.get('username', '?')} ({actor.get('role', '?')})")
    if item.get("type") is None:
        return f"{head}  [missing or damaged event]"
    data = dict(item.get("data") or {})
    note = ""
    if "commented" in data:
        note = "  comment: " + ("yes (kept sealed by the approvals service)" if data.pop("commented") else "none")
    after = states.get(item.get("stream_version")) if item.get("stream") == "case" else None
    return (f"{head}  {item['type']}  {json.dumps(data, sort_keys=True, ensure_ascii=False)}{note}"
            + (f"  -> {after}" if after else ""))


def _verdict_line(verdict: dict) -> str:
    if verdict["valid"]:
        return f"verdict: the chain holds: {verdict['events']} events, head {verdict['head_hash']}"
    return (f"verdict: the chain does NOT hold from sequence {verdict.get('first_bad_sequence')}"
            f" ({verdict['events']} links)")


def verify(source, args) -> int:
    if not args.all:
        if args.manifest:
            raise ValueError("--manifest goes with --all")
        verdict = source.verify(args.case)
        print(json.dumps(verdict))
        return DONE if verdict["valid"] else DOES_NOT_HOLD
    if not isinstance(source, Installation):
        raise ValueError("verify --all runs where the cases service runs (make audit ARGS=\"verify --all\")")  # noqa: TRY004 (usage: exit 2)
    trail = source.trail
    total = trail.link_count()
    progress = Progress(total, args.progress or total >= LONG_RUN)
    started = time.monotonic()
    from shared.store import AuditChains
    result = AuditChains(source.store).verify_all(progress)
    progress.close()
    seconds = time.monotonic() - started
    result.update(seconds=round(seconds, 3), events_per_second=round(result["events"] / seconds) if seconds else None)
    result.update(against_checkpoint(trail, source.checkpoint_dir))
    if args.manifest:
        write_manifest(Path(args.manifest), trail.chain_heads())
        result["manifest"] = args.manifest
    print(json.dumps(result))
    holds = not result["invalid"] and not result["unchained_events"] and not result["drifted"]
    return DONE if holds and not result.get("checkpoint_invalid") else DOES_NOT_HOLD


def against_checkpoint(trail, directory: Path | None) -> dict:
    if directory is None or not directory.is_dir():
        return {"checkpoint": None, "drifted": {},
                "checkpoint_note": "no AUDIT_CHECKPOINT_DIR with checkpoints: rewrites of whole chains go unseen"}
    try:
        return trail.against_checkpoint(directory)
    except CheckpointInvalid as tampered:
        return {"checkpoint": None, "drifted": {}, "checkpoint_invalid": str(tampered)}


def write_manifest(path: Path, heads: dict[str, tuple[int, str]]) -> None:
    """Every chain's head hash, to keep elsewhere and compare later (unsigned: `checkpoint` signs)."""
    manifest = {"created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "heads": [{"chain_id": c, "sequence": n, "hash": h} for c, (n, h) in sorted(heads.items())]}
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def export(source, args) -> int:
    _write(json.dumps(source.export(args.case), indent=2, ensure_ascii=False), args.output)
    return DONE


def public_key(source, args) -> int:
    _write(json.dumps(source.public_keys(), indent=2), args.output)
    return DONE


def checkpoint(source, args) -> int:
    if not isinstance(source, Installation):
        raise ValueError("checkpoint runs where the cases service runs (make audit ARGS=checkpoint)")  # noqa: TRY004
    directory = source.checkpoint_dir
    if directory is None:
        raise ValueError("set AUDIT_CHECKPOINT_DIR: where checkpoints are kept, outside the database")
    directory.mkdir(parents=True, exist_ok=True)
    print(source.trail.write_checkpoint(directory))
    return DONE


def master_keys(source, args) -> int:
    from services.cases.rotation import keys_by_master_key
    master = _operator_store(source, "master-keys").settings.master_keys
    in_use = keys_by_master_key(source.store)
    print(json.dumps({"current": master.current_id, "retired": master.retired_ids,
                      "case_keys": {str(key_id): n for key_id, n in in_use.items()},
                      "retired_still_wrapping": [key_id for key_id in master.retired_ids if key_id in in_use],
                      "wrapped_before_key_ids": in_use.get(None, 0)}))
    return DONE


def rotate_master_key(source, args) -> int:
    from services.cases.rotation import rewrap
    master = _operator_store(source, "rotate-master-key").settings.master_keys

    def progress(done: int) -> None:
        if args.progress:
            print(f"\r{done:,} case keys re-wrapped under {master.current_id}", end="", file=sys.stderr, flush=True)
    try:
        rotation = rewrap(source.store, master, source.operator.username, args.batch, progress)
    except KeyboardInterrupt:
        print("\nstopped: what was re-wrapped is kept, the rest is as it was; run again to go on", file=sys.stderr)
        return DOES_NOT_HOLD
    if args.progress:
        print(file=sys.stderr)
    print(json.dumps(rotation.summary(master)))
    return DONE if rotation.done else DOES_NOT_HOLD


def _operator_store(source, command: str):
    if not isinstance(source, Installation):
        raise ValueError(f"{command} runs where the cases service runs (make audit ARGS={command})")  # noqa: TRY004
    return source.store


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text + "\n")
    else:
        print(text)


COMMANDS = {"replay": replay, "verify": verify, "export": export, "public-key": public_key,
            "checkpoint": checkpoint, "master-keys": master_keys, "rotate-master-key": rotate_master_key}


def parser(settings: AuditCliSettings) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="casetrail-audit", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--gateway", default=settings.gateway,
                     help="read through the gateway as an auditor (default: $CASETRAIL_GATEWAY)")
    top.add_argument("--user", default=settings.user,
                     help="your login at the gateway (default: $CASETRAIL_USER)")
    commands = top.add_subparsers(dest="command", required=True)
    replay_ = commands.add_parser("replay", help="a case's history, event by event, and the verdict")
    replay_.add_argument("case")
    replay_.add_argument("--json", action="store_true", help="the history items as JSON lines, then the verdict")
    verify_ = commands.add_parser("verify", help="recompute hash chains")
    target = verify_.add_mutually_exclusive_group(required=True)
    target.add_argument("case", nargs="?")
    target.add_argument("--all", action="store_true", help="every case in the store, and the latest checkpoint")
    verify_.add_argument("--progress", action="store_true", help="show progress even on short runs")
    verify_.add_argument("--manifest", help="with --all: write every chain's head hash to this file")
    export_ = commands.add_parser("export", help="a case's signed audit bundle")
    export_.add_argument("case")
    export_.add_argument("-o", "--output", help="file to write (default: stdout)")
    keys = commands.add_parser("public-key", help="the keys that verify bundles and checkpoints")
    keys.add_argument("-o", "--output", help="file to write (default: stdout)")
    commands.add_parser("checkpoint", help="sign every chain's head now, into AUDIT_CHECKPOINT_DIR")
    commands.add_parser("master-keys", help="which master keys wrap the case keys (fingerprints), and how many")
    rotate = commands.add_parser("rotate-master-key", help="re-wrap every case key under CASES_MASTER_KEY")
    rotate.add_argument("--batch", type=_positive, default=500, help="case keys per transaction (default 500)")
    rotate.add_argument("--progress", action="store_true", help="show the count after each batch")
    bundle = commands.add_parser("verify-bundle", help="check a bundle offline; names what was changed")
    bundle.add_argument("file")
    bundle.add_argument("--keys", required=True, help="the public keys (saved from public-key)")
    return top


def main(argv: list[str] | None = None) -> int:
    settings = AuditCliSettings.from_env()  # the environment, read once
    args = parser(settings).parse_args(argv)
    if args.command == "verify-bundle":
        return verify_bundle_command(args.file, args.keys, sys.stdout)
    source = None
    try:
        source = open_source(args, settings)
        return COMMANDS[args.command](source, args)
    except (LookupError, ValueError) as wrong:
        return _fail(wrong, USAGE)
    except Refused as refused:
        return _fail(refused, REFUSED)
    except Unreachable as down:
        return _fail(down, UNREACHABLE)
    finally:
        if source is not None:
            source.close()


def open_source(args, settings: AuditCliSettings):
    if not args.gateway:
        return Installation(settings)
    if not args.user:
        raise ValueError("--user NAME (or CASETRAIL_USER) goes with --gateway")
    password = settings.password or getpass.getpass(f"password for {args.user}: ")
    return Gateway(args.gateway, args.user, password)


def _fail(error: Exception, code: int) -> int:
    print(f"casetrail-audit: {error.args[0] if error.args else error}", file=sys.stderr)
    return code


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("a whole number, 1 or more")
    return int(text)


def _case_id(case: str) -> str:
    try:
        return str(UUID(case))
    except ValueError:
        raise ValueError("through the gateway, name the case by its id (a UUID)") from None


def _problem_detail(error: urllib.error.HTTPError) -> str:
    try:
        return json.load(error).get("detail") or error.reason
    except (ValueError, AttributeError, OSError):
        return str(error.reason)


if __name__ == "__main__":
    sys.exit(main())
