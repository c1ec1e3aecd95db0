"""Faults under load, with real processes: services killed, the broker and the database stopped.
These tests run on a PostgreSQL and a RabbitMQ of their own (other ports, other data folder),
so stopping them disturbs no other test."""
import time

import psycopg
import pytest
import requests

from tests.integration.conftest import ORDER, PLANTED, SERVICES
from tests.support import Api, BackgroundLoad, Infrastructure, ServiceProcess, create_people, service_env, wait_until

CONSENT = {"services": True, "share_with_providers": False, "mandatory_reporting_explained": True,
           "given_by": "survivor"}
PLAN = {"goals": [{"need": "medical", "action": "clinic", "responsible": "cw1", "due_date": "2026-12-20"}]}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, test_env):
    infra = Infrastructure(tmp_path_factory.mktemp("faults") / "run")
    infra("infra-start")
    logs = tmp_path_factory.mktemp("fault-logs")
    env = service_env({**test_env, "POSTGRES_PORT": infra.env["POSTGRES_PORT"], "POSTGRES_DBNAME": "casetrail",
                       **infra.identities(), "LOG_DIR": str(logs)})
    processes = {name: ServiceProcess(name, env, logs) for name in ORDER}
    try:
        for process in processes.values():
            process.start()
        api = Api(processes["gateway"].url)
        yield {"infra": infra, "processes": processes, "people": create_people(api, test_env["ADMIN_PASSWORD"]),
               "db": {"host": str(infra.run_dir / "pgsock"), "port": infra.env["POSTGRES_PORT"], "dbname": "casetrail",
                      "user": "postgres"}}
    finally:
        for process in processes.values():
            process.stop()
        infra("infra-stop")


