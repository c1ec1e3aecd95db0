"""README promises about running Casetrail that no other test checked: JSON log lines that carry the
client's correlation id, the audit CLI's exit code when the gateway is away, the first admin and its
default password, and the outbox relay woken by each commit with a poll as its fallback."""
import json
import os
import subprocess
import sys
import uuid

import eventlet
import pytest

from services.cases.application import Cases
from services.cases.views import public_event
from shared.bus import event_publisher
from shared.outbox import FollowerLoop, Relay
from tests.integration.test_outbox import CASEWORKER, observer
from tests.support import PASSWORD, ROOT, Api, ServiceProcess, as_harness, free_port, service_env, wait_until


def test_service_logs_are_json_lines_and_a_clients_correlation_id_follows_the_request(system, people):
    sent = f"trace-{uuid.uuid4()}"
    refused = people["cw1"].get(f"/v1/cases/{uuid.uuid4()}", headers={"X-Correlation-Id": sent})
    assert refused.status_code == 404  # the cases service logs the refusal, under the request's id

    def traced() -> list[dict]:
        lines = [json.loads(line) for line in system["cases"].log_path.read_text().splitlines()]
        return [line for line in lines if line.get("correlation_id") == sent]
    [line] = wait_until(traced, what="the cases service's log line for the request")
    assert {"ts", "level", "logger", "message"} <= set(line)
    for process in system.values():
        for number, text in enumerate(process.log_path.read_text().splitlines(), 1):
            assert isinstance(json.loads(text), dict), f"{process.log_path.name}:{number} is not a JSON object"


def test_the_audit_cli_exits_3_when_the_gateway_cannot_be_reached():
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "CASETRAIL_PASSWORD": PASSWORD}
    result = subprocess.run([sys.executable, "-m", "services.cases.audit", "--gateway", nowhere, "--user", "aud1",
                             "verify", str(uuid.uuid4())], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 3, (result.returncode, result.stderr)


def test_a_gateway_started_without_admin_password_creates_the_admin_once_and_warns(test_env, private_bus, tmp_path):
    username = f"root-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in as_harness(service_env(test_env)).items() if k != "ADMIN_PASSWORD"}
    env.update(private_bus, ADMIN_USERNAME=username, GATEWAY_POSTGRES_SCHEMA=f"gateway_{uuid.uuid4().hex[:8]}")
    gateway = ServiceProcess("gateway", env, tmp_path)
    try:
        for _ in range(2):  # a first start, then a restart: the admin exists by then
            gateway.start()
            admin = Api(gateway.url).login(username, "admin-change-me")
            assert admin.get("/v1/users/me").json()["role"] == "admin"
            # A password anybody could know is good only to set a new one.
            assert admin.get("/v1/users").json()["code"] == "password_change_required"
            gateway.stop()
    finally:
        gateway.stop()
    warnings = [json.loads(line) for line in gateway.log_path.read_text().splitlines() if "default password" in line]
    assert [w["level"] for w in warnings] == ["WARNING"], warnings
    assert "admin-change-me" not in gateway.log_path.read_text()


@pytest.fixture
def bus(private_bus):
    received, delete = observer(private_bus["AMQP_URI"])
    yield received
    delete()


@pytest.fixture
def relay_loop(store, private_bus):
    """Runs the outbox relay of a store as a service runs it, with a poll interval of the test's choosing."""
    loops = []

    def run(poll_seconds: float) -> FollowerLoop:
        loop = FollowerLoop(store, Relay(store, public_event, event_publisher(private_bus["AMQP_URI"])), poll_seconds)
        loops.append((loop, eventlet.spawn(loop.run)))
        return loop
    yield run
    for loop, thread in loops:
        loop.stopping = True
        loop.wake.set()
        thread.wait()


def register(store) -> None:
    store.register_case(CASEWORKER, {"survivor": {"name": "S"}, "risk_level": "low", "is_child": False,
                                     "caregiver": None, "intake_notes": None})


def test_the_relay_publishes_right_after_a_commit_without_waiting_for_its_poll(store, relay_loop, bus):
    relay_loop(poll_seconds=300)
    register(store)
    [published] = bus(1)  # waits at most 10 s, a thirtieth of the poll interval
    assert published["event_type"] == "CaseRegistered"


def test_the_relay_finds_a_commit_it_was_not_told_of_by_polling(store, relay_loop, bus):
    relay_loop(poll_seconds=1)
    elsewhere = Cases(store.settings)  # another instance: its commits do not wake this relay
    try:
        register(elsewhere)
        [published] = bus(1)
        assert published["event_type"] == "CaseRegistered"
    finally:
        elsewhere.close()
