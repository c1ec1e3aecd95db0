"""Deployment files are checked by the tools that read them."""
import re
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
    labelled = {t["labels"]["service"] for job in config["scrape_configs"] for t in job["static_configs"]}
    assert labelled == set(SERVICES)


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
    an outbox falling behind (and a projection whose lag comes and goes, which must not alert);
    infrastructure_test.yml: a service's pods all gone, command faults (not refusals), PostgreSQL's connections
    and replication, disks filling, RabbitMQ's alarms and queues, certificates expiring, exporters missing."""
    tested = promtool("test", "rules", "tests/alerts_test.yml", "tests/infrastructure_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_the_operations_issue_names_exists():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"CasetrailOverdueFollowUpsRising", "CasetrailApprovalsPendingTooLong", "CasetrailOutboxLagGrowing",
            "CasetrailConsumerLagGrowing", "CasetrailEventsQuarantined", "CasetrailServiceDown"} <= names


def test_every_alert_is_tested_and_carries_what_an_operator_needs():
    rules = [rule for group in yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
             for rule in group["rules"]]
    tested = {case["alertname"] for name in ("alerts_test.yml", "infrastructure_test.yml")
              for test in yaml.safe_load((ROOT / "deploy/prometheus/tests" / name).read_text())["tests"]
              for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    infrastructure = {rule["alert"] for rule in rules
                      if rule["alert"] not in {"CasetrailDatabaseUnreachable", "CasetrailGatewayErrors",
                                               "CasetrailRpcErrors", "CasetrailConsumerLagGrowing",
                                               "CasetrailFollowerFailing", "CasetrailOverdueFollowUpsRising"}}
    assert infrastructure <= tested, infrastructure - tested  # the older alerts above predate this rule
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_missing_services_alert_in_kubernetes_but_not_where_every_service_is_configured():
    """absent() fires when no target of a service is left, which under `make up`/compose (static targets) never
    happens: every service the rules look for is one those configs scrape."""
    rule = next(r for g in yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
                for r in g["rules"] if r["alert"] == "CasetrailServiceMissing")
    assert set(re.findall(r'absent\(up\{job="casetrail", service="(\w+)"\}\)', rule["expr"])) == set(SERVICES)


def test_compose_runs_prometheus_and_grafana_on_loopback_with_the_repository_configs():
    services = compose_config()["services"]
    for name in ("prometheus", "grafana"):
        assert all(p["host_ip"] == "127.0.0.1" for p in services[name]["ports"]), name
    mounted = {v["source"] for v in services["grafana"]["volumes"]}
    assert {str(ROOT / "deploy/grafana/provisioning"), str(ROOT / "deploy/grafana/dashboards")} <= mounted
    assert all("healthcheck" in services[s] for s in SERVICES)