class Load(BackgroundLoad):
    """Caseworkers and a supervisor working through cases until stopped; remembers what was accepted."""

    def __init__(self, people: dict):
        self.cw1, self.sup1 = people["cw1"], people["sup1"]
        self.registered, self.reassigned, self.submitted = [], [], []
        self.failures, self.slowest_failure = 0, 0.0
        super().__init__()

    def call(self, api: Api, method: str, path: str, body=None):
        started = time.monotonic()
        try:
            response = api.request(method, path, body)
        except requests.RequestException:
            response = None
        if response is None or response.status_code >= 400:
            self.failures += 1
            self.slowest_failure = max(self.slowest_failure, time.monotonic() - started)
            time.sleep(0.1)
            return None
        return response.json()

    def run(self) -> None:
        n = 0
        while self.running:
            n += 1
            case = self.call(self.cw1, "POST", "/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "medium"})
            if case is None:
                continue
            self.registered.append(case["id"])
            path = f"/v1/cases/{case['id']}"
            if n % 3 == 0 and self.call(self.cw1, "POST", f"{path}/consent", CONSENT) \
                    and self.call(self.cw1, "POST", f"{path}/assessment", {"needs": ["medical"], "safety_concerns": "x"}) \
                    and self.call(self.cw1, "PUT", f"{path}/plan", PLAN) \
                    and self.call(self.cw1, "POST", f"{path}/plan/submit"):
                self.submitted.append(case["id"])
            moved = self.call(self.sup1, "POST", f"{path}/reassign", {"caseworker": "cw2"})
            if moved:
                self.reassigned.append((case["id"], moved["version"]))

    def progressing(self, count: int) -> bool:
        return len(self.registered) >= count


def settled_and_exactly_once(faulty, load: Load) -> None:
    """Every accepted command's event is stored, published and handled once; none set aside.
    A command whose answer was lost (a 503 while it committed) counts as stored too."""
    assert load.registered and load.reassigned and load.submitted, "the load did not get through"
    with psycopg.connect(**faulty["db"], autocommit=True) as conn:
        def one(sql, *params):
            return conn.execute(sql, params).fetchone()[0]

        def cases_with(event_type: str) -> set[str]:
            return {str(row[0]) for row in conn.execute(
                "SELECT originator_id FROM cases.cases_events WHERE originator_id = ANY(%s) AND topic LIKE %s",
                (load.registered, f"%.{event_type}")).fetchall()}

        for case_id, version in load.reassigned:
            assert one("SELECT count(*) FROM cases.cases_events WHERE originator_id = %s AND originator_version = %s",
                       case_id, version) == 1
        moved, submitted = cases_with("CaseReassigned"), cases_with("CasePlanSubmitted")
        assert {case_id for case_id, _ in load.reassigned} <= moved and set(load.submitted) <= submitted

        def caught_up() -> bool:
            newest = one("SELECT max(notification_id) FROM cases.cases_events")
            return one("SELECT position FROM cases.positions WHERE follower = 'outbox'") == newest
        wait_until(caught_up, timeout=90, what="the cases outbox published everything")

        def notified() -> dict:
            return dict(conn.execute(
                "SELECT recipient || ':' || kind, count(*) FROM notifications.inbox_items WHERE case_id = ANY(%s)"
                " AND kind IN ('case_reassigned', 'approval_requested') GROUP BY 1", (load.registered,)).fetchall())
        expected = {"cw1:case_reassigned": len(moved), "cw2:case_reassigned": len(moved),
                    "sup1:approval_requested": len(submitted)}
        wait_until(lambda: notified() == expected, timeout=90, what=f"exactly {expected} notifications")
        duplicates = one("SELECT count(*) FROM (SELECT case_id, recipient, kind FROM notifications.inbox_items"
                         " WHERE case_id = ANY(%s) GROUP BY 1, 2, 3 HAVING count(*) > 1) d", load.registered)
        assert duplicates == 0
        pending = one("SELECT count(*) FROM approvals.approval_queue WHERE case_id = ANY(%s) AND status = 'pending'",
                      list(submitted))
        assert pending == len(submitted)
    listed = faulty["infra"]("rabbitmqctl", "list_queues", "name", "messages", "--no-table-headers", "-q")
    retrying = {line.split()[0]: int(line.split()[1]) for line in listed.splitlines()
                if line.split()[0].endswith(".delay")}
    assert retrying and not any(retrying.values()), retrying
    with psycopg.connect(**faulty["db"], autocommit=True) as conn:
        set_aside = {s: conn.execute(f"SELECT count(*) FROM {s}.quarantine").fetchone()[0] for s in SERVICES}
    assert not any(set_aside.values()), set_aside


def test_each_service_killed_under_load_loses_and_duplicates_nothing(faulty):
    processes = faulty["processes"]
    with Load(faulty["people"]) as load:
        wait_until(lambda: load.progressing(3), timeout=60, what="the load started")
        for name in SERVICES:
            seen = len(load.registered)
            processes[name].kill()
            time.sleep(0.5)  # load generation: the load keeps running into the dead service for a moment
            processes[name].start()
            wait_until(lambda: len(load.registered) > seen + 2, timeout=60, what=f"work going on after {name} came back")
    settled_and_exactly_once(faulty, load)


def test_the_broker_stopped_and_started_under_load_loses_nothing(faulty):
    infra = faulty["infra"]
    with Load(faulty["people"]) as load:
        wait_until(lambda: load.progressing(3), timeout=60, what="the load started")
        infra("rabbitmq-stop")
        failures, stopped = load.failures, time.monotonic()
        time.sleep(3)  # load generation: an outage of a few seconds, felt by the running load
        infra("rabbitmq-start")
        seen = len(load.registered)
        wait_until(lambda: len(load.registered) > seen + 3, timeout=90, what="commands accepted again")
        assert load.failures > failures  # the outage was felt...
        assert load.slowest_failure < 5.0  # ...as prompt 503s, never a hang
    assert time.monotonic() - stopped < 120
    settled_and_exactly_once(faulty, load)


def test_the_database_stopped_answers_503_promptly_and_work_resumes_by_itself(faulty):
    infra, cw1 = faulty["infra"], faulty["people"]["cw1"]
    infra("postgres-stop")
    try:
        for _ in range(3):
            started = time.monotonic()
            response = cw1.post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"})
            assert response.status_code == 503, response.text
            assert response.headers["Content-Type"] == "application/problem+json"
            assert time.monotonic() - started < 5.0
    finally:
        infra("postgres-start")
    resumed = wait_until(lambda: cw1.post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"})
                         .status_code == 201, timeout=60, what="commands accepted again")
    assert resumed
    with Load(faulty["people"]) as load:
        wait_until(lambda: load.progressing(6), timeout=60, what="the load after the restart")
    settled_and_exactly_once(faulty, load)


def test_zz_no_survivor_data_in_the_fault_runs_logs(faulty):
    """Runs last in this module (by name and by place): the services' logs after every fault.
    A test, not a fixture teardown, so a leak fails the run instead of showing as an ERROR."""
    leaks = [(p.log_path.name, planted) for p in faulty["processes"].values() for planted in PLANTED
             if planted in p.log_path.read_text(errors="replace")]
    assert not leaks, f"survivor data in service logs: {leaks}"
