"""Alerts reach people: a service stops, the real Prometheus fires CasetrailServiceDown from the real alert
rules, and the real Alertmanager, configured by the code `make up` uses (shared/monitoring.py), pages by
e-mail and webhook; the service comes back and both say it is resolved. And under a stack.sh installation
the servers themselves are watched (postgres_exporter, RabbitMQ's plugin, node_exporter)."""
import email
import email.header
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from shared import monitoring
from tests.integration.conftest import SmtpServer
from tests.support import ROOT, Infrastructure, ServiceProcess, free_port, service_env, wait_until

SERVICE = "notifications"


class Webhook:
    """An HTTP receiver in the test's process: what Alertmanager posts, in order."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notices(self, status: str) -> list[dict]:
        """Each alert of ours in a notification of that status (firing, resolved), with its receiver."""
        return [{**alert["labels"], "receiver": message["receiver"]} for message in self.received
                for alert in message["alerts"] if alert["status"] == status and ours(alert["labels"])]


def ours(labels: dict) -> bool:
    return labels.get("alertname") == "CasetrailServiceDown" and labels.get("service") == SERVICE


def mails(smtp: SmtpServer, word: str) -> list[str]:
    """The subjects of the e-mails about our alert whose subject says `word` (FIRING, RESOLVED)."""
    subjects = [str(email.header.make_header(email.header.decode_header(m["Subject"]))) for m in smtp.messages()]
    return [s for s in subjects if word in s and "CasetrailServiceDown" in s and SERVICE in s]


def daemon(folder: Path, name: str, command: list[str], ready: str) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(folder / f"{name}.log", "wb"))

    def answers() -> bool:
        assert process.poll() is None, (folder / f"{name}.log").read_text()[-2000:]
        try:
            return requests.get(ready, timeout=1).status_code == 200
        except requests.RequestException:
            return False
    wait_until(answers, timeout=30, what=f"{name} ready")
    return process


@pytest.fixture
def service(test_env):
    """A notifications instance of this test's own (the session's services keep running for other tests)."""
    process = ServiceProcess(SERVICE, service_env(test_env), Path(test_env["LOG_DIR"]), instance="-alerting")
    try:
        yield process.start()
    finally:
        process.stop()


def test_a_service_down_pages_by_email_and_webhook_then_both_hear_it_resolved(service, tmp_path):
    smtp, webhook = SmtpServer(tmp_path / "maildir").start(), Webhook()
    running: list[subprocess.Popen] = []
    try:
        url_file = tmp_path / "webhook-url"
        url_file.write_text(webhook.url)
        # Seconds, not the minutes an installation waits: the same routing tree.
        monitoring.main(["alertmanager", "--out", str(tmp_path / "alertmanager.yml"), "--email-to", "oncall@localhost",
                         "--email-from", "casetrail-alerts@localhost", "--smarthost", f"127.0.0.1:{smtp.port}",
                         "--webhook-url-file", str(url_file), "--group-wait", "1s", "--group-interval", "1s"])
        am_port = free_port()
        running.append(daemon(tmp_path, "alertmanager", [
            "/usr/bin/prometheus-alertmanager", f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address="], f"http://127.0.0.1:{am_port}/-/ready"))

        # The real rules, each `for:` shortened to 1 s so that the test waits seconds.
        rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
        for group in rules["groups"]:
            for rule in group["rules"]:
                rule["for"] = "1s"
        (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp_path / "alerts.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "casetrail", "static_configs": [
                {"targets": [f"127.0.0.1:{service.port}"], "labels": {"service": SERVICE}}]}]}))
        prometheus = f"http://127.0.0.1:{free_port()}"
        running.append(daemon(tmp_path, "prometheus", [
            "/usr/bin/prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address={prometheus[7:]}"],
            f"{prometheus}/-/ready"))

        def up() -> list[str]:
            answer = requests.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="casetrail"}'}, timeout=5)
            return [r["value"][1] for r in answer.json()["data"]["result"]]
        wait_until(lambda: up() == ["1"], what="the service scraped and up")
        assert not webhook.notices("firing") and not mails(smtp, "FIRING")  # nothing while it answers

        service.kill()
        wait_until(lambda: webhook.notices("firing"), timeout=30, what="the page at the webhook")
        assert {n["receiver"] for n in webhook.notices("firing")} == {"page"}
        assert webhook.notices("firing")[0]["severity"] == "critical"
        wait_until(lambda: mails(smtp, "FIRING"), timeout=30, what="the page by e-mail")

        service.start()
        wait_until(lambda: webhook.notices("resolved"), timeout=30, what="the resolved notice at the webhook")
        wait_until(lambda: mails(smtp, "RESOLVED"), timeout=30, what="the resolved notice by e-mail")
    finally:
        for process in running:
            process.terminate()
            process.wait(timeout=20)
        smtp.stop()
        webhook.server.shutdown()


def test_a_stack_installation_watches_postgresql_rabbitmq_and_the_machine(tmp_path):
    """scripts/stack.sh on a run folder and ports of its own: the exporters and Prometheus it starts, and
    the targets Prometheus sees up under the job names the alert rules use."""
    infra = Infrastructure(tmp_path / "run")
    try:
        infra("infra-start")
        infra("monitoring-start")
        prometheus = f"http://127.0.0.1:{infra.env['PROMETHEUS_PORT']}"

        def healthy() -> dict[str, str]:
            targets = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return {t["labels"]["job"]: t["health"] for t in targets if t["labels"]["job"] != "casetrail"}
        # The committed config scrapes every 15 s: the first scrape of each comes within that.
        wait_until(lambda: healthy() == {"postgres": "up", "rabbitmq": "up", "rabbitmq_queues": "up", "node": "up"},
                   timeout=40, interval=1, what="postgres, rabbitmq (both paths) and node up in Prometheus")
        for metric in ("pg_up", "pg_settings_max_connections", "rabbitmq_alarms_memory_used_watermark",
                       "node_filesystem_avail_bytes"):
            answer = requests.get(f"{prometheus}/api/v1/query", params={"query": metric}, timeout=5).json()
            assert answer["data"]["result"], metric
        answer = requests.get(f"{prometheus}/api/v1/query", params={"query": "pg_up"}, timeout=5).json()
        assert answer["data"]["result"][0]["value"][1] == "1"  # logged in as casetrail_monitoring
        alertmanagers = requests.get(f"{prometheus}/api/v1/alertmanagers", timeout=5).json()["data"]
        assert [a["url"] for a in alertmanagers["activeAlertmanagers"]] == [
            f"http://127.0.0.1:{infra.env['ALERTMANAGER_PORT']}/api/v2/alerts"]
        assert (infra.run_dir / "alertmanager" / "alertmanager.yml").stat().st_mode & 0o777 == 0o600
        status = infra("status")
        assert all(f"{m}: running" in status for m in ("postgres-exporter", "node-exporter", "alertmanager",
                                                        "prometheus"))
    finally:
        infra("monitoring-stop")
        infra("infra-stop")
    assert "running" not in "".join(line for line in infra("status").splitlines() if not line.startswith(
        ("cases", "referrals", "approvals", "notifications", "gateway")))
