"""Deployment files are checked by the tools that read them."""
import subprocess
from pathlib import Path

import compose
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "service.py").exists())


def compose_config() -> dict:
    """docker-compose.yml as docker compose itself reads it (anchors and merges resolved)."""
    binary = Path(compose.__file__).parent / "docker-compose"
    result = subprocess.run([str(binary), "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
                            capture_output=True, text=True, env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_file_is_valid_and_runs_every_service():
    config = compose_config()
    assert set(SERVICES) <= set(config["services"])
    assert all(config["services"][s]["environment"]["SERVICE"] == s for s in SERVICES)
    published = config["services"]["gateway"]["ports"]
    assert all(p["host_ip"] == "127.0.0.1" for p in published)


def test_prometheus_scrapes_every_service():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    labelled = {t["labels"]["service"] for job in config["scrape_configs"] if job["job_name"] == "casetrail"
                for t in job["static_configs"]}
    assert labelled == set(SERVICES)
    # and the servers under them, by the job names the alert rules use
    assert {"postgres", "rabbitmq", "node"} <= {job["job_name"] for job in config["scrape_configs"]}


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=ROOT / "deploy/prometheus", capture_output=True, text=True)


def test_prometheus_configs_and_alert_rules_pass_promtool():
    for config in ("prometheus.yml", "compose.yml"):
        checked = promtool("check", "config", config)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_alerts_fire_when_they_should_and_not_otherwise():
    """deploy/prometheus/tests/alerts_test.yml: a service down, an approval waiting 48 h, a quarantined event,
    an outbox falling behind (and a projection whose lag comes and goes, which must not alert)."""
    tested = promtool("test", "rules", "tests/alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_the_operations_issue_names_exists():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"CasetrailOverdueFollowUpsRising", "CasetrailApprovalsPendingTooLong", "CasetrailOutboxLagGrowing",
            "CasetrailConsumerLagGrowing", "CasetrailEventsQuarantined", "CasetrailServiceDown"} <= names


def test_compose_runs_prometheus_and_grafana_on_loopback_with_the_repository_configs():
    services = compose_config()["services"]
    for name in ("prometheus", "grafana"):
        assert all(p["host_ip"] == "127.0.0.1" for p in services[name]["ports"]), name
    mounted = {v["source"] for v in services["grafana"]["volumes"]}
    assert {str(ROOT / "deploy/grafana/provisioning"), str(ROOT / "deploy/grafana/dashboards")} <= mounted
    assert all("healthcheck" in services[s] for s in SERVICES)
