"""Operating Casetrail: Prometheus scraping the running services, and a second instance of a
command service and of a consumer service sharing the work."""
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml

from shared.bus import event_publisher
from shared.envelope import make_envelope
from tests.integration.conftest import ORDER, PLANTED
from tests.support import ROOT, ServiceProcess, counter, database, free_port, publish_as_owner, service_env, wait_until


@pytest.fixture(scope="module")
def prometheus(system, tmp_path_factory):
    """The Debian prometheus binary `make up` runs, scraping this session's services every second."""
    folder = tmp_path_factory.mktemp("prometheus")
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(ROOT / "deploy/prometheus/alerts.yml")],
              "scrape_configs": [{"job_name": "casetrail", "static_configs": [
                  {"targets": [process.url.removeprefix("http://")], "labels": {"service": name}}
                  for name, process in system.items()]}]}
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(["/usr/bin/prometheus", f"--config.file={folder / 'prometheus.yml'}",
                                f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=open(folder / "prometheus.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: ready(url), timeout=30, what="Prometheus ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/-/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def query(url: str, expr: str) -> list[dict]:
    answer = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def value(url: str, expr: str) -> float:
    result = query(url, expr)
    return float(result[0]["value"][1]) if result else 0.0


def test_prometheus_sees_every_service_up_and_a_command_counter_move(prometheus, people):
    wait_until(lambda: {r["metric"]["service"] for r in query(prometheus, 'up{job="casetrail"} == 1')} == set(ORDER),
               what="every service up in Prometheus")
    before = value(prometheus, 'sum(casetrail_commands_total{service="cases",command="register_case",outcome="ok"})')
    people["cw1"].post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "low"})
    wait_until(lambda: value(prometheus, 'sum(casetrail_commands_total{service="cases",command="register_case",'
                                         'outcome="ok"})') > before, what="the command counter to move")
    for gauge in ('casetrail_store_up{service="cases"}', 'casetrail_follower_lag_events{follower="outbox"}',
                  "casetrail_open_cases", "casetrail_overdue_follow_ups", "casetrail_pending_approvals",
                  "casetrail_referrals", 'casetrail_consumer_queue_messages{queue="retry"}',
                  "casetrail_command_duration_seconds_bucket", "casetrail_events_appended_total"):
        assert query(prometheus, gauge), gauge
    wait_until(lambda: value(prometheus, 'max(casetrail_open_cases{stage="engagement",risk_level="low"})') >= 1,
               what="the new case in the open-cases gauge")
    rules = requests.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert {"CasetrailEventsQuarantined", "CasetrailOutboxLagGrowing"} <= {r["name"] for g in rules for r in g["rules"]}


def test_a_refused_command_is_counted_as_a_refusal_never_as_a_fault(system, people):
    """The dashboard's "Refused commands" and "Command faults", and CasetrailCommandFaults, rest on this."""
    cases = system["cases"]
    refused = counter(cases, "casetrail_commands_total", command="get_case", outcome="NotFound", kind="refused")
    faults = counter(cases, "casetrail_commands_total", kind="fault")
    assert people["cw1"].get(f"/v1/cases/{uuid.uuid4()}").status_code == 404
    # Counted once the worker ends, which may be just after its answer has been sent.
    wait_until(lambda: counter(cases, "casetrail_commands_total", command="get_case", outcome="NotFound",
                               kind="refused") == refused + 1, what="the refusal counted")
    assert counter(cases, "casetrail_commands_total", kind="fault") == faults


def test_two_instances_of_cases_and_notifications_share_the_work_once_and_in_order(system, people, test_env):
    env = service_env(test_env)
    extra = [ServiceProcess(name, env, Path(test_env["LOG_DIR"]), instance="-2") for name in ("cases", "notifications")]
    try:
        for process in extra:
            process.start()
        cases = [system["cases"], extra[0]]
        notifications = [system["notifications"], extra[1]]
        cw1, sup1 = people["cw1"], people["sup1"]
        before = [counter(p, "casetrail_commands_total", command="reassign", outcome="ok") for p in cases]

        created = [cw1.post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "medium"}).json()
                   for _ in range(12)]
        for case in created:
            for caseworker in ("cw2", "cw1", "cw2"):  # CaseReassigned at versions 2, 3 and 4
                response = sup1.post(f"/v1/cases/{case['id']}/reassign", {"caseworker": caseworker})
                assert response.status_code == 200, response.text

        handled = [counter(p, "casetrail_commands_total", command="reassign", outcome="ok") - b
                   for p, b in zip(cases, before)]
        assert sum(handled) == 36 and min(handled) > 0, handled  # both cases instances took commands

        ids = [case["id"] for case in created]

        def reassigned_notices() -> dict:
            with database(test_env) as conn:
                rows = conn.execute("SELECT recipient, count(*) FROM notifications.inbox_items WHERE kind ="
                                    " 'case_reassigned' AND case_id = ANY(%s) GROUP BY recipient",
                                    (ids,)).fetchall()
            return dict(rows)
        # Each reassignment tells the previous and the new caseworker, exactly once each.
        wait_until(lambda: reassigned_notices() == {"cw1": 36, "cw2": 36}, timeout=60,
                   what="every reassignment notified once")
        consumed = [counter(p, "casetrail_events_consumed_total", consumer="notify", event_type="CaseReassigned",
                            outcome="processed") for p in notifications]
        assert min(consumed) > 0, consumed  # both notifications instances took events

        def directory() -> dict:
            with database(test_env) as conn:
                return dict(conn.execute("SELECT case_id::text, assigned_to FROM notifications.case_directory"
                                         " WHERE case_id = ANY(%s)", (ids,)).fetchall())
        assert directory() == {case_id: "cw2" for case_id in ids}

        # Events of one case arriving out of order (the later one first, both at once, two consumers):
        # the case's newest version wins, never the last one handled. Played by a test client holding
        # the cases service's credentials.
        publisher = event_publisher(test_env["AMQP_URI"])
        for case in created:
            for version, previous, assigned_to in ((6, "cw1", "cw3"), (5, "cw2", "cw1")):
                publish_as_owner(publisher, make_envelope(
                    source="cases", event_type="CaseReassigned", aggregate_id=uuid.UUID(case["id"]),
                    aggregate_version=version, occurred_at=datetime.now(UTC), payload={
                        "previous": previous, "assigned_to": assigned_to},
                    by={"username": "sup1", "role": "supervisor", "correlation_id": None}))
        wait_until(lambda: reassigned_notices() == {"cw1": 60, "cw2": 48, "cw3": 12}, timeout=60,
                   what="the late events handled")
        assert directory() == {case_id: "cw3" for case_id in ids}
    finally:
        for process in extra:
            process.stop()
    leaks = [(p.log_path.name, s) for p in extra for s in PLANTED if s in p.log_path.read_text(errors="replace")]
    assert not leaks
