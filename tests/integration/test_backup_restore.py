"""The backup drill (README: Backups and restore): an installation of its own (scripts/stack.sh on its own
run folder, ports and backup folder, WAL archived), the five services on it under load, a base backup
taken while they work, the database destroyed, `stack.sh restore` to a moment T in between, and then:
every chain verifies, everything accepted before T is there and nothing begun after it, each event's
effect (a notification) is there exactly once, the lists agree with the event store, and work goes on.
Prints the recovery point and time it measured."""
import datetime
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import ORDER
from tests.support import (
    STACK,
    Api,
    BackgroundLoad,
    Infrastructure,
    ServiceProcess,
    counter,
    create_people,
    service_env,
    wait_until,
)

ARCHIVE_TIMEOUT = 5  # seconds; make up's default is 60
CONSENT = {"services": True, "share_with_providers": False, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"


@dataclass
class Command:
    case: str
    version: int
    started: float  # wall clock, as PostgreSQL stamps commits
    answered: float


class Load(BackgroundLoad):
    """A caseworker registering cases and recording consent, a supervisor moving each to another caseworker
    (a notification for both); remembers when each accepted command was sent and answered."""

    def __init__(self, people: dict):
        self.cw1, self.sup1 = people["cw1"], people["sup1"]
        self.accepted: list[Command] = []
        self.registrations: list[tuple[float, str | None]] = []  # (sent, case id; None: no answer)
        super().__init__()

    def call(self, api: Api, path: str, body: dict, versioned: bool = True) -> dict | None:
        """The answer of an accepted command; remembered when it says the case's version it made."""
        started = time.time()
        try:
            response = api.post(path, body)
        except requests.RequestException:
            return None
        if response.status_code >= 400:
            time.sleep(0.1)
            return None
        answer = response.json()
        if versioned:
            self.accepted.append(Command(answer["id"], answer["version"], started, time.time()))
        return answer

    def run(self) -> None:
        while self.running:
            sent = time.time()
            case = self.call(self.cw1, "/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "medium"})
            self.registrations.append((sent, case and case["id"]))
            if case is None:
                continue
            path = f"/v1/cases/{case['id']}"
            if self.call(self.cw1, f"{path}/consent", CONSENT, versioned=False):  # answers the consent record
                self.call(self.sup1, f"{path}/reassign", {"caseworker": "cw2"})

    def cases(self) -> int:
        return len([case for _, case in self.registrations if case])


@pytest.fixture
def installation(tmp_path_factory, test_env):
    base = tmp_path_factory.mktemp("drill")
    infra = Infrastructure(base / "run")
    infra.env.update(WAL_ARCHIVE="on", BACKUP_DIR=str(base / "backups"), ARCHIVE_TIMEOUT=str(ARCHIVE_TIMEOUT),
                     BACKUP_KEEP="2")
    infra("infra-start")
    logs = tmp_path_factory.mktemp("drill-logs")
    # The services hold the installation's own keys (its secrets file), as under `make up`: the audit CLI
    # run through stack.sh reads what they wrote.
    env = service_env({**test_env, **infra.secrets(), "POSTGRES_PORT": infra.env["POSTGRES_PORT"],
                       "POSTGRES_DBNAME": "casetrail", **infra.identities(), "LOG_DIR": str(logs),
                       "AUDIT_CHECKPOINT_DIR": str(infra.run_dir / "audit-checkpoints"), "AUDIT_CHECKPOINT_SECONDS": "1"})
    processes = {name: ServiceProcess(name, env, logs) for name in ORDER}
    try:
        yield infra, processes, env
    finally:
        stop(processes)
        infra("infra-stop")


def stack(infra: Infrastructure, *command: str, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(STACK), *command], env={**infra.env, **env}, capture_output=True, text=True)
    assert done.returncode == 0, f"stack.sh {' '.join(command)}: {done.stdout}\n{done.stderr}"
    return done


def at_once(processes: dict[str, ServiceProcess], action: Callable[[ServiceProcess], object]) -> None:
    """`action` on every service, all at the same time; returns when each is done."""
    threads = [threading.Thread(target=action, args=(process,)) for process in processes.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def start(processes: dict[str, ServiceProcess]) -> None:
    """Every service at once (each waits for the others where it must), until each answers /health."""
    at_once(processes, ServiceProcess.start)
    assert all(process.healthy() for process in processes.values())


def stop(processes: dict[str, ServiceProcess]) -> None:
    at_once(processes, ServiceProcess.stop)


def destroy(infra: Infrastructure) -> None:
    """The disaster: the database server dies and its data folder is gone."""
    subprocess.run(["runuser", "-u", "postgres", "--", PG_CTL, "-D", str(infra.run_dir / "pg"), "-m", "immediate",
                    "stop"], check=True, capture_output=True)
    shutil.rmtree(infra.run_dir / "pg")


def archived_at(infra: Infrastructure) -> float:
    """When PostgreSQL last finished archiving a WAL segment (0: never)."""
    with infra.admin("postgres") as conn:
        at = conn.execute("SELECT extract(epoch FROM last_archived_time) FROM pg_stat_archiver").fetchone()[0]
    return float(at or 0)


def checkpoints(infra: Infrastructure) -> list[str]:
    folder = infra.run_dir / "audit-checkpoints"
    return sorted(p.name for p in folder.glob("checkpoint-*.json")) if folder.is_dir() else []


def checkpoint_time(name: str) -> float:
    stamp = name.split("-")[1]
    return datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=datetime.UTC).timestamp()


def test_backup_under_load_then_restore_to_a_moment_loses_and_repeats_nothing(installation):
    infra, processes, env = installation
    start(processes)
    people = create_people(Api(processes["gateway"].url), env["ADMIN_PASSWORD"])

    with Load(people) as load:
        wait_until(lambda: load.cases() >= 5, timeout=60, what="the load started")
        backup = stack(infra, "backup")
        assert "verified" in backup.stderr, backup.stderr
        # What CasetrailBackupTooOld reads (node_exporter's textfile collector).
        newest = (infra.run_dir / "metrics/casetrail_backup.prom").read_text()
        stamp = float(re.search(r"^casetrail_backup_last_success_timestamp_seconds (\d+)$", newest, re.M)[1])
        assert time.time() - 60 < stamp <= time.time(), newest
        seen = load.cases()
        wait_until(lambda: load.cases() >= seen + 5, timeout=60, what="work after the backup")
        # The notifications service is down from a moment before T: events from before T wait in its
        # queues, and those from after T pile up behind them (the restored database never had them).
        processes["notifications"].kill()
        time.sleep(1)
        target = time.time()
        seen = load.cases()
        # Work after T, a checkpoint signed after T, and WAL archived past T (recovery must see beyond it).
        # Meanwhile, the recovery point: how old the newest archived WAL is (what a disaster would lose),
        # sampled over two archive timeouts.
        sampled_from, ages = time.time(), []

        def after_target() -> bool:
            ages.append(time.time() - archived_at(infra))
            return (time.time() - sampled_from > 2 * ARCHIVE_TIMEOUT + 1 and load.cases() >= seen + 5
                    and archived_at(infra) > target + 1
                    and any(checkpoint_time(n) > target + 1 for n in checkpoints(infra)))
        wait_until(after_target, timeout=60, interval=0.2, what="work, a checkpoint and archived WAL after T")
        destroy(infra)
    moment = datetime.datetime.fromtimestamp(target, datetime.UTC).isoformat()
    # Refused while services are still connected (they would consume during the restore), and without the
    # installation's keys; nothing is touched then.
    refused = subprocess.run([str(STACK), "restore"], env={**infra.env, "TARGET": moment}, capture_output=True,
                             text=True)
    assert refused.returncode != 0 and "still connected" in refused.stderr, refused.stderr
    stop(processes)
    keys = infra.run_dir / "secrets.env"
    keys.rename(keys.with_suffix(".away"))
    refused = subprocess.run([str(STACK), "restore"], env={**infra.env, "TARGET": moment}, capture_output=True,
                             text=True)
    keys.with_suffix(".away").rename(keys)
    assert refused.returncode != 0 and "no secrets file" in refused.stderr, refused.stderr
    assert not (infra.run_dir / "pg").exists() and not list(infra.run_dir.glob("pg.before-restore-*"))

    started = time.monotonic()
    restored = stack(infra, "restore", TARGET=moment)
    kept = checkpoints(infra)
    start(processes)
    recovery_time = time.monotonic() - started
    recovery_point = max(ages)
    print(f"\nbackup drill: restore to T and every service answering /health in {recovery_time:.1f} s (RTO);"
          f" under load the newest archived WAL was at most {recovery_point:.1f} s old (RPO; ARCHIVE_TIMEOUT"
          f" {ARCHIVE_TIMEOUT} s)\n{restored.stderr}")
    assert recovery_point <= ARCHIVE_TIMEOUT + 3
    dropped = re.search(r"(\d+) message\(s\) dropped", restored.stderr)
    assert dropped and int(dropped.group(1)) > 0, restored.stderr

    # The chains hold, against the checkpoints from before T; those from after it were set aside, not lost.
    assert "moved to" in restored.stderr, restored.stderr
    assert kept and all(checkpoint_time(n) <= target for n in kept)
    aside = list((infra.run_dir / "audit-checkpoints").glob("after-restore-*/checkpoint-*.json"))
    assert aside and all(checkpoint_time(p.name) > target for p in aside)
    verified = stack(infra, "audit", "verify", "--all")
    assert "checkpoint" in verified.stdout, verified.stdout

    # Everything accepted before T is there; nothing sent after T is.
    with infra.admin() as conn:
        versions = {str(case): version for case, version in conn.execute(
            "SELECT originator_id, max(originator_version) FROM cases.cases_events WHERE originator_id IN"
            " (SELECT originator_id FROM cases.cases_events WHERE topic LIKE '%.CaseRegistered') GROUP BY 1").fetchall()}
    before = [c for c in load.accepted if c.answered < target]
    after = [c for c in load.accepted if c.started > target]
    assert before and after
    for command in before:
        assert versions.get(command.case, 0) >= command.version, command
    for command in after:
        assert versions.get(command.case, 0) < command.version, command
    late = {case for sent, case in load.registrations if case and sent > target}
    assert late and not late & versions.keys()
    sup1 = people["sup1"]
    for command in before:
        read = sup1.get(f"/v1/cases/{command.case}")
        assert read.status_code == 200 and read.json()["version"] == versions[command.case], read.text
    assert sup1.get(f"/v1/cases/{sorted(late)[0]}").status_code == 404

    # Each event's effect once: every relay has published its store again from the first event; the
    # notifications of the reassignments before T are there once each (the repeats dropped by the inbox),
    # and none of a case the store does not hold.
    def relays_caught_up() -> bool:
        with infra.admin() as conn:
            return all(conn.execute(
                f"SELECT coalesce((SELECT position FROM {s}.positions WHERE follower = 'outbox'), 0)"
                f" >= (SELECT coalesce(max(notification_id), 0) FROM {s}.{s}_events)").fetchone()[0]
                for s in ("cases", "referrals", "approvals", "gateway"))
    wait_until(relays_caught_up, timeout=60, what="every relay published its store again")
    with infra.admin() as conn:
        events = sum(conn.execute(f"SELECT count(*) FROM {s}.{s}_events").fetchone()[0]
                     for s in ("cases", "referrals", "approvals", "gateway"))
    print(f"backup drill: the relays' {events} events published again within {time.monotonic() - started:.1f} s"
          f" of the restore's start")
    with infra.admin() as conn:
        moved = {str(row[0]) for row in conn.execute(
            "SELECT originator_id FROM cases.cases_events WHERE topic LIKE '%.CaseReassigned'").fetchall()}

    def notified() -> list:
        with infra.admin() as conn:
            return conn.execute("SELECT case_id::text, recipient, count(*) FROM notifications.inbox_items"
                                " WHERE kind = 'case_reassigned' GROUP BY 1, 2").fetchall()
    expected = {(case, who, 1) for case in moved for who in ("cw1", "cw2")}
    wait_until(lambda: set(notified()) >= expected, timeout=60, what="a notification of each reassignment")
    assert sorted(notified()) == sorted(expected)
    assert counter(processes["notifications"], "casetrail_events_consumed_total", outcome="duplicate") > 0

    # The case list (a projection) agrees with the event store.
    listed = {item["id"]: item for item in sup1.every("/v1/cases")}
    assert listed.keys() == versions.keys()
    assert all(item.get("version", versions[case]) == versions[case] for case, item in listed.items())

    # And work goes on: a new case, moved, notified.
    case = people["cw1"].post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "medium"})
    assert case.status_code == 201, case.text
    assert sup1.post(f"/v1/cases/{case.json()['id']}/reassign", {"caseworker": "cw2"}).status_code == 200
    wait_until(lambda: any(item["case_id"] == case.json()["id"] for item in people["cw2"].every("/v1/notifications")),
               timeout=30, what="the new case's notification")

    # A lost disk, restored as of the newest archived WAL (TARGET=latest) from the newest of the base backups
    # taken since (on the new timeline; the oldest pruned with the WAL before the next): what it loses.
    with Load(people) as load:
        wait_until(lambda: load.cases() >= 3, timeout=60, what="the load started again")
        stack(infra, "backup")
        seen = load.cases()
        wait_until(lambda: load.cases() >= seen + 3, timeout=60, what="work between backups")
        stack(infra, "backup")
        backups = Path(infra.env["BACKUP_DIR"])
        bases = sorted(p.name for p in (backups / "base").iterdir() if not p.name.startswith("."))
        assert len(bases) == 2  # BACKUP_KEEP
        label = (backups / "base" / bases[0] / "data" / "backup_label").read_text()
        first = re.search(r"\(file ([0-9A-F]{24})\)", label).group(1)
        segments = [p.name[:24] for p in (backups / "wal").glob("*.gz") if re.fullmatch(r"[0-9A-F]{24}", p.name[:24])
                    and p.name[24:] == ".gz"]
        assert segments and all(segment[8:] >= first[8:] for segment in segments), (first, sorted(segments))
        # Work goes on for longer than the archive timeout after the last backup, then the disk is lost.
        resumed = time.monotonic()
        wait_until(lambda: time.monotonic() - resumed > ARCHIVE_TIMEOUT * 1.5 and load.cases() >= seen + 6,
                   timeout=60, what="work after the last backup")
        destroyed = time.time()
        destroy(infra)
    stop(processes)
    restored = stack(infra, "restore", TARGET="latest")
    assert f"restoring base backup {bases[-1]}," in restored.stderr, restored.stderr
    stack(infra, "audit", "verify", "--all")
    with infra.admin() as conn:
        present = {str(row[0]) for row in conn.execute(
            "SELECT originator_id FROM cases.cases_events WHERE topic LIKE '%.CaseRegistered'").fetchall()}
    registered = [c for c in load.accepted if c.version == 1]
    kept = [c for c in registered if c.case in present]
    assert kept and all(c.case in present for c in registered if c.answered < destroyed - ARCHIVE_TIMEOUT - 2)
    lost = destroyed - max(c.answered for c in kept)
    print(f"backup drill: restored as of the newest archived WAL, {lost:.1f} s of work before the disaster was"
          f" lost ({len(registered) - len(kept)} of {len(registered)} registrations; ARCHIVE_TIMEOUT {ARCHIVE_TIMEOUT} s)")
    assert lost <= ARCHIVE_TIMEOUT + 2
